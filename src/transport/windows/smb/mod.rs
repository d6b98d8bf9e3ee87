//! A small SMB2/3 client (MS-SMB2): what a push install needs and nothing more.
//! Dialects 2.0.2, 2.1 and 3.1.1, NTLMv2 logon, signing, AES-128-GCM encryption, files on
//! a share, and named-pipe transactions for DCE/RPC. One TCP connection per host
//! carries everything.
//!
//! Written here rather than taken from a crate: the `smb` crate pins pre-release
//! cryptography (through `sspi`) that cannot be built together with `russh`.

mod crypto;
pub(crate) mod fuzz;
mod ntlm;
pub mod status;
mod wire;

use std::collections::HashMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crypto::{Cipher, Preauth, Signer, kdf};
pub use ntlm::Account;
use wire::{
    Command, FLAG_ASYNC, FLAG_RESPONSE, FLAG_SIGNED, HEADER_LEN, Header, Reader, Writer, request_header,
    utf16,
};

use crate::secrets::Secret;

const DIALECT_2_0_2: u16 = 0x0202;
const DIALECT_2_1: u16 = 0x0210;
const DIALECT_3_1_1: u16 = 0x0311;
const SIGNING_ENABLED: u16 = 0x0001;
const SIGNING_REQUIRED: u16 = 0x0002;
const CAP_LARGE_MTU: u32 = 0x0000_0004;
const CAP_ENCRYPTION: u32 = 0x0000_0040;
const SESSION_FLAG_IS_GUEST: u16 = 0x0001;
const SESSION_FLAG_IS_NULL: u16 = 0x0002;
const SESSION_FLAG_ENCRYPT_DATA: u16 = 0x0004;
const SHARE_FLAG_ENCRYPT_DATA: u32 = 0x0000_8000;
const CIPHER_AES_128_GCM: u16 = 0x0002;
const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
/// Bytes per WRITE: one credit each, and several in flight.
const CHUNK: usize = 64 * 1024;
const WRITES_IN_FLIGHT: usize = 16;
const MAX_FRAME: usize = 16 * 1024 * 1024;

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
}

impl SmbError {
    pub fn status(&self) -> Option<u32> {
        match self {
            SmbError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// `smb_encryption`: what the session must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    /// Encrypt when the server or share asks for it.
    #[default]
    IfAsked,
    /// Refuse a session whose messages are not all encrypted.
    Required,
}

/// An open file or pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId([u8; 16]);

/// A connected share. Cheap to copy: the session connects each share once.
#[derive(Debug, Clone, Copy)]
pub struct Tree(u32);

pub struct Session {
    stream: TcpStream,
    server: String,
    dialect: u16,
    server_security: u16,
    server_caps: u32,
    cipher_offered: bool,
    connection_hash: Preauth,
    next_id: u64,
    session_id: u64,
    signer: Option<Signer>,
    cipher: Option<Cipher>,
    encryption: Encryption,
    /// Requests the server currently lets us send (MS-SMB2 3.2.4.1.5).
    credits: u32,
    /// The session's cipher while nothing demands encryption yet.
    standby: Option<Cipher>,
    /// Shares already connected in this session, by name.
    trees: HashMap<String, u32>,
    /// Answers that arrived while we waited for another one.
    early: HashMap<u64, (Header, Vec<u8>)>,
}

/// What to open and how (MS-SMB2 2.2.13).
pub struct Open<'a> {
    pub path: &'a str,
    pub access: u32,
    pub disposition: u32,
    pub options: u32,
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

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let _ = getrandom::fill(&mut out);
    out
}

fn filetime_now() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() / 100)
        .unwrap_or(0) as u64;
    unix + 116_444_736_000_000_000
}

