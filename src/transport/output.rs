//! The end of a command's output, bounded so a chatty installer cannot eat memory.

/// Keep at most this much of each host's output: the end is where the error is.
pub const OUTPUT_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputTail {
    bytes: Vec<u8>,
    dropped: u64,
    limit: usize,
}

impl OutputTail {
    pub fn new(limit: usize) -> Self {
        OutputTail {
            bytes: Vec::new(),
            dropped: 0,
            limit,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        // Trim in bulk, not per byte: only once the buffer is twice the limit.
        if self.bytes.len() > self.limit.saturating_mul(2).max(1) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        if self.bytes.len() > self.limit {
            let excess = self.bytes.len() - self.limit;
            self.bytes.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    /// Count `bytes` as cut before the first byte pushed (the host kept only the end).
    pub fn set_dropped(&mut self, bytes: u64) {
        self.dropped = bytes;
    }

    /// Bytes that were cut from the front.
    pub fn dropped(&self) -> u64 {
        let over = self.bytes.len().saturating_sub(self.limit) as u64;
        self.dropped + over
    }

    pub fn text(&self) -> String {
        let start = self.bytes.len().saturating_sub(self.limit);
        String::from_utf8_lossy(&self.bytes[start..]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bytes() {
        let mut tail = OutputTail::new(10);
        for chunk in ["0123456789", "abcdefghij", "KLMNO"] {
            tail.push(chunk.as_bytes());
        }
        assert_eq!(tail.text(), "fghijKLMNO");
        assert_eq!(tail.dropped(), 15);
    }
}
