//! The SMB2 requests pushinst sends and the responses it reads (MS-SMB2 2.2), named
//! as the specification names them. Every response is checked against the bytes
//! that actually arrived and against what was asked for before anything is
//! allocated from it: a hostile server costs an error, never a panic or an
//! allocation of its choosing.

use super::SmbError;
use super::wire::{HEADER_LEN, Reader, Writer, utf16};

/// An open file or pipe (SMB2_FILEID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId(pub [u8; 16]);

/// The FileId of a request that is not about a file (FSCTL_VALIDATE_NEGOTIATE_INFO).
pub const NO_FILE: FileId = FileId([0xFF; 16]);

fn too_much(what: &str, got: usize, limit: usize) -> SmbError {
    SmbError::Protocol(format!(
        "the server's {what} is {got} bytes, more than the {limit} asked for"
    ))
}

/// The fixed part of a response body must be what the specification says.
fn structure(r: &Reader, size: u16, what: &str) -> Result<(), SmbError> {
    let got = r.u16(HEADER_LEN)?;
    if got != size {
        return Err(SmbError::Protocol(format!(
            "the server's {what} has StructureSize {got}, not {size}"
        )));
    }
    Ok(())
}

/// The variable part an answer points at, no longer than what was asked for and
/// wholly inside the message.
fn payload<'a>(
    r: &Reader<'a>,
    offset: usize,
    len: usize,
    asked: u32,
    what: &str,
) -> Result<&'a [u8], SmbError> {
    if len > asked as usize {
        return Err(too_much(what, len, asked as usize));
    }
    if len == 0 { Ok(&[]) } else { r.slice(offset, len) }
}

/// SMB2 SESSION_SETUP Response (2.2.6).
pub struct SessionSetupResponse<'a> {
    pub session_flags: u16,
    pub security_buffer: &'a [u8],
}

impl<'a> SessionSetupResponse<'a> {
    pub const IS_GUEST: u16 = 0x0001;
    pub const IS_NULL: u16 = 0x0002;
    pub const ENCRYPT_DATA: u16 = 0x0004;

    pub fn parse(msg: &'a [u8]) -> Result<Self, SmbError> {
        let r = Reader::new(msg);
        structure(&r, 9, "SESSION_SETUP answer")?;
        let offset = r.u16(HEADER_LEN + 4)? as usize;
        let len = r.u16(HEADER_LEN + 6)? as usize;
        Ok(SessionSetupResponse {
            session_flags: r.u16(HEADER_LEN + 2)?,
            security_buffer: if len == 0 { &[] } else { r.slice(offset, len)? },
        })
    }
}

/// SMB2 SESSION_SETUP Request (2.2.5).
pub fn session_setup_request(w: &mut Writer, security_mode: u8, token: &[u8]) -> Result<(), SmbError> {
    let len = u16::try_from(token.len()).map_err(|_| SmbError::Protocol("logon token too long".into()))?;
    w.u16(25)
        .u8(0)
        .u8(security_mode)
        .u32(0)
        .u32(0)
        .u16((HEADER_LEN + 24) as u16)
        .u16(len)
        .u64(0)
        .bytes(token);
    Ok(())
}

/// SMB2 TREE_CONNECT Request (2.2.9).
pub fn tree_connect_request(w: &mut Writer, path: &str) {
    let path = utf16(path);
    w.u16(9)
        .u16(0)
        .u16((HEADER_LEN + 8) as u16)
        .u16(path.len() as u16)
        .bytes(&path);
}

/// SMB2 TREE_CONNECT Response (2.2.10).
pub struct TreeConnectResponse {
    pub share_flags: u32,
}

impl TreeConnectResponse {
    pub const SHAREFLAG_ENCRYPT_DATA: u32 = 0x0000_8000;

    pub fn parse(msg: &[u8]) -> Result<Self, SmbError> {
        let r = Reader::new(msg);
        structure(&r, 16, "TREE_CONNECT answer")?;
        Ok(TreeConnectResponse {
            share_flags: r.u32(HEADER_LEN + 4)?,
        })
    }
}