impl Session {
    /// Negotiate the dialect on a fresh connection; `server` names the host in paths.
    pub async fn negotiate(stream: TcpStream, server: &str) -> Result<Session, SmbError> {
        let _ = stream.set_nodelay(true);
        let mut session = Session {
            stream,
            server: server.to_string(),
            dialect: 0,
            server_security: 0,
            server_caps: 0,
            cipher_offered: false,
            connection_hash: Preauth::new(),
            next_id: 0,
            session_id: 0,
            signer: None,
            cipher: None,
            encryption: Encryption::IfAsked,
            credits: 1,
            standby: None,
            trees: HashMap::new(),
            early: HashMap::new(),
        };
        let request = negotiate_request();
        session.connection_hash.update(&request);
        let id = session.send_frame(request).await?;
        let (header, response) = session.recv(id).await?;
        if header.status != status::SUCCESS {
            return Err(SmbError::Status {
                what: "negotiate".into(),
                status: header.status,
            });
        }
        session.connection_hash.update(&response);
        session.read_negotiate(&response)?;
        Ok(session)
    }

    fn read_negotiate(&mut self, msg: &[u8]) -> Result<(), SmbError> {
        let r = Reader::new(msg);
        let body = HEADER_LEN;
        self.server_security = r.u16(body + 2)?;
        self.dialect = r.u16(body + 4)?;
        self.server_caps = r.u32(body + 24)?;
        if ![DIALECT_2_0_2, DIALECT_2_1, DIALECT_3_1_1].contains(&self.dialect) {
            return Err(SmbError::Protocol(format!(
                "the server chose SMB dialect 0x{:04x}, which pushinst does not speak (it speaks 2.0.2, 2.1 and 3.1.1)",
                self.dialect
            )));
        }
        if self.dialect == DIALECT_3_1_1 {
            let count = r.u16(body + 6)? as usize;
            let mut at = r.u32(body + 60)? as usize;
            for _ in 0..count {
                let kind = r.u16(at)?;
                let len = r.u16(at + 2)? as usize;
                if kind == 2 {
                    // ENCRYPTION_CAPABILITIES: the one cipher the server picked.
                    self.cipher_offered = r.u16(at + 8)? >= 1 && r.u16(at + 10)? == CIPHER_AES_128_GCM;
                }
                at = (at + 8 + len).next_multiple_of(8);
            }
        }
        Ok(())
    }

