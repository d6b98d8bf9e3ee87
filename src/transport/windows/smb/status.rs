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
pub const NO_SUCH_USER: u32 = 0xC000_0064;
pub const WRONG_PASSWORD: u32 = 0xC000_006A;
pub const ACCOUNT_RESTRICTION: u32 = 0xC000_006E;
pub const INVALID_LOGON_HOURS: u32 = 0xC000_006F;
pub const INVALID_WORKSTATION: u32 = 0xC000_0070;
pub const PASSWORD_EXPIRED: u32 = 0xC000_0071;
pub const ACCOUNT_DISABLED: u32 = 0xC000_0072;
pub const LOGON_TYPE_NOT_GRANTED: u32 = 0xC000_015B;
pub const ACCOUNT_EXPIRED: u32 = 0xC000_0193;
pub const PASSWORD_MUST_CHANGE: u32 = 0xC000_0224;
pub const ACCOUNT_LOCKED_OUT: u32 = 0xC000_0234;
pub const AUTHENTICATION_FIREWALL_FAILED: u32 = 0xC000_0413;
pub const NTLM_BLOCKED: u32 = 0xC000_0418;
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
    (NO_SUCH_USER, "STATUS_NO_SUCH_USER"),
    (WRONG_PASSWORD, "STATUS_WRONG_PASSWORD"),
    (ACCOUNT_RESTRICTION, "STATUS_ACCOUNT_RESTRICTION"),
    (INVALID_LOGON_HOURS, "STATUS_INVALID_LOGON_HOURS"),
    (INVALID_WORKSTATION, "STATUS_INVALID_WORKSTATION"),
    (PASSWORD_EXPIRED, "STATUS_PASSWORD_EXPIRED"),
    (ACCOUNT_DISABLED, "STATUS_ACCOUNT_DISABLED"),
    (LOGON_TYPE_NOT_GRANTED, "STATUS_LOGON_TYPE_NOT_GRANTED"),
    (ACCOUNT_EXPIRED, "STATUS_ACCOUNT_EXPIRED"),
    (PASSWORD_MUST_CHANGE, "STATUS_PASSWORD_MUST_CHANGE"),
    (
        AUTHENTICATION_FIREWALL_FAILED,
        "STATUS_AUTHENTICATION_FIREWALL_FAILED",
    ),
    (NTLM_BLOCKED, "STATUS_NTLM_BLOCKED"),
    (0xC000_000D, "STATUS_INVALID_PARAMETER"),
    (NOT_SUPPORTED, "STATUS_NOT_SUPPORTED"),
    (INVALID_DEVICE_REQUEST, "STATUS_INVALID_DEVICE_REQUEST"),
    (0xC000_00B0, "STATUS_PIPE_DISCONNECTED"),
    (0xC000_00AE, "STATUS_PIPE_BUSY"),
    (0xC000_0101, "STATUS_DIRECTORY_NOT_EMPTY"),
    (0xC000_0203, "STATUS_USER_SESSION_DELETED"),
    (ACCOUNT_LOCKED_OUT, "STATUS_ACCOUNT_LOCKED_OUT"),
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

/// Its name and number, for a status pushinst has no words for: admins search for both.
pub fn describe(status: u32) -> String {
    match NAMES.iter().find(|(code, _)| *code == status) {
        Some((_, name)) => format!("{name} (0x{status:08X})"),
        None => format!("NTSTATUS 0x{status:08X}"),
    }
}

/// Why the server refused a logon for the account itself, and what to do about
/// it; `None` when the status is not about the account (the next credential
/// would fare no better).
pub fn logon_refusal(status: u32) -> Option<&'static str> {
    Some(match status {
        LOGON_FAILURE | WRONG_PASSWORD => "wrong user name or password",
        NO_SUCH_USER => "no such account on the host or in its domain",
        ACCOUNT_LOCKED_OUT => {
            "the account is locked out after too many bad passwords: wait for the lockout to end or have it unlocked"
        }
        ACCOUNT_DISABLED => "the account is disabled: enable it, or use another",
        ACCOUNT_EXPIRED => "the account has expired: extend its expiry date, or use another",
        PASSWORD_EXPIRED => "the account's password has expired: set a new one",
        PASSWORD_MUST_CHANGE => {
            "the account must change its password at next logon, which a network logon cannot do: \
             set a new password, or clear \"user must change password\""
        }
        INVALID_LOGON_HOURS => "the account may not log on at this hour (its logon hours)",
        INVALID_WORKSTATION => {
            "the account may not log on from this computer (its \"log on to\" list of workstations)"
        }
        LOGON_TYPE_NOT_GRANTED => {
            "the host's policy denies this account network logon (\"access this computer from the network\", \
             or a \"deny access to this computer from the network\" entry)"
        }
        NTLM_BLOCKED => {
            "the domain or the host refuses NTLM logons (network security: restrict NTLM): log on \
             with Kerberos (write the user as user@REALM, or set auth = \"kerberos\" on the credential, \
             with `kdc` or the realm's KDC in krb5.conf)"
        }
        AUTHENTICATION_FIREWALL_FAILED => {
            "the domain's authentication firewall refused the account for this host (selective trust \
             authentication: grant it \"allowed to authenticate\" on the computer object)"
        }
        ACCOUNT_RESTRICTION => {
            "an account restriction refused the logon (a blank password, or membership of protected users)"
        }
        _ => return None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_statuses_carry_name_and_number_unknown_ones_the_number() {
        assert_eq!(describe(NTLM_BLOCKED), "STATUS_NTLM_BLOCKED (0xC0000418)");
        assert_eq!(describe(0xC000_9999), "NTSTATUS 0xC0009999");
    }

    #[test]
    fn every_account_refusal_has_words_and_a_name() {
        for status in [
            LOGON_FAILURE,
            WRONG_PASSWORD,
            NO_SUCH_USER,
            ACCOUNT_LOCKED_OUT,
            ACCOUNT_DISABLED,
            ACCOUNT_EXPIRED,
            PASSWORD_EXPIRED,
            PASSWORD_MUST_CHANGE,
            INVALID_LOGON_HOURS,
            INVALID_WORKSTATION,
            LOGON_TYPE_NOT_GRANTED,
            NTLM_BLOCKED,
            AUTHENTICATION_FIREWALL_FAILED,
            ACCOUNT_RESTRICTION,
        ] {
            let words = logon_refusal(status).unwrap_or_else(|| panic!("{status:#x}"));
            assert!(
                words
                    .chars()
                    .next()
                    .is_some_and(|c| !c.is_uppercase() || words.starts_with("NTLM")),
                "{words}"
            );
            assert!(name(status).starts_with("STATUS_"), "{status:#x}");
        }
        assert_eq!(logon_refusal(ACCESS_DENIED), None);
    }
}