/// SMB2 CREATE Request (2.2.13), with an optional security descriptor.
pub struct CreateRequest<'a> {
    pub name: &'a str,
    pub desired_access: u32,
    pub create_disposition: u32,
    pub create_options: u32,
    /// SMB2_CREATE_SD_BUFFER ("SecD", 2.2.13.2.2): the new file's security.
    pub security_descriptor: Option<&'a [u8]>,
}

/// FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE.
const SHARE_ALL: u32 = 0x7;
const IMPERSONATION: u32 = 2;
const CREATE_FIXED: usize = 56;

impl CreateRequest<'_> {
    pub fn write(&self, w: &mut Writer) -> Result<(), SmbError> {
        let name = utf16(self.name.trim_start_matches('\\'));
        let name_len = u16::try_from(name.len()).map_err(|_| SmbError::Protocol("path too long".into()))?;
        let name_offset = HEADER_LEN + CREATE_FIXED;
        // Create contexts start 8-aligned after the name.
        let contexts_offset = (name_offset + name.len().max(1)).next_multiple_of(8);
        let context = self.security_descriptor.map(create_context_secd);
        let (ctx_offset, ctx_len) = match &context {
            Some(c) => (contexts_offset as u32, c.len() as u32),
            None => (0, 0),
        };
        w.u16(57)
            .u8(0)
            .u8(0)
            .u32(IMPERSONATION)
            .u64(0)
            .u64(0)
            .u32(self.desired_access)
            .u32(0)
            .u32(SHARE_ALL)
            .u32(self.create_disposition)
            .u32(self.create_options)
            .u16(name_offset as u16)
            .u16(name_len)
            .u32(ctx_offset)
            .u32(ctx_len)
            .bytes(&name);
        if name.is_empty() {
            // The buffer is never empty, even for the share's root.
            w.u8(0);
        }
        if let Some(context) = context {
            while w.len() < contexts_offset {
                w.u8(0);
            }
            w.bytes(&context);
        }
        Ok(())
    }
}

/// One SMB2_CREATE_CONTEXT named "SecD" carrying a security descriptor.
fn create_context_secd(descriptor: &[u8]) -> Vec<u8> {
    let mut c = Writer::default();
    // Next, NameOffset, NameLength, Reserved, DataOffset, DataLength, Name, pad, Data.
    c.u32(0)
        .u16(16)
        .u16(4)
        .u16(0)
        .u16(24)
        .u32(descriptor.len() as u32)
        .bytes(b"SecD")
        .zeros(4)
        .bytes(descriptor);
    c.buf
}

/// SMB2 CREATE Response (2.2.14).
pub struct CreateResponse {
    pub file_id: FileId,
    pub end_of_file: u64,
}

impl CreateResponse {
    pub fn parse(msg: &[u8]) -> Result<Self, SmbError> {
        let r = Reader::new(msg);
        structure(&r, 89, "CREATE answer")?;
        let mut id = [0u8; 16];
        id.copy_from_slice(r.slice(HEADER_LEN + 64, 16)?);
        Ok(CreateResponse {
            file_id: FileId(id),
            end_of_file: r.u64(HEADER_LEN + 48)?,
        })
    }
}

/// SMB2 CLOSE Request (2.2.15).
pub fn close_request(w: &mut Writer, file: FileId) {
    w.u16(24).u16(0).u32(0).bytes(&file.0);
}

/// SMB2 WRITE Request (2.2.21).
pub fn write_request(w: &mut Writer, file: FileId, offset: u64, data: &[u8]) {
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
}

/// SMB2 WRITE Response (2.2.22).
pub struct WriteResponse {
    pub count: u32,
}

impl WriteResponse {
    pub fn parse(msg: &[u8]) -> Result<Self, SmbError> {
        let r = Reader::new(msg);
        structure(&r, 17, "WRITE answer")?;
        Ok(WriteResponse {
            count: r.u32(HEADER_LEN + 4)?,
        })
    }
}

