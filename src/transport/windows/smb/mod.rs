//! A small SMB2/3 client (MS-SMB2): what a push install needs and nothing more.
//! Dialects 2.0.2 to 3.1.1, NTLMv2 or Kerberos logon (kerberos.rs, the exchange
//! itself through `sspi`), signing that is never optional,
//! AES-128/256 GCM/CCM encryption, files on a share, and named-pipe transactions
//! for DCE/RPC. One TCP connection per host carries everything.
//!
//! Everything after logon must be signed or encrypted with the session's keys,
//! whatever the server's NEGOTIATE said: that answer is not signed, so someone on
//! the path could have rewritten it to "signing optional" and then rewrite the
//! installer in flight. For 3.1.1 the pre-authentication hash binds the NEGOTIATE
//! into the keys; for 3.0 and 3.0.2 FSCTL_VALIDATE_NEGOTIATE_INFO checks it.
//!
//! Written here rather than taken from a crate: the `smb` crate pins pre-release
//! cryptography (through `sspi`) that cannot be built together with `russh`.

pub mod ccache;
mod crypto;
pub(crate) mod fuzz;
pub mod kdc_link;
pub mod kerberos;
pub mod keytab;
pub mod krb_error;
mod krb_file;
mod messages;
mod negotiate;
pub(crate) mod ntlm;
pub(crate) mod ntlm_session;
pub(crate) mod rc4;
pub mod security;
pub mod status;
mod wire;

use std::collections::{HashMap, HashSet};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use crypto::{Cipher, OpenError, Preauth, Signer, kdf};
pub use messages::FileId;
use messages::{
    CreateRequest, CreateResponse, IoctlRequest, IoctlResponse, NO_FILE, QueryDirectoryResponse,
    ReadResponse, SessionSetupResponse, TreeConnectResponse, WriteResponse,
};
use negotiate::{
    CAP_ENCRYPTION, CAP_LARGE_MTU, DIALECT_3_0, DIALECT_3_0_2, DIALECT_3_1_1, FSCTL_VALIDATE_NEGOTIATE_INFO,
    NegotiateRequest, NegotiateResponse, SIGNING_ENABLED, SIGNING_REQUIRED, VALIDATE_NEGOTIATE_RESPONSE_LEN,
};
pub use ntlm::Account;
use wire::{Command, FLAG_ASYNC, FLAG_RESPONSE, FLAG_SIGNED, Header, Writer, request_header};

use crate::secrets::Secret;

const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
/// The most pushinst asks for in one READ, WRITE, IOCTL or listing: one credit
/// each, several in flight. The server's own maximum lowers it.
const CHUNK: u32 = 64 * 1024;
const WRITES_IN_FLIGHT: usize = 16;
/// No answer to anything pushinst asks can be larger: a longer frame is refused
/// before a byte of it is allocated.
const MAX_FRAME: usize = CHUNK as usize + 4096;
/// Credits are only a hint for pipelining; a server cannot make the count overflow.
const MAX_CREDITS: u32 = 8192;
/// Entries in one directory listing before pushinst takes it for an attack.
const MAX_LISTING: usize = 100_000;

/// Why a message from the server cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tampering {
    Unsigned,
    BadSignature,
    NotEncrypted,
    FailedIntegrity,
    NegotiationChanged,
}

