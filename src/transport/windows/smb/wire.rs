//! Little-endian building and reading of SMB2 messages (MS-SMB2 2.2).

use super::SmbError;

pub const HEADER_LEN: usize = 64;
pub const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];
pub const TRANSFORM_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];

pub const FLAG_RESPONSE: u32 = 0x0000_0001;
pub const FLAG_ASYNC: u32 = 0x0000_0002;
pub const FLAG_SIGNED: u32 = 0x0000_0008;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Command {
    Negotiate = 0,
    SessionSetup = 1,
    Logoff = 2,
    TreeConnect = 3,
    Create = 5,
    Close = 6,
    Read = 8,
    Write = 9,
    Ioctl = 11,
    QueryDirectory = 14,
}

/// Appends little-endian fields to a message.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.buf.resize(self.buf.len() + n, 0);
        self
    }
    /// Pad with zeros to a multiple of `n` bytes.
    pub fn align(&mut self, n: usize) -> &mut Self {
        while !self.buf.len().is_multiple_of(n) {
            self.buf.push(0);
        }
        self
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn put_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
}

/// Reads fields at fixed offsets, refusing to run off the end: a short or hostile
/// answer is an error, never a panic.
pub struct Reader<'a> {
    pub data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }
    pub fn slice(&self, at: usize, len: usize) -> Result<&'a [u8], SmbError> {
        at.checked_add(len)
            .and_then(|end| self.data.get(at..end))
            .ok_or_else(|| {
                SmbError::Protocol(format!(
                    "message too short ({} bytes, wanted {at}+{len})",
                    self.data.len()
                ))
            })
    }
    pub fn u8(&self, at: usize) -> Result<u8, SmbError> {
        Ok(self.slice(at, 1)?[0])
    }
    pub fn u16(&self, at: usize) -> Result<u16, SmbError> {
        let b = self.slice(at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&self, at: usize) -> Result<u32, SmbError> {
        let b = self.slice(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&self, at: usize) -> Result<u64, SmbError> {
        let b = self.slice(at, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// The fixed 64-byte header of a response.
#[derive(Debug, Clone)]
pub struct Header {
    pub status: u32,
    /// Credits the server grants with this answer.
    pub credits: u16,
    pub flags: u32,
    pub message_id: u64,
    pub tree_id: u32,
    pub session_id: u64,
}

impl Header {
    pub fn parse(msg: &[u8]) -> Result<Header, SmbError> {
        let r = Reader::new(msg);
        if r.slice(0, 4)? != PROTOCOL_ID {
            return Err(SmbError::Protocol("not an SMB2 message".into()));
        }
        let flags = r.u32(16)?;
        Ok(Header {
            status: r.u32(8)?,
            credits: r.u16(14)?,
            flags,
            message_id: r.u64(24)?,
            tree_id: if flags & FLAG_ASYNC == 0 { r.u32(36)? } else { 0 },
            session_id: r.u64(40)?,
        })
    }
}

/// A request header; the signature is filled in later if the session signs.
pub fn request_header(
    command: Command,
    credit_charge: u16,
    message_id: u64,
    tree_id: u32,
    session_id: u64,
) -> Writer {
    let mut w = Writer::default();
    w.bytes(&PROTOCOL_ID)
        .u16(64)
        .u16(credit_charge)
        .u32(0)
        .u16(command as u16)
        .u16(256)
        .u32(0)
        .u32(0)
        .u64(message_id)
        .u32(0xFEFF)
        .u32(tree_id)
        .u64(session_id)
        .zeros(16);
    w
}

/// UTF-16LE, as every SMB2 name is sent.
pub fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}
