//! An SMB man in the middle of the project's own: a TCP proxy on a loopback address
//! between pushinst and an SMB server that frames the stream by the direct-TCP
//! 4-byte length prefix, reads the SMB2 header of each server answer (MS-SMB2
//! 2.2.1) and, depending on its mode, tampers with one of them the way an attacker
//! on the path would. It counts what it changed, so a test can tell "pushinst
//! refused a tampered session" from "the attack never happened".
//!
//! Requests from pushinst go through untouched (every attack here is on what the
//! client must verify); the proxy only counts the plaintext ones by command and
//! keeps the CREATE requests, so a test can tell what reached the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::samba::{Ace, Acl};

pub const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];
pub const TRANSFORM_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
pub const HEADER_LEN: usize = 64;
/// The SMB2 TRANSFORM_HEADER (MS-SMB2 2.2.41) before the ciphertext.
pub const TRANSFORM_HEADER_LEN: usize = 52;

pub const NEGOTIATE: u16 = 0;
pub const SESSION_SETUP: u16 = 1;
pub const TREE_CONNECT: u16 = 3;
pub const CREATE: u16 = 5;
pub const READ: u16 = 8;
pub const WRITE: u16 = 9;
pub const IOCTL: u16 = 11;

pub const FLAG_RESPONSE: u32 = 0x1;
pub const FLAG_SIGNED: u32 = 0x8;
pub const SIGNING_REQUIRED: u16 = 0x2;
pub const STATUS_SUCCESS: u32 = 0;
pub const STATUS_PENDING: u32 = 0x0000_0103;

/// What the proxy does to the server's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Nothing: the control run.
    Pass,
    /// The successful final SESSION_SETUP answer loses its SIGNED flag and signature.
    StripFinalSessionSetupSignature,
    /// The first TREE_CONNECT answer loses its SIGNED flag and signature.
    StripLaterSignature,
    /// One body byte of the first TREE_CONNECT answer is flipped, its signature kept;
    /// on an encrypted session, one ciphertext byte of the first transform frame
    /// after logon.
    FlipByte,
    /// SIGNING_REQUIRED is cleared from the server's NEGOTIATE SecurityMode: a
    /// downgrade to "signing optional".
    ClearSigningRequired,
    /// Nothing changed; every server frame (without its length prefix) is written to
    /// the directory as `CC-NNNNN.bin` (connection, frame number).
    Record(PathBuf),
}

/// What the proxy saw and did, shared with the test.
#[derive(Debug, Default)]
pub struct Stats {
    /// Frames it tampered with.
    pub changed: AtomicUsize,
    /// Server frames it forwarded.
    pub frames: AtomicUsize,
    /// Connections it accepted.
    pub connections: AtomicUsize,
    /// Final SESSION_SETUP answers (STATUS_SUCCESS) the server sent, and how many of
    /// those carried the SIGNED flag as the server sent them.
    pub final_session_setups: AtomicUsize,
    pub final_session_setups_signed: AtomicUsize,
    /// Plaintext answers after logon that the server sent without the SIGNED flag
    /// (interim STATUS_PENDING answers excepted, MS-SMB2 3.3.4.1.1).
    pub unsigned_after_logon: AtomicUsize,
    /// Transform (encrypted) frames the server sent.
    pub transform_frames: AtomicUsize,
    /// Plaintext requests from the client, by command (encrypted ones are not seen).
    pub requests: [AtomicUsize; 19],
    /// The plaintext CREATE requests from the client, whole.
    pub creates: Mutex<Vec<Vec<u8>>>,
    /// How long each plaintext WRITE request is held before it goes on, in ms.
    pub write_delay_ms: AtomicU64,
}

