//! Everything the Windows transport can fail with, one variant per failure. SMB
//! and RPC errors stay attached as the source; the runner asks only for the class.

use std::io;
use std::time::Duration;

use super::logon::Unready;
use super::rpc::{RpcError, win32_name};
use super::smb::ccache::CcacheError;
use super::smb::kerberos::KerberosError;
use super::smb::keytab::KeytabError;
use super::smb::{SmbError, krb_error, status};
use crate::transport::ErrorClass;
pub use crate::transport::net::DialError;

/// What a closed SMB port usually means.
pub const SMB_REFUSED: &str = "is File and Printer Sharing on, and SMB allowed through the firewall?";

#[derive(Debug, thiserror::Error)]
pub enum WindowsError {
    #[error(transparent)]
    Dial(#[from] DialError),
    #[error("SMB negotiation failed: connection lost: {source}")]
    NegotiationLost {
        #[source]
        source: io::Error,
    },
    #[error("SMB negotiation failed: {source}")]
    Negotiation {
        #[source]
        source: SmbError,
    },
    #[error("connection lost: {source}")]
    ConnectionLost {
        #[source]
        source: io::Error,
    },
    /// The session or a share needs encryption that cannot be had (`source` says which).
    #[error("{source}")]
    Encryption {
        #[source]
        source: SmbError,
    },
    /// An answer was unsigned, badly signed or failed decryption after logon.
    #[error("{source}")]
    Tampering {
        #[source]
        source: SmbError,
    },
    /// An RPC answer on a binding at packet privacy was unsigned or badly signed.
    #[error("{source}")]
    RpcTampering {
        #[source]
        source: RpcError,
    },
    #[error("the host answered something SMB does not allow: {source}")]
    SmbProtocol {
        #[source]
        source: SmbError,
    },
    /// A logon refused for a reason that is not about the account.
    #[error("SMB logon failed: {}", logon_failure(.source))]
    Logon {
        #[source]
        source: SmbError,
    },

    /// Several causes look alike from the network; the message names them all.
    #[error(
        "access denied to {what} for {user}: the usual causes are that the account is not an administrator \
         of the host; that it is a local account other than the built-in Administrator, whose network logons \
         remote UAC filters down to a standard user (LocalAccountTokenFilterPolicy=1 on the host lifts that); \
         or that the share's or the Service Control Manager's permissions leave it out"
    )]
    AccessDenied { what: &'static str, user: String },
    #[error("the host has no ADMIN$ share (administrative shares are turned off: AutoShareWks=0?)")]
    NoAdminShare {
        #[source]
        source: SmbError,
    },
    #[error("cannot connect to the host's {share} share: {source}")]
    Share {
        share: &'static str,
        #[source]
        source: SmbError,
    },
    #[error("the host's disk is full (STATUS_DISK_FULL)")]
    DiskFull {
        #[source]
        source: SmbError,
    },
    #[error("no staging directory was prepared")]
    NotPrepared,
    #[error("the system gave no random numbers to name the staging directory with")]
    NoRandomness,
    #[error("no service name was prepared")]
    NoServiceName,
    #[error("ADMIN$\\{dir} already exists on the host")]
    StagingCollision { dir: String },
    #[error(
        "cannot create ADMIN$\\{dir} on the host, open only to SYSTEM and Administrators: {source}; \
         pushinst stages nowhere less protected"
    )]
    StagingDir {
        dir: String,
        #[source]
        source: SmbError,
    },
    #[error("upload of ADMIN$\\{path} failed: {source}")]
    Upload {
        path: String,
        #[source]
        source: SmbError,
    },
    #[error("{path} is {size} bytes on the host, {sent} were sent")]
    UploadSizeMismatch { path: String, size: u64, sent: u64 },
    #[error("the argument {arg:?} contains {reason}, which a Windows command line cannot carry safely")]
    UnquotableArgument { arg: String, reason: &'static str },
    /// STATUS_VIRUS_INFECTED or STATUS_VIRUS_DELETED while writing a file.
    #[error(
        "antivirus on the host took the installer as it was copied to ADMIN$\\{path} ({}): \
         add an exclusion for it there, or sign it",
        status::virus_name(*.status)
    )]
    VirusDetected { path: String, status: u32 },
    #[error("cannot delete {path} (still in use?): {source}")]
    DeleteInUse {
        path: String,
        #[source]
        source: SmbError,
    },
    #[error("ADMIN$\\{path} holds more than {limit} files and folders; pushinst stopped removing it")]
    CleanupTooLarge { path: String, limit: usize },
    #[error("cannot remove ADMIN$\\{path}: {source}")]
    Cleanup {
        path: String,
        #[source]
        source: SmbError,
    },

    #[error("cannot open \\PIPE\\{pipe} on the host: {source}")]
    Pipe {
        pipe: &'static str,
        #[source]
        source: SmbError,
    },
    #[error("the host's \\PIPE\\{pipe} would not bind the RPC interface: {source}")]
    RpcBind {
        pipe: &'static str,
        #[source]
        source: RpcError,
    },
    #[error("cannot open the host's Service Control Manager: {source}")]
    ScmOpen {
        #[source]
        source: RpcError,
    },
    #[error(
        "a service named {service} already exists on the host; pushinst never touches a service it did not create"
    )]
    ServiceExists { service: String },
    #[error("the host's Service Control Manager would not create a service: {source}")]
    ServiceCreate {
        #[source]
        source: RpcError,
    },
    #[error("the service {service} could not be started: {source}")]
    ServiceStart {
        service: String,
        #[source]
        source: RpcError,
    },
    #[error("the service did not start: {}", win32_name(*.code))]
    ServiceNotStarted { service: String, code: u32 },
    #[error("cannot open service {service} to delete it: {source}")]
    ServiceOpen {
        service: String,
        #[source]
        source: RpcError,
    },
    #[error("service {service} could not be deleted: {source}")]
    ServiceDelete {
        service: String,
        #[source]
        source: RpcError,
    },
    #[error("the host's Task Scheduler would not register a task: {source}")]
    TaskRegister {
        #[source]
        source: RpcError,
    },
    #[error("the task {path} did not run: {source}")]
    TaskRun {
        path: String,
        #[source]
        source: RpcError,
    },
    #[error("the task {path} could not be deleted: {source}")]
    TaskDelete {
        path: String,
        #[source]
        source: RpcError,
    },

    #[error("cannot read ADMIN$\\{path}: {source}")]
    ReadResult {
        path: String,
        #[source]
        source: SmbError,
    },
    #[error("the wrapper wrote {text:?} instead of an exit code")]
    GarbageExitCode { text: String },
    #[error(
        "no exit code from the detect check after {}: the service started, but the check never finished or never ran \
         (blocked by an antivirus or EDR?)",
        humantime::format_duration(*.timeout)
    )]
    DetectNoExitCode { timeout: Duration },
    #[error(
        "no answer from the requirement check after {}: the service started, but the check (or the \
         required command) never finished or never ran (blocked by an antivirus or EDR?)",
        humantime::format_duration(*.timeout)
    )]
    FactsNoExitCode { timeout: Duration },
    #[error(
        "no exit code after {}: the service started, but the installer never finished or never ran \
         (blocked by an antivirus or EDR?); it may still be running on the host",
        humantime::format_duration(*.timeout)
    )]
    NoExitCode { timeout: Duration },
    /// The wrapper's first act is to write a marker; nothing wrote it.
    #[error(
        "the installer never started (antivirus or EDR blocking the service is the usual cause): \
         the wrapper wrote no start marker within {}",
        humantime::format_duration(*.start_timeout)
    )]
    NeverStarted { start_timeout: Duration },
    #[error("the reboot was not scheduled: `shutdown` exited with {code}")]
    RebootRefused { code: i32 },
}