impl Tampering {
    fn what(self) -> &'static str {
        match self {
            Tampering::Unsigned => "SMB response not signed",
            Tampering::BadSignature => "SMB response carries a bad signature",
            Tampering::NotEncrypted => "SMB response not encrypted on an encrypted session",
            Tampering::FailedIntegrity => "SMB response failed its integrity check",
            Tampering::NegotiationChanged => {
                "the server's answer to the dialect check differs from its NEGOTIATE answer"
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmbError {
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("{what}: {}", status::name(*.status))]
    Status { what: String, status: u32 },
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Encryption(String),
    #[error("{}: possible tampering on the path to {peer}", .kind.what())]
    Tampering { kind: Tampering, peer: String },
}

impl SmbError {
    pub fn status(&self) -> Option<u32> {
        match self {
            SmbError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// `smb_signing`: whether an unsigned answer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Signing {
    /// Every answer after logon, and the logon's final answer, signed or encrypted.
    #[default]
    Required,
    /// Unsigned answers accepted from a server that does not require signing;
    /// signed ones are still checked. Anyone on the path can then change files.
    AllowTampering,
}

/// `smb_encryption`: when the session is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    /// Whenever the server supports SMB 3 encryption.
    #[default]
    WhenSupported,
    /// Refuse a session whose messages are not all encrypted.
    Required,
    /// Only when the server or a share demands it.
    Off,
}

/// How a session protects what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protection {
    pub signing: Signing,
    pub encryption: Encryption,
}

/// A connected share. Cheap to copy: the session connects each share once.
#[derive(Debug, Clone, Copy)]
pub struct Tree(u32);

pub struct Session {
    stream: TcpStream,
    /// The host as the UNC paths name it.
    server: String,
    /// The host as the admin named it, for messages.
    peer: String,
    /// The host name NTLM names as its target (`cifs/<name>`): servers with SPN
    /// hardening compare it with their own names.
    target: String,
    /// Who logged on, kept for the RPC bindings that authenticate again on
    /// their own (the password stays a `Secret`, wiped when the session drops).
    logon: Option<(Account, Secret)>,
    protection: Protection,
    request: NegotiateRequest,
    negotiated: NegotiateResponse,
    /// Whether FSCTL_VALIDATE_NEGOTIATE_INFO still has to run (3.0, 3.0.2).
    validate_pending: bool,
    connection_hash: Preauth,
    next_id: u64,
    /// Requests sent and not yet answered: the only answers accepted.
    in_flight: HashSet<u64>,
    session_id: u64,
    signer: Option<Signer>,
    cipher: Option<Cipher>,
    /// Requests the server currently lets us send (MS-SMB2 3.2.4.1.5).
    credits: u32,
    /// The session's cipher while nothing demands encryption yet.
    standby: Option<Cipher>,
    /// Shares already connected in this session, by name.
    trees: HashMap<String, u32>,
    /// Answers that arrived while we waited for another one (at most one per
    /// request in flight).
    early: HashMap<u64, (Header, Vec<u8>)>,
}

/// What to open and how (MS-SMB2 2.2.13).
pub struct Open<'a> {
    pub path: &'a str,
    pub access: u32,
    pub disposition: u32,
    pub options: u32,
    /// The security descriptor of a file or directory this creates.
    pub descriptor: Option<&'a [u8]>,
}

pub mod access {
    pub const READ_DATA: u32 = 0x0000_0001;
    pub const WRITE_DATA: u32 = 0x0000_0002;
    pub const APPEND_DATA: u32 = 0x0000_0004;
    pub const READ_ATTRIBUTES: u32 = 0x0000_0080;
    pub const DELETE: u32 = 0x0001_0000;
    pub const SYNCHRONIZE: u32 = 0x0010_0000;
    pub const PIPE: u32 = READ_DATA | WRITE_DATA | APPEND_DATA | READ_ATTRIBUTES | SYNCHRONIZE | 0x0002_0000;
}

pub mod disposition {
    pub const OPEN: u32 = 1;
    pub const CREATE: u32 = 2;
    pub const OVERWRITE_IF: u32 = 5;
}

pub mod options {
    pub const DIRECTORY: u32 = 0x0000_0001;
    pub const NON_DIRECTORY: u32 = 0x0000_0040;
    pub const DELETE_ON_CLOSE: u32 = 0x0000_1000;
}

fn random<const N: usize>() -> Result<[u8; N], SmbError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)
        .map_err(|_| SmbError::Protocol("the system has no randomness to give".into()))?;
    Ok(out)
}

/// Fresh client challenge and exported session key for one NTLM exchange.
pub(crate) fn ntlm_randomness() -> Result<ntlm::Randomness, SmbError> {
    Ok(ntlm::Randomness {
        client_challenge: random()?,
        session_key: Zeroizing::new(random()?),
    })
}

pub(crate) fn filetime_now() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() / 100)
        .unwrap_or(0) as u64;
    unix + 116_444_736_000_000_000
}

