//! NTSTATUS codes an SMB server answers with, by name, as admins search for them.

pub const SUCCESS: u32 = 0x0000_0000;
pub const PENDING: u32 = 0x0000_0103;
pub const BUFFER_OVERFLOW: u32 = 0x8000_0005;
pub const NO_MORE_FILES: u32 = 0x8000_0006;
pub const NO_SUCH_FILE: u32 = 0xC000_000F;
pub const END_OF_FILE: u32 = 0xC000_0011;
pub const MORE_PROCESSING_REQUIRED: u32 = 0xC000_0016;
pub const ACCESS_DENIED: u32 = 0xC000_0022;
pub const OBJECT_NAME_NOT_FOUND: u32 = 0xC000_0034;
pub const OBJECT_NAME_COLLISION: u32 = 0xC000_0035;
pub const OBJECT_PATH_NOT_FOUND: u32 = 0xC000_003A;
pub const LOGON_FAILURE: u32 = 0xC000_006D;
pub const DISK_FULL: u32 = 0xC000_007F;
pub const BAD_NETWORK_NAME: u32 = 0xC000_00CC;
pub const FILE_IS_A_DIRECTORY: u32 = 0xC000_00BA;
pub const NOT_SUPPORTED: u32 = 0xC000_00BB;
pub const INVALID_DEVICE_REQUEST: u32 = 0xC000_0010;

const NAMES: &[(u32, &str)] = &[
    (SUCCESS, "STATUS_SUCCESS"),
    (PENDING, "STATUS_PENDING"),
    (BUFFER_OVERFLOW, "STATUS_BUFFER_OVERFLOW"),
    (NO_SUCH_FILE, "STATUS_NO_SUCH_FILE"),
    (END_OF_FILE, "STATUS_END_OF_FILE"),
    (MORE_PROCESSING_REQUIRED, "STATUS_MORE_PROCESSING_REQUIRED"),
    (ACCESS_DENIED, "STATUS_ACCESS_DENIED"),
    (OBJECT_NAME_NOT_FOUND, "STATUS_OBJECT_NAME_NOT_FOUND"),
    (OBJECT_NAME_COLLISION, "STATUS_OBJECT_NAME_COLLISION"),
    (OBJECT_PATH_NOT_FOUND, "STATUS_OBJECT_PATH_NOT_FOUND"),
    (LOGON_FAILURE, "STATUS_LOGON_FAILURE"),
    (DISK_FULL, "STATUS_DISK_FULL"),
    (BAD_NETWORK_NAME, "STATUS_BAD_NETWORK_NAME"),
    (FILE_IS_A_DIRECTORY, "STATUS_FILE_IS_A_DIRECTORY"),
    (0xC000_0043, "STATUS_SHARING_VIOLATION"),
    (0xC000_0064, "STATUS_NO_SUCH_USER"),
    (0xC000_006E, "STATUS_ACCOUNT_RESTRICTION"),
    (0xC000_0071, "STATUS_PASSWORD_EXPIRED"),
    (0xC000_0072, "STATUS_ACCOUNT_DISABLED"),
    (NOT_SUPPORTED, "STATUS_NOT_SUPPORTED"),
    (INVALID_DEVICE_REQUEST, "STATUS_INVALID_DEVICE_REQUEST"),
    (0xC000_00B0, "STATUS_PIPE_DISCONNECTED"),
    (0xC000_00AE, "STATUS_PIPE_BUSY"),
    (0xC000_0101, "STATUS_DIRECTORY_NOT_EMPTY"),
    (0xC000_0203, "STATUS_USER_SESSION_DELETED"),
    (0xC000_0234, "STATUS_ACCOUNT_LOCKED_OUT"),
    (0xC000_035C, "STATUS_NETWORK_SESSION_EXPIRED"),
    (0xC000_0022, "STATUS_ACCESS_DENIED"),
];

pub fn name(status: u32) -> String {
    NAMES
        .iter()
        .find(|(code, _)| *code == status)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| format!("NTSTATUS 0x{status:08X}"))
}

/// The file or directory is not there (servers differ in which code they use).
pub fn is_missing(status: u32) -> bool {
    matches!(
        status,
        NO_SUCH_FILE | OBJECT_NAME_NOT_FOUND | OBJECT_PATH_NOT_FOUND
    )
}

/// A logon the server refused for the account itself (the next credential may work).
pub fn is_logon_refusal(status: u32) -> bool {
    matches!(
        status,
        LOGON_FAILURE | 0xC000_0064 | 0xC000_006E | 0xC000_0071 | 0xC000_0072 | 0xC000_0234
    )
}

/// Antivirus on the server took the file being written (quarantined or deleted it).
pub const VIRUS_INFECTED: u32 = 0xC000_0906;
pub const VIRUS_DELETED: u32 = 0xC000_0907;

/// The name of an antivirus verdict, for messages.
pub fn virus_name(status: u32) -> &'static str {
    match status {
        VIRUS_DELETED => "STATUS_VIRUS_DELETED",
        _ => "STATUS_VIRUS_INFECTED",
    }
}