impl WindowsError {
    pub fn class(&self) -> ErrorClass {
        match self {
            WindowsError::Dial(_)
            | WindowsError::NegotiationLost { .. }
            | WindowsError::ConnectionLost { .. } => ErrorClass::Connect,
            WindowsError::Negotiation { .. }
            | WindowsError::Encryption { .. }
            | WindowsError::Logon { .. }
            | WindowsError::RpcBind { .. } => ErrorClass::Negotiation,
            WindowsError::SmbProtocol { .. } | WindowsError::GarbageExitCode { .. } => ErrorClass::Protocol,
            WindowsError::Tampering { .. } | WindowsError::RpcTampering { .. } => ErrorClass::Tampering,
            WindowsError::AccessDenied { .. }
            | WindowsError::NoAdminShare { .. }
            | WindowsError::Share { .. }
            | WindowsError::DiskFull { .. }
            | WindowsError::NotPrepared
            | WindowsError::NoRandomness
            | WindowsError::NoServiceName
            | WindowsError::StagingCollision { .. }
            | WindowsError::StagingDir { .. }
            | WindowsError::Upload { .. }
            | WindowsError::UploadSizeMismatch { .. }
            | WindowsError::UnquotableArgument { .. }
            | WindowsError::VirusDetected { .. }
            | WindowsError::DeleteInUse { .. }
            | WindowsError::Cleanup { .. }
            | WindowsError::CleanupTooLarge { .. }
            | WindowsError::Pipe { .. }
            | WindowsError::ScmOpen { .. }
            | WindowsError::ServiceExists { .. }
            | WindowsError::ServiceCreate { .. }
            | WindowsError::ServiceStart { .. }
            | WindowsError::ServiceNotStarted { .. }
            | WindowsError::ServiceOpen { .. }
            | WindowsError::ServiceDelete { .. }
            | WindowsError::TaskRegister { .. }
            | WindowsError::TaskRun { .. }
            | WindowsError::TaskDelete { .. }
            | WindowsError::ReadResult { .. }
            | WindowsError::DetectNoExitCode { .. }
            | WindowsError::FactsNoExitCode { .. }
            // Nothing ran: the installer was never attempted.
            | WindowsError::NeverStarted { .. }
            | WindowsError::RebootRefused { .. }
            // Nobody knows whether the installer ran at all (an EDR that blocks the
            // service leaves exactly this): uncertain, so never an attempt.
            | WindowsError::NoExitCode { .. } => ErrorClass::TargetSetup,
        }
    }
}