impl Session {
    /// Negotiate the dialect on a fresh connection. `server` names the host in
    /// paths, `peer` in messages.
    pub async fn negotiate(
        stream: TcpStream,
        server: &str,
        peer: &str,
        protection: Protection,
    ) -> Result<Session, SmbError> {
        let _ = stream.set_nodelay(true);
        let request = NegotiateRequest {
            security_mode: match protection.signing {
                Signing::Required => SIGNING_REQUIRED,
                Signing::AllowTampering => SIGNING_ENABLED,
            },
            capabilities: CAP_LARGE_MTU | CAP_ENCRYPTION,
            client_guid: random()?,
            salt: random()?,
        };
        let mut session = Session {
            stream,
            server: server.to_string(),
            peer: peer.to_string(),
            target: server.to_string(),
            logon: None,
            protection,
            request,
            negotiated: NegotiateResponse {
                security_mode: 0,
                dialect: 0,
                server_guid: [0; 16],
                capabilities: 0,
                max_transact_size: CHUNK,
                max_read_size: CHUNK,
                max_write_size: CHUNK,
                cipher: None,
            },
            validate_pending: false,
            connection_hash: Preauth::new(),
            next_id: 0,
            in_flight: HashSet::new(),
            session_id: 0,
            signer: None,
            cipher: None,
            credits: 1,
            standby: None,
            trees: HashMap::new(),
            early: HashMap::new(),
        };
        let message = session.request.write();
        session.connection_hash.update(&message);
        let id = session.send_frame(message).await?;
        let (header, response) = session.recv(id).await?;
        check(&header, "negotiate")?;
        session.connection_hash.update(&response);
        session.negotiated = NegotiateResponse::parse(&response)?;
        session.validate_pending = matches!(session.negotiated.dialect, DIALECT_3_0 | DIALECT_3_0_2);
        Ok(session)
    }

    /// The name the admin gave the host, when it differs from the address the
    /// UNC paths use: NTLM's target name must be a name the host knows itself by.
    pub fn name_target(&mut self, name: &str) {
        self.target = name.to_string();
    }

    /// The host name NTLM authenticates to (`cifs/<this>` for SMB).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The account and password of the logon that succeeded, if one did.
    pub fn logon(&self) -> Option<(&Account, &Secret)> {
        self.logon.as_ref().map(|(account, password)| (account, password))
    }