/// SMB2 READ Request (2.2.19).
pub fn read_request(w: &mut Writer, file: FileId, offset: u64, length: u32) {
    w.u16(49)
        .u8(0x50)
        .u8(0)
        .u32(length)
        .u64(offset)
        .bytes(&file.0)
        .u32(0)
        .u32(0)
        .u32(0)
        .u16(0)
        .u16(0)
        .u8(0);
}

/// SMB2 READ Response (2.2.20).
pub struct ReadResponse<'a> {
    pub data: &'a [u8],
}

impl<'a> ReadResponse<'a> {
    /// `asked` is the Length of the request: a server may send less, never more.
    pub fn parse(msg: &'a [u8], asked: u32) -> Result<Self, SmbError> {
        let r = Reader::new(msg);
        structure(&r, 17, "READ answer")?;
        let offset = r.u8(HEADER_LEN + 2)? as usize;
        let len = r.u32(HEADER_LEN + 4)? as usize;
        Ok(ReadResponse {
            data: payload(&r, offset, len, asked, "READ answer")?,
        })
    }
}

/// SMB2 IOCTL Request (2.2.31).
pub struct IoctlRequest<'a> {
    pub ctl_code: u32,
    pub file: FileId,
    pub input: &'a [u8],
    pub max_output_response: u32,
}

/// SMB2_0_IOCTL_IS_FSCTL.
const IOCTL_IS_FSCTL: u32 = 0x0000_0001;

impl IoctlRequest<'_> {
    pub fn write(&self, w: &mut Writer) {
        w.u16(57)
            .u16(0)
            .u32(self.ctl_code)
            .bytes(&self.file.0)
            .u32((HEADER_LEN + 56) as u32)
            .u32(self.input.len() as u32)
            .u32(0)
            .u32(0)
            .u32(0)
            .u32(self.max_output_response)
            .u32(IOCTL_IS_FSCTL)
            .u32(0)
            .bytes(self.input);
    }
}

/// SMB2 IOCTL Response (2.2.32).
pub struct IoctlResponse<'a> {
    pub output: &'a [u8],
}

impl<'a> IoctlResponse<'a> {
    pub fn parse(msg: &'a [u8], max_output: u32) -> Result<Self, SmbError> {
        let r = Reader::new(msg);
        structure(&r, 49, "IOCTL answer")?;
        let offset = r.u32(HEADER_LEN + 32)? as usize;
        let len = r.u32(HEADER_LEN + 36)? as usize;
        Ok(IoctlResponse {
            output: payload(&r, offset, len, max_output, "IOCTL answer")?,
        })
    }
}

/// FileNamesInformation (MS-FSCC 2.4.28), the listing class pushinst asks for.
pub const FILE_NAMES_INFORMATION: u8 = 12;
const SMB2_RESTART_SCANS: u8 = 0x01;

/// SMB2 QUERY_DIRECTORY Request (2.2.33) for every name (`*`).
pub fn query_directory_request(w: &mut Writer, dir: FileId, restart: bool, output_buffer_length: u32) {
    let pattern = utf16("*");
    w.u16(33)
        .u8(FILE_NAMES_INFORMATION)
        .u8(if restart { SMB2_RESTART_SCANS } else { 0 })
        .u32(0)
        .bytes(&dir.0)
        .u16((HEADER_LEN + 32) as u16)
        .u16(pattern.len() as u16)
        .u32(output_buffer_length)
        .bytes(&pattern);
}

/// SMB2 QUERY_DIRECTORY Response (2.2.34).
pub struct QueryDirectoryResponse<'a> {
    buffer: &'a [u8],
}

/// NTFS names are at most 255 UTF-16 units.
const MAX_NAME_BYTES: usize = 510;

impl<'a> QueryDirectoryResponse<'a> {
    pub fn parse(msg: &'a [u8], asked: u32) -> Result<Self, SmbError> {
        let r = Reader::new(msg);
        structure(&r, 9, "QUERY_DIRECTORY answer")?;
        let offset = r.u16(HEADER_LEN + 2)? as usize;
        let len = r.u32(HEADER_LEN + 4)? as usize;
        Ok(QueryDirectoryResponse {
            buffer: payload(&r, offset, len, asked, "directory listing")?,
        })
    }