/// A refused SESSION_SETUP by its status's name and number, other failures as they are.
fn logon_failure(source: &SmbError) -> String {
    match source {
        // What a server with SPN target name hardening answers when it does not
        // know itself by the name pushinst was given (an alias, an address).
        SmbError::Status {
            status: status::ACCESS_DENIED,
            ..
        } => format!(
            "{}: the host refused the logon itself; with SPN target name hardening \
             (SmbServerNameHardeningLevel) it must know itself by the name pushinst \
             used for it (NTLM target cifs/NAME)",
            status::describe(status::ACCESS_DENIED)
        ),
        SmbError::Status { status: code, .. } => status::describe(*code),
        other => other.to_string(),
    }
}

/// An SMB failure while doing something: a lost connection, a full disk, missing
/// encryption and protocol violations are the same wherever they happen; any other
/// refusal is named by `context`.
pub(super) fn smb_failure(e: SmbError, context: impl FnOnce(SmbError) -> WindowsError) -> WindowsError {
    match e {
        SmbError::Io(source) => WindowsError::ConnectionLost { source },
        source @ SmbError::Status {
            status: status::DISK_FULL,
            ..
        } => WindowsError::DiskFull { source },
        source @ SmbError::Encryption(_) => WindowsError::Encryption { source },
        source @ SmbError::Protocol(_) => WindowsError::SmbProtocol { source },
        source @ SmbError::Tampering { .. } => WindowsError::Tampering { source },
        other @ SmbError::Status { .. } => context(other),
    }
}

/// An RPC failure: the pipe under it failing is an SMB failure like any other.
pub(super) fn rpc_failure(e: RpcError, context: impl FnOnce(RpcError) -> WindowsError) -> WindowsError {
    match e {
        RpcError::Transport(smb) => smb_failure(smb, |source| context(RpcError::Transport(source))),
        source @ (RpcError::Tampering(_) | RpcError::KerberosMutual { .. }) => {
            WindowsError::RpcTampering { source }
        }
        other @ (RpcError::Protocol(_)
        | RpcError::Fault(_)
        | RpcError::Win32 { .. }
        | RpcError::KerberosTicket(_)
        | RpcError::KerberosRefused { .. }) => context(other),
    }
}