pub struct SmbProxy {
    /// `ADDR:PORT` to give pushinst instead of the server's.
    pub endpoint: String,
    pub stats: Arc<Stats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SmbProxy {
    /// A proxy on 127.0.0.1 (a port of its own) in front of `upstream` (`ADDR:PORT`).
    pub fn start(upstream: &str, mode: Mode) -> SmbProxy {
        SmbProxy::start_on("127.0.0.1:0", upstream, mode)
    }

    /// A proxy listening on `listen` (e.g. `127.9.9.9:445` for tools that only
    /// speak to port 445).
    pub fn start_on(listen: &str, upstream: &str, mode: Mode) -> SmbProxy {
        SmbProxy::try_start_on(listen, upstream, mode).unwrap_or_else(|e| panic!("bind {listen}: {e}"))
    }

    /// `start_on`, or why `listen` could not be bound.
    pub fn try_start_on(listen: &str, upstream: &str, mode: Mode) -> std::io::Result<SmbProxy> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let endpoint = listener.local_addr().expect("proxy address").to_string();
        let upstream: SocketAddr = upstream.parse().expect("upstream ADDR:PORT");
        if let Mode::Record(dir) = &mode {
            std::fs::create_dir_all(dir).expect("recording directory");
        }
        let stats = Arc::new(Stats::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&stats);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        let n = shared.connections.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(relay(client, upstream, mode.clone(), Arc::clone(&shared), n));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        Ok(SmbProxy {
            endpoint,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Frames the proxy tampered with so far.
    pub fn changed(&self) -> usize {
        self.stats.changed.load(Ordering::SeqCst)
    }

    pub fn count(&self, what: impl Fn(&Stats) -> &AtomicUsize) -> usize {
        what(&self.stats).load(Ordering::SeqCst)
    }

    /// Hold each plaintext WRITE request this long: an upload then lasts long enough
    /// for a test to look at the server while it is under way.
    pub fn slow_writes(&self, delay: Duration) {
        self.stats
            .write_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Plaintext requests with `command` the client sent through the proxy.
    pub fn requests(&self, command: u16) -> usize {
        self.stats.requests[usize::from(command)].load(Ordering::SeqCst)
    }

    /// The plaintext CREATE requests the client sent, whole.
    pub fn creates(&self) -> Vec<Vec<u8>> {
        self.stats.creates.lock().expect("creates").clone()
    }
}

impl Drop for SmbProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, mode: Mode, stats: Arc<Stats>, conn: usize) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let upward = async {
        while let Ok(Some(frame)) = read_frame(&mut client_rx).await {
            if let Some(header) = Header::parse(&frame) {
                if let Some(count) = stats.requests.get(usize::from(header.command)) {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                if header.command == CREATE {
                    stats.creates.lock().expect("creates").push(frame.clone());
                }
                let delay = stats.write_delay_ms.load(Ordering::SeqCst);
                if header.command == WRITE && delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
            }
            if server_tx.write_all(&prefixed(&frame)).await.is_err() {
                break;
            }
        }
        let _ = server_tx.shutdown().await;
    };
    let downward = async {
        let mut tamper = Tamper::new(mode, Arc::clone(&stats), conn);
        while let Ok(Some(mut frame)) = read_frame(&mut server_rx).await {
            tamper.apply(&mut frame);
            stats.frames.fetch_add(1, Ordering::SeqCst);
            if client_tx.write_all(&prefixed(&frame)).await.is_err() {
                break;
            }
        }
        let _ = client_tx.shutdown().await;
    };
    // Either side closing ends the connection, as a real path would.
    tokio::select! {
        _ = upward => {}
        _ = downward => {}
    }
}

fn prefixed(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + 4);
    out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    out.extend_from_slice(frame);
    out
}

/// One direct-TCP frame (MS-SMB2 2.1): a zero byte, a 24-bit big-endian length, the
/// message. `None` at a clean end of stream.
async fn read_frame(rx: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Option<Vec<u8>>> {
    let mut prefix = [0u8; 4];
    match rx.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([0, prefix[1], prefix[2], prefix[3]]) as usize;
    let mut frame = vec![0u8; len];
    rx.read_exact(&mut frame).await?;
    Ok(Some(frame))
}

/// The fields of an SMB2 header the proxy reads.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub status: u32,
    pub command: u16,
    pub flags: u32,
}

impl Header {
    pub fn parse(frame: &[u8]) -> Option<Header> {
        if frame.len() < HEADER_LEN || frame[..4] != PROTOCOL_ID {
            return None;
        }
        Some(Header {
            status: u32::from_le_bytes(frame[8..12].try_into().ok()?),
            command: u16::from_le_bytes(frame[12..14].try_into().ok()?),
            flags: u32::from_le_bytes(frame[16..20].try_into().ok()?),
        })
    }
}

pub struct Tamper {
    mode: Mode,
    pub stats: Arc<Stats>,
    conn: usize,
    seq: usize,
    logged_on: bool,
    /// The one attack of the mode already happened on this connection.
    done: bool,
}

impl Tamper {
    pub fn new(mode: Mode, stats: Arc<Stats>, conn: usize) -> Tamper {
        Tamper {
            mode,
            stats,
            conn,
            seq: 0,
            logged_on: false,
            done: false,
        }
    }

    /// What the proxy does to one server frame.
    pub fn apply(&mut self, frame: &mut [u8]) {
        if let Mode::Record(dir) = &self.mode {
            let path = dir.join(format!("{:02}-{:05}.bin", self.conn, self.seq));
            std::fs::write(path, &*frame).expect("record a frame");
        }
        self.seq += 1;
        if frame.starts_with(&TRANSFORM_ID) {
            self.stats.transform_frames.fetch_add(1, Ordering::SeqCst);
            if self.mode == Mode::FlipByte
                && self.logged_on
                && !self.done
                && frame.len() > TRANSFORM_HEADER_LEN
            {
                frame[TRANSFORM_HEADER_LEN] ^= 0x01;
                self.changed();
            }
            return;
        }
        let Some(header) = Header::parse(frame) else {
            return;
        };
        if header.flags & FLAG_RESPONSE == 0 {
            return;
        }
        let signed = header.flags & FLAG_SIGNED != 0;
        if self.logged_on && !signed && header.status != STATUS_PENDING {
            self.stats.unsigned_after_logon.fetch_add(1, Ordering::SeqCst);
        }
        let final_setup = header.command == SESSION_SETUP && header.status == STATUS_SUCCESS;
        if final_setup {
            self.stats.final_session_setups.fetch_add(1, Ordering::SeqCst);
            if signed {
                self.stats
                    .final_session_setups_signed
                    .fetch_add(1, Ordering::SeqCst);
            }
        }
        match self.mode {
            Mode::StripFinalSessionSetupSignature if final_setup && signed => {
                strip_signature(frame);
                self.changed();
            }
            Mode::StripLaterSignature if header.command == TREE_CONNECT && signed && !self.done => {
                strip_signature(frame);
                self.changed();
            }
            Mode::FlipByte
                if header.command == TREE_CONNECT && !self.done && frame.len() > HEADER_LEN + 4 =>
            {
                // ShareType/ShareFlags: a byte a client acts on.
                frame[HEADER_LEN + 4] ^= 0x01;
                self.changed();
            }
            Mode::ClearSigningRequired if header.command == NEGOTIATE && frame.len() >= HEADER_LEN + 4 => {
                let mode = u16::from_le_bytes([frame[HEADER_LEN + 2], frame[HEADER_LEN + 3]]);
                if mode & SIGNING_REQUIRED != 0 {
                    frame[HEADER_LEN + 2..HEADER_LEN + 4]
                        .copy_from_slice(&(mode & !SIGNING_REQUIRED).to_le_bytes());
                    self.changed();
                }
            }
            _ => {}
        }
        if final_setup {
            self.logged_on = true;
        }
    }

    fn changed(&mut self) {
        self.done = true;
        self.stats.changed.fetch_add(1, Ordering::SeqCst);
    }
}

/// Clear SMB2_FLAGS_SIGNED and zero the signature, as a stripping attacker would.
fn strip_signature(frame: &mut [u8]) {
    let flags = u32::from_le_bytes(frame[16..20].try_into().expect("four bytes")) & !FLAG_SIGNED;
    frame[16..20].copy_from_slice(&flags.to_le_bytes());
    frame[48..64].fill(0);
}

/// The frames a `Record` proxy wrote, in order (connection, then frame number).
pub fn recorded(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// What a CREATE request (MS-SMB2 2.2.13) asked for.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub path: String,
    pub access: u32,
    pub disposition: u32,
    pub options: u32,
    /// Create contexts (MS-SMB2 2.2.13.2): name and data.
    pub contexts: Vec<(String, Vec<u8>)>,
}

impl CreateRequest {
    /// The `SecD` context's security descriptor, decoded.
    pub fn security_descriptor(&self) -> Option<Acl> {
        let (_, data) = self.contexts.iter().find(|(name, _)| name == "SecD")?;
        security_descriptor(data)
    }
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// A plaintext CREATE request frame, decoded; `None` for anything else.
pub fn create_request(frame: &[u8]) -> Option<CreateRequest> {
    let header = Header::parse(frame)?;
    if header.command != CREATE || header.flags & FLAG_RESPONSE != 0 {
        return None;
    }
    let body = HEADER_LEN;
    let name_at = usize::from(u16_at(frame, body + 44)?);
    let name_len = usize::from(u16_at(frame, body + 46)?);
    let units: Vec<u16> = frame
        .get(name_at..name_at + name_len)?
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let mut contexts = Vec::new();
    let start = u32_at(frame, body + 48)? as usize;
    let len = u32_at(frame, body + 52)? as usize;
    if len > 0 {
        let all = frame.get(start..start + len)?;
        let mut at = 0;
        loop {
            let next = u32_at(all, at)? as usize;
            let name_off = usize::from(u16_at(all, at + 4)?);
            let name_len = usize::from(u16_at(all, at + 6)?);
            let data_off = usize::from(u16_at(all, at + 10)?);
            let data_len = u32_at(all, at + 12)? as usize;
            let name = all.get(at + name_off..at + name_off + name_len)?;
            let data = all.get(at + data_off..at + data_off + data_len)?;
            contexts.push((String::from_utf8_lossy(name).into_owned(), data.to_vec()));
            if next == 0 {
                break;
            }
            at += next;
        }
    }
    Some(CreateRequest {
        path: String::from_utf16_lossy(&units),
        access: u32_at(frame, body + 24)?,
        disposition: u32_at(frame, body + 36)?,
        options: u32_at(frame, body + 40)?,
        contexts,
    })
}

/// A SID (MS-DTYP 2.4.2.2) as `S-1-…`.
fn sid(data: &[u8], at: usize) -> Option<String> {
    let revision = *data.get(at)?;
    let count = usize::from(*data.get(at + 1)?);
    let mut authority = [0u8; 8];
    authority[2..].copy_from_slice(data.get(at + 2..at + 8)?);
    let mut text = format!("S-{revision}-{}", u64::from_be_bytes(authority));
    for i in 0..count {
        text.push_str(&format!("-{}", u32_at(data, at + 8 + 4 * i)?));
    }
    Some(text)
}

/// A self-relative SECURITY_DESCRIPTOR (MS-DTYP 2.4.6): control, owner, group and
/// the DACL's ACEs (the SACL is not looked at).
pub fn security_descriptor(data: &[u8]) -> Option<Acl> {
    let control = u16_at(data, 2)?;
    let owner = u32_at(data, 4)? as usize;
    let group = u32_at(data, 8)? as usize;
    let dacl = u32_at(data, 16)? as usize;
    let mut aces = Vec::new();
    if dacl != 0 {
        let count = usize::from(u16_at(data, dacl + 4)?);
        let mut at = dacl + 8;
        for _ in 0..count {
            aces.push(Ace {
                kind: *data.get(at)?,
                flags: *data.get(at + 1)?,
                mask: u32_at(data, at + 4)?,
                sid: sid(data, at + 8)?,
            });
            at += usize::from(u16_at(data, at + 2)?);
        }
    }
    Some(Acl {
        control,
        owner: if owner == 0 {
            String::new()
        } else {
            sid(data, owner)?
        },
        group: if group == 0 {
            String::new()
        } else {
            sid(data, group)?
        },
        aces,
    })
}
