//! NDR 2.0 (C706 chapter 14), little-endian, the few shapes MS-SCMR and MS-TSCH use:
//! 32-bit integers, context handles, conformant varying UTF-16 strings behind ref
//! and unique pointers.

use super::RpcError;

/// A context handle the server gave us (20 bytes, opaque).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(pub [u8; 20]);

#[derive(Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
    next_referent: u32,
}

impl Encoder {
    fn align(&mut self, n: usize) {
        while !self.buf.len().is_multiple_of(n) {
            self.buf.push(0);
        }
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn handle(&mut self, h: &Handle) -> &mut Self {
        self.align(4);
        self.buf.extend_from_slice(&h.0);
        self
    }

    /// `[string] wchar_t*` as a ref pointer: the string itself, NUL included.
    pub fn string(&mut self, text: &str) -> &mut Self {
        let units: Vec<u16> = text.encode_utf16().chain(std::iter::once(0)).collect();
        self.u32(units.len() as u32).u32(0).u32(units.len() as u32);
        for u in units {
            self.buf.extend_from_slice(&u.to_le_bytes());
        }
        self
    }

    /// `[string, unique] wchar_t*`: a referent id then the string, or 0 for NULL.
    pub fn unique_string(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => {
                let id = self.referent();
                self.u32(id).string(text)
            }
            None => self.u32(0),
        }
    }

    /// Any `[unique]` pointer left NULL.
    pub fn null(&mut self) -> &mut Self {
        self.u32(0)
    }

    /// impacket numbers referents from 0x20000 in steps of 4; do the same, so the
    /// golden vectors it produced compare byte for byte.
    fn referent(&mut self) -> u32 {
        if self.next_referent == 0 {
            self.next_referent = 0x0002_0000;
        }
        let id = self.next_referent;
        self.next_referent += 4;
        id
    }
}

pub struct Decoder<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Decoder { data, at: 0 }
    }

    fn take(&mut self, n: usize, align: usize) -> Result<&'a [u8], RpcError> {
        let short = || RpcError::Protocol(format!("answer too short ({} bytes)", self.data.len()));
        let start = self.at.checked_next_multiple_of(align).ok_or_else(short)?;
        let end = start.checked_add(n).ok_or_else(short)?;
        let bytes = self.data.get(start..end).ok_or_else(short)?;
        self.at = end;
        Ok(bytes)
    }

    pub fn u32(&mut self) -> Result<u32, RpcError> {
        let b = self.take(4, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Opaque bytes (a GUID).
    pub fn handle_bytes(&mut self, n: usize) -> Result<&'a [u8], RpcError> {
        self.take(n, 4)
    }

    pub fn handle(&mut self) -> Result<Handle, RpcError> {
        let mut h = [0u8; 20];
        h.copy_from_slice(self.take(20, 4)?);
        Ok(Handle(h))
    }

    /// A `[unique]` pointer to a DWORD.
    pub fn unique_u32(&mut self) -> Result<Option<u32>, RpcError> {
        match self.u32()? {
            0 => Ok(None),
            _ => Ok(Some(self.u32()?)),
        }
    }

    /// A `[string, unique] wchar_t*`.
    pub fn unique_string(&mut self) -> Result<Option<String>, RpcError> {
        if self.u32()? == 0 {
            return Ok(None);
        }
        let _max = self.u32()?;
        let _offset = self.u32()?;
        let count = self.u32()? as usize;
        let bytes = self.take(count.saturating_mul(2), 2)?;
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Ok(Some(
            String::from_utf16_lossy(&units)
                .trim_end_matches('\0')
                .to_string(),
        ))
    }
}