/// A failed Kerberos logon in a sysadmin's words, and whether it is about the
/// account (then no other host should see the same password again this run).
pub fn kerberos_refusal(error: &KerberosError, principal: &str, spn: &str) -> (String, bool) {
    match error {
        KerberosError::KdcUnreachable { kdc, source } => (
            format!(
                "Kerberos: the KDC at {kdc} cannot be reached ({source}): check `kdc` on the credential \
                 (or the realm's kdc in krb5.conf), and that port 88 is open to it"
            ),
            false,
        ),
        KerberosError::Refused { kdc, error } => {
            let code = error.error_code;
            let (words, account) = match code {
                krb_error::PREAUTH_FAILED => (format!("wrong password for {principal}"), true),
                krb_error::C_PRINCIPAL_UNKNOWN => (
                    format!(
                        "unknown principal: the KDC at {kdc} has no account {principal} (check the user name and the realm)"
                    ),
                    true,
                ),
                krb_error::CLIENT_REVOKED => (
                    format!(
                        "the account {principal} is disabled or locked out: enable or unlock it, or use another"
                    ),
                    true,
                ),
                krb_error::KEY_EXPIRED => (
                    format!("the password of {principal} has expired: set a new one"),
                    true,
                ),
                krb_error::S_PRINCIPAL_UNKNOWN => (
                    format!(
                        "no SPN {spn} in the domain: the host's name is not one the domain knows it by \
                         (name the host by its DNS name as registered in the domain)"
                    ),
                    false,
                ),
                krb_error::SKEW => {
                    let offset = error.stime.map(|stime| {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs() as i64)
                            .unwrap_or(0);
                        now - stime
                    });
                    let clock = match offset {
                        Some(s) if s >= 0 => {
                            format!("this machine's clock is {} ahead of", span(s.unsigned_abs()))
                        }
                        Some(s) => format!("this machine's clock is {} behind", span(s.unsigned_abs())),
                        None => "this machine's clock differs from".into(),
                    };
                    (
                        format!(
                            "clock skew: {clock} the clock of the KDC at {kdc}, more than the domain allows \
                             (5 minutes by default): synchronise this machine's clock with the domain's (NTP)"
                        ),
                        false,
                    )
                }
                krb_error::WRONG_REALM => (
                    format!(
                        "the KDC at {kdc} is not for the realm of {principal}: check the realm and `kdc`"
                    ),
                    false,
                ),
                _ => (
                    format!("the KDC at {kdc} refused the logon of {principal}"),
                    false,
                ),
            };
            (format!("Kerberos: {words} (KRB-ERROR {code})"), account)
        }
        KerberosError::Keytab(e) => (
            match e {
                KeytabError::NoKey { path, found, .. } => format!(
                    "Kerberos: the keytab {} holds no AES key for {principal} (it holds: {found}): \
                     export the user's keys (`samba-tool domain exportkeytab FILE --principal=USER`, \
                     or `ktpass` on Windows) or name the user the keytab is for",
                    path.display()
                ),
                KeytabError::Read { path, source } => format!(
                    "Kerberos: cannot read the keytab {} ({source}): check the path and its permissions",
                    path.display()
                ),
                KeytabError::TooLarge { path, size } => format!(
                    "Kerberos: {} is {size} bytes, far more than a keytab: name the keytab file itself",
                    path.display()
                ),
                KeytabError::Malformed { path } => format!(
                    "Kerberos: {} is not a keytab (MIT format 0x502, as ktutil, ktpass and \
                     samba-tool domain exportkeytab write it)",
                    path.display()
                ),
            },
            true,
        ),
        KerberosError::TicketCache(e) => (
            match e {
                CcacheError::Expired { path, ago_s, .. } => format!(
                    "Kerberos: the TGT of {principal} in the ticket cache {} expired {} ago: \
                     run `kinit {principal}` again",
                    path.display(),
                    span(*ago_s)
                ),
                CcacheError::NoTgt { path, found, .. } => format!(
                    "Kerberos: the ticket cache {} holds no TGT for {principal} (it holds: {found}): \
                     run `kinit {principal}`, or name the user the cache is for",
                    path.display()
                ),
                CcacheError::Read { path, source } => format!(
                    "Kerberos: cannot read the ticket cache {} ({source}): run `kinit {principal}`, \
                     and check KRB5CCNAME",
                    path.display()
                ),
                CcacheError::TooLarge { path, size } => format!(
                    "Kerberos: {} is {size} bytes, far more than a ticket cache: check KRB5CCNAME",
                    path.display()
                ),
                CcacheError::Malformed { path } => format!(
                    "Kerberos: {} is not a ticket cache (MIT FILE: format, as kinit writes it): \
                     check KRB5CCNAME",
                    path.display()
                ),
                CcacheError::Unsupported { kind } => format!(
                    "Kerberos: KRB5CCNAME names a {kind}: ticket cache, and pushinst reads only FILE: caches: \
                     `export KRB5CCNAME=FILE:/tmp/krb5cc_pushinst`, then kinit"
                ),
            },
            true,
        ),
        KerberosError::NotRenewable { path } => (
            format!(
                "Kerberos: the TGT of {principal} in the ticket cache {} is not renewable, and \
                 pushinst asks for renewable service tickets, which a KDC grants only from a \
                 renewable TGT: run `kinit -r 7d {principal}`",
                path.display()
            ),
            true,
        ),
        KerberosError::FromCache(e) => (
            format!(
                "Kerberos: the TGT of {principal} in the ticket cache cannot be used: {e}; \
                 get an AES ticket (`kinit -e aes256-cts {principal}`) or give the credential a password"
            ),
            true,
        ),
        KerberosError::Exchange(_) => (
            format!(
                "Kerberos: the logon of {principal} to {spn} failed in the exchange (run with -v for details)"
            ),
            false,
        ),
    }
}

