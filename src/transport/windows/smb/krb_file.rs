//! What keytabs and ticket caches share: both are files of the MIT formats, read
//! whole but bounded (the size is checked before and after reading, so a file
//! that grows in between is still refused), and both are big-endian records
//! whose every length is checked against what is left before anything is taken.

use std::path::Path;

use zeroize::Zeroizing;

/// Why a bounded file was not read.
pub enum FileError {
    Read(std::io::Error),
    TooLarge(u64),
}

/// The contents of `path`, at most `max` bytes (zeroed when dropped: keys).
pub fn read_bounded(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, FileError> {
    let size = std::fs::metadata(path).map_err(FileError::Read)?.len();
    if size > max {
        return Err(FileError::TooLarge(size));
    }
    let data = Zeroizing::new(std::fs::read(path).map_err(FileError::Read)?);
    if data.len() as u64 > max {
        return Err(FileError::TooLarge(data.len() as u64));
    }
    Ok(data)
}

/// Big-endian fields, front to back.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.0.get(..n)?;
        self.0 = &self.0[n..];
        Some(out)
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    /// Text counted by a 16-bit length (keytabs).
    pub fn string16(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    /// Text counted by a 32-bit length (ticket caches).
    pub fn string32(&mut self) -> Option<String> {
        Some(String::from_utf8_lossy(self.counted32()?).into_owned())
    }
    /// Bytes counted by a 32-bit length (ticket caches).
    pub fn counted32(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}