    pub fn dialect(&self) -> &'static str {
        negotiate::dialect_name(self.negotiated.dialect)
    }

    /// Every request and answer since logon went through AES.
    #[cfg(test)]
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// The cipher the session encrypts with, if it does.
    pub fn cipher_name(&self) -> Option<&'static str> {
        self.cipher.as_ref().map(|c| c.id().name())
    }

    fn tampering(&self, kind: Tampering) -> SmbError {
        SmbError::Tampering {
            kind,
            peer: self.peer.clone(),
        }
    }

    fn max_read(&self) -> u32 {
        self.negotiated.max_read_size.min(CHUNK)
    }

    fn max_write(&self) -> u32 {
        self.negotiated.max_write_size.min(CHUNK)
    }

    fn max_transact(&self) -> u32 {
        self.negotiated.max_transact_size.min(CHUNK)
    }

    /// NTLMv2 logon. A refused account is `SmbError::Status` with a logon status;
    /// the same connection may then try the next account.
    pub async fn login(&mut self, account: &Account, password: &Secret) -> Result<(), SmbError> {
        let mut hash = self.begin_logon()?;
        let negotiate = ntlm::negotiate();
        let (header, response) = self
            .session_setup(&ntlm::spnego_init(&negotiate), &mut hash)
            .await?;
        if header.status != status::MORE_PROCESSING_REQUIRED {
            return Err(SmbError::Status {
                what: "logon".into(),
                status: header.status,
            });
        }
        self.session_id = header.session_id;
        hash.update(&response);
        let setup = SessionSetupResponse::parse(&response)?;
        let challenge = ntlm::parse_challenge(&ntlm::spnego_token(setup.security_buffer)?)?;
        let target_name = format!("cifs/{}", self.target);
        let logon = ntlm::Logon {
            account,
            password,
            negotiate: &negotiate,
            challenge: &challenge,
            target_name: &target_name,
        };
        let authenticated = ntlm::authenticate(&logon, ntlm_randomness()?, filetime_now())?;
        let mech_list_mic =
            ntlm_session::NtlmSession::client(&authenticated.session_key, authenticated.flags)
                .sign(&ntlm::mech_types())
                .to_bytes();
        let (header, response) = self
            .session_setup(
                &ntlm::spnego_response(&authenticated.message, Some(&mech_list_mic)),
                &mut hash,
            )
            .await?;
        if header.status != status::SUCCESS {
            return Err(SmbError::Status {
                what: "logon".into(),
                status: header.status,
            });
        }
        let session_key = authenticated.session_key;
        let flags = SessionSetupResponse::parse(&response)?.session_flags;
        if flags & (SessionSetupResponse::IS_GUEST | SessionSetupResponse::IS_NULL) != 0 {
            return Err(SmbError::Status {
                what: "logon (the server let us in only as a guest)".into(),
                status: status::LOGON_FAILURE,
            });
        }
        self.keys(&session_key, &hash, &header, &response, flags)?;
        self.logon = Some((account.clone(), password.clone()));
        Ok(())
    }

    /// Kerberos logon (MS-SMB2 3.2.5.3): the AP-REQ in one SESSION_SETUP, the
    /// server's AP-REP in its answer, the Kerberos subkey as the session key.
    /// `account` and `password` are kept, as `login` keeps them, for the RPC binds.
    pub async fn login_kerberos(
        &mut self,
        account: &Account,
        logon: kerberos::KerberosLogon,
    ) -> Result<(), kerberos::LogonError> {
        use kerberos::LogonError;
        let mut hash = self.begin_logon()?;
        let password = logon.password.clone();
        let (pending, ap_req) = tokio::task::spawn_blocking(move || kerberos::ap_req(&logon))
            .await
            .map_err(|e| LogonError::Kerberos(kerberos::KerberosError::Exchange(e.to_string())))??;
        let (header, response) = self
            .session_setup(&kerberos::spnego_init(&ap_req), &mut hash)
            .await?;
        if header.status != status::SUCCESS {
            return Err(SmbError::Status {
                what: "logon".into(),
                status: header.status,
            }
            .into());
        }
        self.session_id = header.session_id;
        let setup = SessionSetupResponse::parse(&response)?;
        let flags = setup.session_flags;
        let ap_rep = ntlm::spnego_token(setup.security_buffer)?;
        let session_key = tokio::task::spawn_blocking(move || kerberos::finish(pending, &ap_rep))
            .await
            .map_err(|e| LogonError::Kerberos(kerberos::KerberosError::Exchange(e.to_string())))??;
        if flags & (SessionSetupResponse::IS_GUEST | SessionSetupResponse::IS_NULL) != 0 {
            return Err(SmbError::Status {
                what: "logon (the server let us in only as a guest)".into(),
                status: status::LOGON_FAILURE,
            }
            .into());
        }
        self.keys(&session_key, &hash, &header, &response, flags)?;
        self.logon = Some((account.clone(), password));
        Ok(())
    }

    /// Forget any earlier logon on this connection: the SMB state every logon
    /// starts from, and the pre-authentication hash up to the NEGOTIATE.
    fn begin_logon(&mut self) -> Result<Preauth, SmbError> {
        if self.protection.encryption == Encryption::Required && self.negotiated.cipher.is_none() {
            return Err(SmbError::Encryption(format!(
                "smb_encryption is required, but the server negotiated SMB {} without a cipher pushinst can use \
                 (it offers AES-256-GCM, AES-128-GCM, AES-256-CCM and AES-128-CCM)",
                self.dialect()
            )));
        }
        let hash = self.connection_hash.clone();
        self.trees.clear();
        self.standby = None;
        self.session_id = 0;
        self.signer = None;
        self.logon = None;
        self.cipher = None;
        Ok(hash)
    }

    /// Derive signing and encryption keys, and check the server's signature on the
    /// final answer (MS-SMB2 3.2.5.3.1): it proves the server knows the same key,
    /// and for 3.1.1 that both sides saw the same NEGOTIATE.
    fn keys(
        &mut self,
        session_key: &Zeroizing<[u8; 16]>,
        hash: &Preauth,
        header: &Header,
        response: &[u8],
        flags: u16,
    ) -> Result<(), SmbError> {
        let dialect = self.negotiated.dialect;
        let signer = match dialect {
            DIALECT_3_1_1 => Signer::AesCmac(kdf(session_key, b"SMBSigningKey\0", &hash.0)),
            DIALECT_3_0 | DIALECT_3_0_2 => Signer::AesCmac(kdf(session_key, b"SMB2AESCMAC\0", b"SmbSign\0")),
            _ => Signer::HmacSha256(session_key.clone()),
        };
        let signed = header.flags & FLAG_SIGNED != 0;
        if signed && !signer.verify(response) {
            return Err(self.tampering(Tampering::BadSignature));
        }
        if !signed && self.protection.signing == Signing::Required {
            return Err(self.tampering(Tampering::Unsigned));
        }
        let cipher = match self.negotiated.cipher {
            Some(id) if dialect == DIALECT_3_1_1 => Some(Cipher::derive(
                id,
                session_key,
                (b"SMBC2SCipherKey\0", &hash.0),
                (b"SMBS2CCipherKey\0", &hash.0),
                self.session_id,
            )?),
            Some(id) => Some(Cipher::derive(
                id,
                session_key,
                (b"SMB2AESCCM\0", b"ServerIn \0"),
                (b"SMB2AESCCM\0", b"ServerOut\0"),
                self.session_id,
            )?),
            None => None,
        };
        let demanded = flags & SessionSetupResponse::ENCRYPT_DATA != 0;
        let encrypt = demanded
            || match self.protection.encryption {
                Encryption::Required => true,
                Encryption::WhenSupported => cipher.is_some(),
                Encryption::Off => false,
            };
        if encrypt && cipher.is_none() {
            return Err(SmbError::Encryption(
                "the server demands encryption but offered no usable cipher".into(),
            ));
        }
        // Ready even when not needed yet: a share may demand encryption later.
        self.standby = cipher;
        if encrypt {
            self.cipher = self.standby.take();
        }
        self.signer = Some(signer);
        Ok(())
    }

    async fn session_setup(
        &mut self,
        token: &[u8],
        hash: &mut Preauth,
    ) -> Result<(Header, Vec<u8>), SmbError> {
        let mut w = request_header(Command::SessionSetup, 1, self.next_id, 0, self.session_id);
        messages::session_setup_request(&mut w, self.request.security_mode as u8, token)?;
        hash.update(&w.buf);
        let id = self.send_frame(w.buf).await?;
        self.recv(id).await
    }

    /// Connect a share, once per session: later calls return the same tree.
    pub async fn tree_connect(&mut self, share: &str) -> Result<Tree, SmbError> {
        if let Some(id) = self.trees.get(share) {
            return Ok(Tree(*id));
        }
        let mut w = self.header(Command::TreeConnect, 0);
        messages::tree_connect_request(&mut w, &format!(r"\\{}\{share}", self.server));
        let (header, response) = self.call(w, &format!("connect to share {share}")).await?;
        let share_flags = TreeConnectResponse::parse(&response)?.share_flags;
        if share_flags & TreeConnectResponse::SHAREFLAG_ENCRYPT_DATA != 0 && self.cipher.is_none() {
            // From now on every message is encrypted (the server accepts that on any share).
            self.cipher = self.standby.take();
            if self.cipher.is_none() {
                return Err(SmbError::Encryption(format!(
                    "the share {share} demands encryption, and the session has no cipher"
                )));
            }
        }
        self.trees.insert(share.to_string(), header.tree_id);
        let tree = Tree(header.tree_id);
        if self.validate_pending {
            self.validate_negotiate(&tree).await?;
        }
        Ok(tree)
    }

    /// FSCTL_VALIDATE_NEGOTIATE_INFO (MS-SMB2 3.2.5.5): the signed answer must
    /// repeat the unsigned NEGOTIATE answer, or someone changed it on the way.
    async fn validate_negotiate(&mut self, tree: &Tree) -> Result<(), SmbError> {
        let input = negotiate::validate_negotiate_info(&self.request);
        let mut w = self.header(Command::Ioctl, tree.0);
        IoctlRequest {
            ctl_code: FSCTL_VALIDATE_NEGOTIATE_INFO,
            file: NO_FILE,
            input: &input,
            max_output_response: VALIDATE_NEGOTIATE_RESPONSE_LEN,
        }
        .write(&mut w);
        let (header, response) = self.exchange(w).await?;
        // A server that does not implement the check says so in a signed answer
        // (MS-SMB2 3.2.5.14.12); anything else must match.
        let unsupported = [status::NOT_SUPPORTED, status::INVALID_DEVICE_REQUEST];
        if !unsupported.contains(&header.status) {
            check(&header, "validate the negotiation")?;
            let output = IoctlResponse::parse(&response, VALIDATE_NEGOTIATE_RESPONSE_LEN)?.output;
            if !negotiate::validate_negotiate_matches(output, &self.negotiated)? {
                return Err(self.tampering(Tampering::NegotiationChanged));
            }
        }
        self.validate_pending = false;
        Ok(())
    }

    pub async fn create(&mut self, tree: &Tree, open: &Open<'_>) -> Result<FileId, SmbError> {
        Ok(self.open_sized(tree, open).await?.0)
    }

    /// The size of an existing file (its end-of-file, as the server reports it).
    pub async fn size(&mut self, tree: &Tree, path: &str) -> Result<u64, SmbError> {
        let open = Open {
            path,
            access: access::READ_ATTRIBUTES,
            disposition: disposition::OPEN,
            options: options::NON_DIRECTORY,
            descriptor: None,
        };
        let (file, size) = self.open_sized(tree, &open).await?;
        self.close(tree, file).await?;
        Ok(size)
    }

    /// CREATE (MS-SMB2 2.2.13): the handle and the file's end-of-file.
    pub async fn open_sized(&mut self, tree: &Tree, open: &Open<'_>) -> Result<(FileId, u64), SmbError> {
        let mut w = self.header(Command::Create, tree.0);
        CreateRequest {
            name: open.path,
            desired_access: open.access,
            create_disposition: open.disposition,
            create_options: open.options,
            security_descriptor: open.descriptor,
        }
        .write(&mut w)?;
        let (_, response) = self.call(w, &format!("open {}", open.path)).await?;
        let created = CreateResponse::parse(&response)?;
        Ok((created.file_id, created.end_of_file))
    }

    pub async fn close(&mut self, tree: &Tree, file: FileId) -> Result<(), SmbError> {
        let mut w = self.header(Command::Close, tree.0);
        messages::close_request(&mut w, file);
        self.call(w, "close").await.map(drop)
    }

    /// Write `data` from offset 0, several chunks in flight at once.
    pub async fn write_all(&mut self, tree: &Tree, file: FileId, data: &[u8]) -> Result<(), SmbError> {
        let chunk = self.max_write() as usize;
        let mut chunks = data.chunks(chunk).enumerate().peekable();
        let mut in_flight = std::collections::VecDeque::new();
        while chunks.peek().is_some() || !in_flight.is_empty() {
            // Never more in flight than the server granted credits for.
            while in_flight.len() < WRITES_IN_FLIGHT
                && (self.credits > 0 || in_flight.is_empty())
                && let Some((index, piece)) = chunks.next()
            {
                let mut w = self.header(Command::Write, tree.0);
                messages::write_request(&mut w, file, (index * chunk) as u64, piece);
                in_flight.push_back((self.send(w).await?, piece.len()));
            }
            let Some((id, len)) = in_flight.pop_front() else {
                break;
            };
            let (header, response) = self.recv(id).await?;
            check(&header, "write")?;
            let written = WriteResponse::parse(&response)?.count as usize;
            if written != len {
                return Err(SmbError::Protocol(format!(
                    "the server wrote {written} of {len} bytes"
                )));
            }
        }
        Ok(())
    }

    /// One write at `offset` (a pipe ignores the offset).
    pub async fn write_at(
        &mut self,
        tree: &Tree,
        file: FileId,
        offset: u64,
        data: &[u8],
    ) -> Result<(), SmbError> {
        if data.len() > self.max_write() as usize {
            return Err(SmbError::Protocol(format!(
                "a write of {} bytes is more than the server takes at once",
                data.len()
            )));
        }
        let mut w = self.header(Command::Write, tree.0);
        messages::write_request(&mut w, file, offset, data);
        self.call(w, "write").await.map(drop)
    }

    /// Up to `len` bytes from `offset`; empty at the end of the file.
    pub async fn read(
        &mut self,
        tree: &Tree,
        file: FileId,
        offset: u64,
        len: u32,
    ) -> Result<Vec<u8>, SmbError> {
        let asked = len.min(self.max_read());
        let mut w = self.header(Command::Read, tree.0);
        messages::read_request(&mut w, file, offset, asked);
        let (header, response) = self.exchange(w).await?;
        if header.status == status::END_OF_FILE {
            return Ok(Vec::new());
        }
        check(&header, "read")?;
        Ok(ReadResponse::parse(&response, asked)?.data.to_vec())
    }

    /// A whole small file, refused once it passes `limit` bytes.
    pub async fn read_all(&mut self, tree: &Tree, file: FileId, limit: usize) -> Result<Vec<u8>, SmbError> {
        let mut out = Vec::new();
        loop {
            let chunk = self.read(tree, file, out.len() as u64, CHUNK).await?;
            if chunk.is_empty() {
                return Ok(out);
            }
            if out.len() + chunk.len() > limit {
                return Err(SmbError::Protocol(format!(
                    "the file is longer than the {limit} bytes expected"
                )));
            }
            out.extend_from_slice(&chunk);
        }
    }

    /// One request and its answer over a named pipe (FSCTL_PIPE_TRANSCEIVE).
    pub async fn transceive(&mut self, tree: &Tree, pipe: FileId, input: &[u8]) -> Result<Vec<u8>, SmbError> {
        let max_output = self.max_transact();
        let mut w = self.header(Command::Ioctl, tree.0);
        IoctlRequest {
            ctl_code: FSCTL_PIPE_TRANSCEIVE,
            file: pipe,
            input,
            max_output_response: max_output,
        }
        .write(&mut w);
        let (header, response) = self.exchange(w).await?;
        if header.status != status::BUFFER_OVERFLOW {
            check(&header, "pipe transaction")?;
        }
        let mut out = IoctlResponse::parse(&response, max_output)?.output.to_vec();
        if header.status == status::BUFFER_OVERFLOW {
            // The rest of a long answer waits in the pipe.
            out.extend_from_slice(&self.read(tree, pipe, 0, CHUNK).await?);
        }
        Ok(out)
    }

    /// The names in a directory (not `.` and `..`).
    pub async fn list(&mut self, tree: &Tree, dir: &str) -> Result<Vec<String>, SmbError> {
        let open = Open {
            path: dir,
            access: access::READ_DATA | access::READ_ATTRIBUTES | access::SYNCHRONIZE,
            disposition: disposition::OPEN,
            options: options::DIRECTORY,
            descriptor: None,
        };
        let handle = self.create(tree, &open).await?;
        let listed = self.list_open(tree, handle, dir).await;
        let closed = self.close(tree, handle).await;
        let names = listed?;
        closed?;
        Ok(names)
    }

    async fn list_open(&mut self, tree: &Tree, handle: FileId, dir: &str) -> Result<Vec<String>, SmbError> {
        let asked = self.max_transact();
        let mut names = Vec::new();
        let mut restart = true;
        loop {
            let mut w = self.header(Command::QueryDirectory, tree.0);
            messages::query_directory_request(&mut w, handle, restart, asked);
            restart = false;
            let (header, response) = self.exchange(w).await?;
            if header.status == status::NO_MORE_FILES {
                return Ok(names);
            }
            check(&header, &format!("list {dir}"))?;
            let listed = QueryDirectoryResponse::parse(&response, asked)?.names()?;
            if listed.is_empty() {
                return Ok(names);
            }
            names.extend(listed.into_iter().filter(|n| n != "." && n != ".."));
            if names.len() > MAX_LISTING {
                return Err(SmbError::Protocol(format!(
                    "the server lists more than {MAX_LISTING} entries in {dir}"
                )));
            }
        }
    }

    /// Delete a file, or an empty directory.
    pub async fn delete(&mut self, tree: &Tree, path: &str, directory: bool) -> Result<(), SmbError> {
        let kind = if directory {
            options::DIRECTORY
        } else {
            options::NON_DIRECTORY
        };
        let file = self
            .create(
                tree,
                &Open {
                    path,
                    access: access::DELETE | access::READ_ATTRIBUTES,
                    disposition: disposition::OPEN,
                    options: kind | options::DELETE_ON_CLOSE,
                    descriptor: None,
                },
            )
            .await?;
        self.close(tree, file).await
    }

    pub async fn logoff(mut self) {
        let mut w = self.header(Command::Logoff, 0);
        messages::logoff_request(&mut w);
        if let Ok(id) = self.send(w).await {
            let _ = self.recv(id).await;
        }
    }

    fn header(&mut self, command: Command, tree: u32) -> Writer {
        request_header(command, 1, self.next_id, tree, self.session_id)
    }

    /// Send a request and wait for its answer, whatever the status.
    async fn exchange(&mut self, w: Writer) -> Result<(Header, Vec<u8>), SmbError> {
        let id = self.send(w).await?;
        self.recv(id).await
    }

    /// Send a request; its answer must be a success.
    async fn call(&mut self, w: Writer, what: &str) -> Result<(Header, Vec<u8>), SmbError> {
        let (header, response) = self.exchange(w).await?;
        check(&header, what)?;
        Ok((header, response))
    }

    /// Sign or encrypt as the session requires, and send.
    async fn send(&mut self, mut w: Writer) -> Result<u64, SmbError> {
        if let Some(cipher) = &mut self.cipher {
            let sealed = cipher.seal(&w.buf)?;
            return self.send_frame(sealed).await;
        }
        if let Some(signer) = &self.signer {
            signer.sign(&mut w.buf);
        }
        self.send_frame(w.buf).await
    }

    async fn send_frame(&mut self, frame: Vec<u8>) -> Result<u64, SmbError> {
        let id = self.next_id;
        self.next_id += 1;
        self.credits = self.credits.saturating_sub(1);
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|len| *len < 1 << 24)
            .ok_or_else(|| SmbError::Protocol("request too long for one SMB frame".into()))?;
        let mut out = Vec::with_capacity(4 + frame.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&frame);
        self.stream.write_all(&out).await?;
        self.in_flight.insert(id);
        Ok(id)
    }

    /// The final answer to request `id` (interim "pending" answers are skipped).
    async fn recv(&mut self, id: u64) -> Result<(Header, Vec<u8>), SmbError> {
        if let Some(early) = self.early.remove(&id) {
            self.in_flight.remove(&id);
            return Ok(early);
        }
        loop {
            let (message, sealed) = self.read_message().await?;
            let header = Header::parse(&message)?;
            if header.flags & FLAG_RESPONSE == 0 {
                return Err(SmbError::Protocol("the server sent a request".into()));
            }
            if !self.in_flight.contains(&header.message_id) || self.early.contains_key(&header.message_id) {
                return Err(SmbError::Protocol(format!(
                    "the server answered request {}, which is not waiting for an answer",
                    header.message_id
                )));
            }
            self.credits = self
                .credits
                .saturating_add(u32::from(header.credits))
                .min(MAX_CREDITS);
            // Interim answers are not signed (MS-SMB2 3.2.5.1.3); the final one is.
            if header.status == status::PENDING && header.flags & FLAG_ASYNC != 0 {
                continue;
            }
            if !sealed {
                self.check_signature(&header, &message)?;
            }
            if header.message_id == id {
                self.in_flight.remove(&id);
                return Ok((header, message));
            }
            self.early.insert(header.message_id, (header, message));
        }
    }

    /// After logon an answer that came in the clear must carry our signature
    /// (MS-SMB2 3.2.5.1.3), whatever the server's NEGOTIATE said about signing.
    fn check_signature(&self, header: &Header, message: &[u8]) -> Result<(), SmbError> {
        let Some(signer) = &self.signer else {
            // Before logon there is no key yet; the logon's answers are checked by
            // the pre-authentication hash and the final signature.
            return Ok(());
        };
        if self.cipher.is_some() {
            return Err(self.tampering(Tampering::NotEncrypted));
        }
        if header.flags & FLAG_SIGNED != 0 {
            if !signer.verify(message) {
                return Err(self.tampering(Tampering::BadSignature));
            }
            return Ok(());
        }
        match self.protection.signing {
            Signing::Required => Err(self.tampering(Tampering::Unsigned)),
            Signing::AllowTampering if self.negotiated.security_mode & SIGNING_REQUIRED != 0 => {
                Err(self.tampering(Tampering::Unsigned))
            }
            Signing::AllowTampering => Ok(()),
        }
    }

    /// One frame, decrypted if it came sealed; `true` when it did.
    async fn read_message(&mut self) -> Result<(Vec<u8>, bool), SmbError> {
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix).await?;
        let len = u32::from_be_bytes([0, prefix[1], prefix[2], prefix[3]]) as usize;
        if prefix[0] != 0 || len > MAX_FRAME {
            return Err(SmbError::Protocol(format!(
                "the server sent an SMB frame of {len} bytes, more than any answer pushinst asked for"
            )));
        }
        let mut frame = vec![0u8; len];
        self.stream.read_exact(&mut frame).await?;
        if !frame.starts_with(&wire::TRANSFORM_ID) {
            return Ok((frame, false));
        }
        let Some(cipher) = self.cipher.as_ref().or(self.standby.as_ref()) else {
            return Err(SmbError::Protocol(
                "the server sent an encrypted answer on a session without encryption".into(),
            ));
        };
        match cipher.open(&frame) {
            Ok(message) => Ok((message, true)),
            Err(OpenError::Integrity) => Err(self.tampering(Tampering::FailedIntegrity)),
            Err(OpenError::Malformed) => Err(SmbError::Protocol("a malformed encrypted answer".into())),
        }
    }
}

fn check(header: &Header, what: &str) -> Result<(), SmbError> {
    if header.status == status::SUCCESS {
        Ok(())
    } else {
        Err(SmbError::Status {
            what: what.to_string(),
            status: header.status,
        })
    }
}

#[cfg(test)]
mod tests;