    /// The names, in the order the entries chain them. Each entry must lie wholly
    /// in the buffer and the chain must move forward, so a loop cannot be built.
    pub fn names(&self) -> Result<Vec<String>, SmbError> {
        let entries = Reader::new(self.buffer);
        let mut names = Vec::new();
        let mut at = 0usize;
        while !self.buffer.is_empty() {
            let next = entries.u32(at)? as usize;
            let name_len = entries.u32(at + 8)? as usize;
            if name_len > MAX_NAME_BYTES || !name_len.is_multiple_of(2) {
                return Err(SmbError::Protocol(format!(
                    "a name in the server's directory listing is {name_len} bytes long"
                )));
            }
            let raw = entries.slice(at + 12, name_len)?;
            let units: Vec<u16> = raw
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            names.push(String::from_utf16_lossy(&units));
            if next == 0 {
                break;
            }
            if next < 12 + name_len {
                return Err(SmbError::Protocol(
                    "the server's directory listing has overlapping entries".into(),
                ));
            }
            at = at
                .checked_add(next)
                .ok_or_else(|| SmbError::Protocol("the server's directory listing overflows".into()))?;
        }
        Ok(names)
    }
}

/// SMB2 LOGOFF Request (2.2.7).
pub fn logoff_request(w: &mut Writer) {
    w.u16(4).u16(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::windows::smb::wire::{Command, request_header};

    fn response(body: &[u8]) -> Vec<u8> {
        let mut msg = request_header(Command::Read, 1, 1, 0, 0).buf;
        msg.extend_from_slice(body);
        msg
    }

    #[test]
    fn a_read_answer_longer_than_asked_is_refused_before_anything_is_copied() {
        let mut body = Writer::default();
        body.u16(17)
            .u8(80)
            .u8(0)
            .u32(0xFFFF_FFF0)
            .u32(0)
            .u32(0)
            .bytes(&[1; 8]);
        let msg = response(&body.buf);
        assert!(ReadResponse::parse(&msg, 4096).is_err());
        let mut honest = Writer::default();
        honest.u16(17).u8(80).u8(0).u32(8).u32(0).u32(0).bytes(&[1; 8]);
        assert_eq!(
            ReadResponse::parse(&response(&honest.buf), 4096).unwrap().data,
            &[1; 8]
        );
    }

    #[test]
    fn a_listing_that_loops_or_overlaps_is_refused() {
        let entry = |next: u32, name: &str| {
            let name = utf16(name);
            let mut e = Writer::default();
            e.u32(next).u32(0).u32(name.len() as u32).bytes(&name);
            e.buf
        };
        let parse = |buffer: Vec<u8>| {
            let mut body = Writer::default();
            body.u16(9)
                .u16((HEADER_LEN + 8) as u16)
                .u32(buffer.len() as u32)
                .bytes(&buffer);
            let msg = response(&body.buf);
            QueryDirectoryResponse::parse(&msg, 65536).and_then(|r| r.names())
        };
        let mut two = entry(16, "ab");
        two.extend(entry(0, "cd"));
        assert_eq!(parse(two).unwrap(), ["ab", "cd"]);
        assert!(parse(entry(4, "ab")).is_err(), "next inside the entry itself");
        assert!(parse(entry(16, "ab")).is_err(), "next past the end");
    }

    #[test]
    fn a_create_with_a_descriptor_carries_it_in_an_aligned_secd_context() {
        let sd = [7u8; 20];
        let mut w = request_header(Command::Create, 1, 1, 0, 0);
        CreateRequest {
            name: "pushinst-x",
            desired_access: 1,
            create_disposition: 2,
            create_options: 1,
            security_descriptor: Some(&sd),
        }
        .write(&mut w)
        .unwrap();
        let r = Reader::new(&w.buf);
        let offset = r.u32(HEADER_LEN + 48).unwrap() as usize;
        let len = r.u32(HEADER_LEN + 52).unwrap() as usize;
        assert_eq!(offset % 8, 0);
        let context = r.slice(offset, len).unwrap();
        assert_eq!(&context[16..20], b"SecD");
        assert_eq!(&context[24..], &sd);
    }
}