/// Why Kerberos could not be tried for a host, in a sysadmin's words.
/// A clock difference as people say it: `45 s`, `12m 5s`, `1h 0m`, `3d 4h`.
fn span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86400, secs % 86400 / 3600),
    }
}

pub fn kerberos_unready(unready: &Unready) -> String {
    match unready {
        Unready::HostByAddress { address, reverse } => format!(
            "Kerberos needs the host's DNS name for its SPN (cifs/<name>), and {address} is known only by its address \
             (reverse DNS: {reverse}): write it as [[hosts]] name = \"<its FQDN>\", address = \"{address}\""
        ),
        Unready::RealmUnknown { user } => format!(
            "Kerberos: no realm for {user}: write the user as user@REALM, or set `realm` on the credential"
        ),
        Unready::KdcUnknown {
            realm,
            config,
            asked,
            dns,
        } => format!(
            "Kerberos: no KDC known for the realm {realm}: the credential sets no `kdc`, {config} names none \
             for the realm, and DNS was asked for the SRV record {asked} ({dns}): set `kdc` on the credential, \
             or the realm's kdc in {config} (KRB5_CONFIG names another file)"
        ),
        // Logons ask DNS; only a plan defers it.
        Unready::Deferred { asked } => format!("Kerberos: DNS was not asked for {asked}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::windows::{ExecMethod, WindowsConnector, WindowsOptions};
    use crate::transport::{Connector, Endpoint, TransportError};

    fn status(status: u32) -> SmbError {
        SmbError::Status {
            what: "create".into(),
            status,
        }
    }

    #[test]
    fn each_failure_names_its_class() {
        let cases = [
            (
                WindowsError::Dial(DialError::Refused {
                    address: "h".into(),
                    port: 445,
                    hint: SMB_REFUSED,
                }),
                ErrorClass::Connect,
            ),
            (
                WindowsError::NegotiationLost {
                    source: io::Error::from(io::ErrorKind::UnexpectedEof),
                },
                ErrorClass::Connect,
            ),
            (
                WindowsError::Negotiation {
                    source: SmbError::Protocol("dialect".into()),
                },
                ErrorClass::Negotiation,
            ),
            (
                WindowsError::Encryption {
                    source: SmbError::Encryption("no cipher".into()),
                },
                ErrorClass::Negotiation,
            ),
            (
                WindowsError::AccessDenied {
                    what: "ADMIN$",
                    user: "u".into(),
                },
                ErrorClass::TargetSetup,
            ),
            (
                WindowsError::NoAdminShare {
                    source: status(status::BAD_NETWORK_NAME),
                },
                ErrorClass::TargetSetup,
            ),
            (
                WindowsError::ServiceCreate {
                    source: RpcError::Fault(0x1c01_0002),
                },
                ErrorClass::TargetSetup,
            ),
            (
                WindowsError::GarbageExitCode { text: "x".into() },
                ErrorClass::Protocol,
            ),
            (
                WindowsError::NoExitCode {
                    timeout: Duration::from_secs(2),
                },
                ErrorClass::TargetSetup,
            ),
            (
                WindowsError::DetectNoExitCode {
                    timeout: Duration::from_secs(2),
                },
                ErrorClass::TargetSetup,
            ),
        ];
        for (error, class) in cases {
            assert_eq!(error.class(), class, "{error:?}");
            assert_eq!(TransportError::from(error).class(), class);
        }
    }

    #[test]
    fn access_denied_names_the_usual_causes_without_asserting_one() {
        let text = WindowsError::AccessDenied {
            what: "ADMIN$",
            user: r".\deploy".into(),
        }
        .to_string();
        for cause in [
            "not an administrator",
            "local account other than the built-in Administrator",
            "LocalAccountTokenFilterPolicy",
            "permissions",
        ] {
            assert!(text.contains(cause), "{text}");
        }
        assert!(!text.contains("UAC filtered"), "{text}");
    }

    #[test]
    fn kerberos_refusals_are_named_with_what_to_do() {
        use crate::transport::windows::smb::krb_error::KrbError;
        let refused = |error_code, stime| KerberosError::Refused {
            kdc: "10.0.0.1".into(),
            error: KrbError { error_code, stime },
        };
        let (text, account) = kerberos_refusal(&refused(24, None), "u@R", "cifs/h");
        assert_eq!(text, "Kerberos: wrong password for u@R (KRB-ERROR 24)");
        assert!(account);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (text, account) = kerberos_refusal(&refused(37, Some(now + 600)), "u@R", "cifs/h");
        assert!(text.contains("clock skew"), "{text}");
        // 10m 0s, or 9m 59s when a second passed in between.
        assert!(
            text.contains("this machine's clock is 10m 0s behind the clock of the KDC at 10.0.0.1")
                || text.contains("is 9m 59s behind"),
            "{text}"
        );
        let (text, _) = kerberos_refusal(&refused(37, Some(now - 3600)), "u@R", "cifs/h");
        assert!(text.contains("is 1h 0m ahead of the clock of the KDC"), "{text}");
        assert_eq!(span(45), "45 s");
        assert_eq!(span(2 * 86400 + 7300), "2d 2h");
        assert!(!account);
        let (text, _) = kerberos_refusal(&refused(7, None), "u@R", "cifs/h");
        assert!(text.contains("no SPN cifs/h"), "{text}");
    }

    #[test]
    fn an_unexplained_logon_status_shows_name_and_number() {
        let e = WindowsError::Logon {
            source: SmbError::Status {
                what: "logon".into(),
                status: 0xC000_000D,
            },
        };
        assert_eq!(
            e.to_string(),
            "SMB logon failed: STATUS_INVALID_PARAMETER (0xC000000D)"
        );
        let e = WindowsError::Logon {
            source: SmbError::Status {
                what: "logon".into(),
                status: 0xC0AB_0001,
            },
        };
        assert_eq!(e.to_string(), "SMB logon failed: NTSTATUS 0xC0AB0001");
        let e = WindowsError::Logon {
            source: SmbError::Status {
                what: "logon".into(),
                status: status::ACCESS_DENIED,
            },
        };
        assert!(e.to_string().contains("SmbServerNameHardeningLevel"), "{e}");
    }

    #[test]
    fn smb_failures_are_sorted_by_type_not_text() {
        let context = |source| WindowsError::Upload {
            path: "p".into(),
            source,
        };
        let lost = smb_failure(
            SmbError::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
            context,
        );
        assert_eq!(lost.class(), ErrorClass::Connect);
        let full = smb_failure(status(status::DISK_FULL), context);
        assert!(matches!(full, WindowsError::DiskFull { .. }), "{full:?}");
        assert_eq!(full.to_string(), "the host's disk is full (STATUS_DISK_FULL)");
        let denied = smb_failure(status(status::ACCESS_DENIED), context);
        assert!(matches!(denied, WindowsError::Upload { .. }), "{denied:?}");
        let piped = rpc_failure(
            RpcError::Transport(SmbError::Io(io::Error::from(io::ErrorKind::BrokenPipe))),
            |source| WindowsError::ServiceCreate { source },
        );
        assert!(matches!(piped, WindowsError::ConnectionLost { .. }), "{piped:?}");
    }

    #[tokio::test]
    async fn an_unresolvable_name_is_a_resolve_failure() {
        let connector = WindowsConnector::new(WindowsOptions {
            protection: Default::default(),
            method: ExecMethod::Service,
            poll: Duration::from_millis(100),
            start_timeout: Duration::from_secs(60),
        });
        let endpoint = Endpoint {
            name: "nonexistent.invalid".into(),
            address: "nonexistent.invalid".into(),
            port: 445,
        };
        let e = match connector.connect(&endpoint).await {
            Ok(_) => panic!("nonexistent.invalid should not connect"),
            Err(e) => e,
        };
        assert!(
            matches!(&e, TransportError::Windows(WindowsError::Dial(DialError::Resolve { address, .. })) if address == "nonexistent.invalid"),
            "{e:?}"
        );
        assert_eq!(e.class(), ErrorClass::Connect);
    }
}