    pub fn dialect(&self) -> &'static str {
        match self.dialect {
            DIALECT_3_1_1 => "3.1.1",
            DIALECT_2_1 => "2.1",
            _ => "2.0.2",
        }
    }

    /// Every request and answer since logon went through AES-GCM.
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// NTLMv2 logon. A refused account is `SmbError::Status` with a logon status;
    /// the same connection may then try the next account.
    pub async fn login(
        &mut self,
        account: &Account,
        password: &Secret,
        encryption: Encryption,
    ) -> Result<(), SmbError> {
        self.encryption = encryption;
        if encryption == Encryption::Required && !self.cipher_offered {
            return Err(SmbError::Encryption(format!(
                "smb_encryption is required, but the server negotiated SMB {} without a cipher pushinst can use (AES-128-GCM)",
                self.dialect()
            )));
        }
        let mut hash = self.connection_hash.clone();
        self.trees.clear();
        self.standby = None;
        self.session_id = 0;
        self.signer = None;
        self.cipher = None;
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
        let challenge = ntlm::parse_challenge(&ntlm::spnego_token(security_buffer(&response)?)?)?;
        let (authenticate, session_key) =
            ntlm::authenticate(account, password, &challenge, random(), filetime_now());
        let (header, response) = self
            .session_setup(&ntlm::spnego_response(&authenticate), &mut hash)
            .await?;
        if header.status != status::SUCCESS {
            return Err(SmbError::Status {
                what: "logon".into(),
                status: header.status,
            });
        }
        let flags = Reader::new(&response).u16(HEADER_LEN + 2)?;
        if flags & (SESSION_FLAG_IS_GUEST | SESSION_FLAG_IS_NULL) != 0 {
            return Err(SmbError::Status {
                what: "logon (the server let us in only as a guest)".into(),
                status: status::LOGON_FAILURE,
            });
        }
        self.keys(&session_key, &hash, &response, flags)
    }

    /// Derive signing and encryption keys, and check the server's signature on the
    /// final answer: it proves the server knows the same key.
    fn keys(
        &mut self,
        session_key: &[u8; 16],
        hash: &Preauth,
        response: &[u8],
        flags: u16,
    ) -> Result<(), SmbError> {
        let signer = if self.dialect == DIALECT_3_1_1 {
            Signer::AesCmac(kdf(session_key, b"SMBSigningKey\0", &hash.0))
        } else {
            Signer::HmacSha256(*session_key)
        };
        let signed = Header::parse(response)?.flags & FLAG_SIGNED != 0;
        if signed && !signer.verify(response) {
            return Err(SmbError::Protocol(
                "the server's logon answer carries a bad signature (a machine in the middle?)".into(),
            ));
        }
        let encrypt = flags & SESSION_FLAG_ENCRYPT_DATA != 0 || self.encryption == Encryption::Required;
        if encrypt && !self.cipher_offered {
            return Err(SmbError::Encryption(
                "the server demands encryption but offered no usable cipher".into(),
            ));
        }
        // Ready even when not needed yet: a share may demand encryption later.
        self.standby = self.cipher_offered.then(|| {
            Cipher::new(
                &kdf(session_key, b"SMBC2SCipherKey\0", &hash.0),
                &kdf(session_key, b"SMBS2CCipherKey\0", &hash.0),
                self.session_id,
            )
        });
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
        let security = if self.server_security & SIGNING_REQUIRED != 0 {
            SIGNING_REQUIRED
        } else {
            SIGNING_ENABLED
        };
        w.u16(25)
            .u8(0)
            .u8(security as u8)
            .u32(0)
            .u32(0)
            .u16((HEADER_LEN + 24) as u16)
            .u16(token.len() as u16)
            .u64(0)
            .bytes(token);
        hash.update(&w.buf);
        let id = self.send_frame(w.buf).await?;
        self.recv(id).await
    }

    /// Connect a share, once per session: later calls return the same tree.
    pub async fn tree_connect(&mut self, share: &str) -> Result<Tree, SmbError> {
        if let Some(id) = self.trees.get(share) {
            return Ok(Tree(*id));
        }
        let path = utf16(&format!(r"\\{}\{share}", self.server));
        let mut w = self.header(Command::TreeConnect, 1, 0);
        w.u16(9)
            .u16(0)
            .u16((HEADER_LEN + 8) as u16)
            .u16(path.len() as u16)
            .bytes(&path);
        let (header, response) = self.call(w, &format!("connect to share {share}")).await?;
        let share_flags = Reader::new(&response).u32(HEADER_LEN + 4)?;
        if share_flags & SHARE_FLAG_ENCRYPT_DATA != 0 && self.cipher.is_none() {
            // From now on every message is encrypted (the server accepts that on any share).
            self.cipher = self.standby.take();
            if self.cipher.is_none() {
                return Err(SmbError::Encryption(format!(
                    "the share {share} demands encryption, and the session has no cipher"
                )));
            }
        }
        self.trees.insert(share.to_string(), header.tree_id);
        Ok(Tree(header.tree_id))
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
        };
        let (file, size) = self.open_sized(tree, &open).await?;
        self.close(tree, file).await?;
        Ok(size)
    }

    /// CREATE (MS-SMB2 2.2.13): the handle and the file's end-of-file.
    pub async fn open_sized(&mut self, tree: &Tree, open: &Open<'_>) -> Result<(FileId, u64), SmbError> {
        let name = utf16(open.path.trim_start_matches('\\'));
        let mut w = self.header(Command::Create, 1, tree.0);
        w.u16(57)
            .u8(0)
            .u8(0)
            .u32(2)
            .u64(0)
            .u64(0)
            .u32(open.access)
            .u32(0)
            .u32(0x7)
            .u32(open.disposition)
            .u32(open.options)
            .u16((HEADER_LEN + 56) as u16)
            .u16(name.len() as u16)
            .u32(0)
            .u32(0)
            .bytes(&name);
        if name.is_empty() {
            w.u8(0);
        }
        let (_, response) = self.call(w, &format!("open {}", open.path)).await?;
        let r = Reader::new(&response);
        let mut id = [0u8; 16];
        id.copy_from_slice(r.slice(HEADER_LEN + 64, 16)?);
        Ok((FileId(id), r.u64(HEADER_LEN + 48)?))
    }

    pub async fn close(&mut self, tree: &Tree, file: FileId) -> Result<(), SmbError> {
        let mut w = self.header(Command::Close, 1, tree.0);
        w.u16(24).u16(0).u32(0).bytes(&file.0);
        self.call(w, "close").await.map(drop)
    }

    /// Write `data` from offset 0, several chunks in flight at once.
    pub async fn write_all(&mut self, tree: &Tree, file: FileId, data: &[u8]) -> Result<(), SmbError> {
        let mut chunks = data.chunks(CHUNK).enumerate().peekable();
        let mut in_flight = Vec::new();
        while chunks.peek().is_some() || !in_flight.is_empty() {
            // Never more in flight than the server granted credits for.
            while in_flight.len() < WRITES_IN_FLIGHT
                && (self.credits > 0 || in_flight.is_empty())
                && let Some((index, chunk)) = chunks.next()
            {
                let mut w = self.header(Command::Write, 1, tree.0);
                w.u16(49)
                    .u16((HEADER_LEN + 48) as u16)
                    .u32(chunk.len() as u32)
                    .u64((index * CHUNK) as u64)
                    .bytes(&file.0)
                    .u32(0)
                    .u32(0)
                    .u16(0)
                    .u16(0)
                    .u32(0)
                    .bytes(chunk);
                in_flight.push((self.send(w).await?, chunk.len()));
            }
            let (id, len) = in_flight.remove(0);
            let (header, response) = self.recv(id).await?;
            check(&header, "write")?;
            let written = Reader::new(&response).u32(HEADER_LEN + 4)? as usize;
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
        let mut w = self.header(Command::Write, 1, tree.0);
        w.u16(49)
            .u16((HEADER_LEN + 48) as u16)
            .u32(data.len() as u32)
            .u64(offset)
            .bytes(&file.0)
            .u32(0)
            .u32(0)
            .u16(0)
            .u16(0)
            .u32(0)
            .bytes(data);
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
        let mut w = self.header(Command::Read, 1, tree.0);
        w.u16(49)
            .u8(0x50)
            .u8(0)
            .u32(len.min(CHUNK as u32))
            .u64(offset)
            .bytes(&file.0)
            .u32(0)
            .u32(0)
            .u32(0)
            .u16(0)
            .u16(0)
            .u8(0);
        let id = self.send(w).await?;
        let (header, response) = self.recv(id).await?;
        if header.status == status::END_OF_FILE {
            return Ok(Vec::new());
        }
        check(&header, "read")?;
        data_at(&response, HEADER_LEN + 2, HEADER_LEN + 4, true)
    }

    /// A whole (small) file.
    pub async fn read_all(&mut self, tree: &Tree, file: FileId) -> Result<Vec<u8>, SmbError> {
        let mut out = Vec::new();
        loop {
            let chunk = self.read(tree, file, out.len() as u64, CHUNK as u32).await?;
            if chunk.is_empty() {
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
        }
    }

    /// One request and its answer over a named pipe (FSCTL_PIPE_TRANSCEIVE).
    pub async fn transceive(&mut self, tree: &Tree, pipe: FileId, input: &[u8]) -> Result<Vec<u8>, SmbError> {
        let mut w = self.header(Command::Ioctl, 1, tree.0);
        w.u16(57)
            .u16(0)
            .u32(FSCTL_PIPE_TRANSCEIVE)
            .bytes(&pipe.0)
            .u32((HEADER_LEN + 56) as u32)
            .u32(input.len() as u32)
            .u32(0)
            .u32(0)
            .u32(0)
            .u32(CHUNK as u32)
            .u32(1)
            .u32(0)
            .bytes(input);
        let id = self.send(w).await?;
        let (header, response) = self.recv(id).await?;
        if header.status != status::BUFFER_OVERFLOW {
            check(&header, "pipe transaction")?;
        }
        let mut out = data_at(&response, HEADER_LEN + 32, HEADER_LEN + 36, false)?;
        if header.status == status::BUFFER_OVERFLOW {
            // The rest of a long answer waits in the pipe.
            out.extend_from_slice(&self.read(tree, pipe, 0, CHUNK as u32).await?);
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
        };
        let handle = self.create(tree, &open).await?;
        let mut names = Vec::new();
        let mut first = true;
        loop {
            let pattern = utf16("*");
            let mut w = self.header(Command::QueryDirectory, 1, tree.0);
            // FileNamesInformation (12); restart the scan the first time.
            w.u16(33)
                .u8(12)
                .u8(u8::from(first))
                .u32(0)
                .bytes(&handle.0)
                .u16((HEADER_LEN + 32) as u16)
                .u16(pattern.len() as u16)
                .u32(CHUNK as u32)
                .bytes(&pattern);
            first = false;
            let id = self.send(w).await?;
            let (header, response) = self.recv(id).await?;
            if header.status == status::NO_MORE_FILES {
                break;
            }
            check(&header, &format!("list {dir}"))?;
            let r = Reader::new(&response);
            let offset = r.u16(HEADER_LEN + 2)? as usize;
            let len = r.u32(HEADER_LEN + 4)? as usize;
            let entries = Reader::new(r.slice(offset, len)?);
            let mut at = 0;
            loop {
                let next = entries.u32(at)? as usize;
                let name_len = entries.u32(at + 8)? as usize;
                let raw = entries.slice(at + 12, name_len)?;
                let units: Vec<u16> = raw
                    .chunks(2)
                    .map(|c| u16::from_le_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
                    .collect();
                let name = String::from_utf16_lossy(&units);
                if name != "." && name != ".." {
                    names.push(name);
                }
                if next == 0 {
                    break;
                }
                at += next;
            }
        }
        self.close(tree, handle).await?;
        Ok(names)
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
                },
            )
            .await?;
        self.close(tree, file).await
    }

    pub async fn logoff(mut self) {
        let mut w = self.header(Command::Logoff, 1, 0);
        w.u16(4).u16(0);
        if let Ok(id) = self.send(w).await {
            let _ = self.recv(id).await;
        }
    }

    fn header(&mut self, command: Command, charge: u16, tree: u32) -> Writer {
        request_header(command, charge, self.next_id, tree, self.session_id)
    }

    async fn call(&mut self, w: Writer, what: &str) -> Result<(Header, Vec<u8>), SmbError> {
        let id = self.send(w).await?;
        let (header, response) = self.recv(id).await?;
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
        let len = frame.len() as u32;
        let mut out = Vec::with_capacity(4 + frame.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&frame);
        self.stream.write_all(&out).await?;
        Ok(id)
    }

    /// The final answer to request `id` (interim "pending" answers are skipped).
    async fn recv(&mut self, id: u64) -> Result<(Header, Vec<u8>), SmbError> {
        if let Some(early) = self.early.remove(&id) {
            return Ok(early);
        }
        loop {
            let message = self.read_message().await?;
            let header = Header::parse(&message)?;
            self.credits += u32::from(header.credits);
            if header.flags & FLAG_RESPONSE == 0 {
                return Err(SmbError::Protocol("the server sent a request".into()));
            }
            if header.status == status::PENDING && header.flags & FLAG_ASYNC != 0 {
                continue;
            }
            if header.message_id == id {
                return Ok((header, message));
            }
            self.early.insert(header.message_id, (header, message));
        }
    }

    async fn read_message(&mut self) -> Result<Vec<u8>, SmbError> {
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix).await?;
        let len = u32::from_be_bytes([0, prefix[1], prefix[2], prefix[3]]) as usize;
        if prefix[0] != 0 || len > MAX_FRAME {
            return Err(SmbError::Protocol(format!("bad SMB frame (length {len})")));
        }
        let mut frame = vec![0u8; len];
        self.stream.read_exact(&mut frame).await?;
        match &self.cipher {
            Some(cipher) => cipher.open(&frame).map_err(|e| {
                if frame.starts_with(&wire::PROTOCOL_ID) {
                    SmbError::Encryption(
                        "the server answered without encryption on an encrypted session".into(),
                    )
                } else {
                    e
                }
            }),
            None => {
                if let Some(signer) = &self.signer {
                    // A signed answer must verify; an unsigned one is accepted only from a
                    // server that does not require signing (it then need not sign).
                    let header = Header::parse(&frame)?;
                    let signed = header.flags & FLAG_SIGNED != 0;
                    let must_sign = self.server_security & SIGNING_REQUIRED != 0;
                    let interim = header.status == status::PENDING;
                    if (signed && !signer.verify(&frame)) || (!signed && must_sign && !interim) {
                        return Err(SmbError::Protocol(
                            "an answer from the server is unsigned or badly signed".into(),
                        ));
                    }
                }
                Ok(frame)
            }
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

/// The payload an answer points at: offset field (one byte for READ, four for IOCTL)
/// and length field.
fn data_at(msg: &[u8], offset_at: usize, len_at: usize, byte_offset: bool) -> Result<Vec<u8>, SmbError> {
    let r = Reader::new(msg);
    let offset = if byte_offset {
        r.u8(offset_at)? as usize
    } else {
        r.u32(offset_at)? as usize
    };
    let len = r.u32(len_at)? as usize;
    Ok(r.slice(offset, len)?.to_vec())
}

fn security_buffer(msg: &[u8]) -> Result<&[u8], SmbError> {
    let r = Reader::new(msg);
    let offset = r.u16(HEADER_LEN + 4)? as usize;
    let len = r.u16(HEADER_LEN + 6)? as usize;
    r.slice(offset, len)
}

/// Offer 2.1 and 3.1.1, with SHA-512 pre-authentication integrity and AES-128-GCM.
fn negotiate_request() -> Vec<u8> {
    let mut w = request_header(Command::Negotiate, 0, 0, 0, 0);
    let dialects = [DIALECT_2_0_2, DIALECT_2_1, DIALECT_3_1_1];
    w.u16(36)
        .u16(dialects.len() as u16)
        .u16(SIGNING_ENABLED)
        .u16(0)
        .u32(CAP_LARGE_MTU | CAP_ENCRYPTION)
        .bytes(&random::<16>());
    let context_offset_at = w.len();
    w.u32(0).u16(2).u16(0);
    for d in dialects {
        w.u16(d);
    }
    w.align(8);
    let offset = w.len() as u32;
    w.put_u32(context_offset_at, offset);
    // PREAUTH_INTEGRITY_CAPABILITIES: SHA-512 and a 32-byte salt.
    w.u16(1)
        .u16(38)
        .u32(0)
        .u16(1)
        .u16(32)
        .u16(1)
        .bytes(&random::<32>());
    w.align(8);
    // ENCRYPTION_CAPABILITIES: AES-128-GCM.
    w.u16(2).u16(4).u32(0).u16(1).u16(CIPHER_AES_128_GCM);
    w.buf
}

#[cfg(test)]
mod tests;
