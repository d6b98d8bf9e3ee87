//! RC4, only because MS-NLMP uses it: to send the NTLM key-exchange key and to seal
//! and sign DCE/RPC traffic (MS-NLMP 3.4). Nothing else in pushinst encrypts with it.

use zeroize::Zeroizing;

/// One RC4 key stream. Its state is as secret as the key, so it is wiped on drop.
pub struct Rc4 {
    state: Zeroizing<[u8; 256]>,
    i: u8,
    j: u8,
}

impl Rc4 {
    pub fn new(key: &[u8]) -> Rc4 {
        let mut state = Zeroizing::new([0u8; 256]);
        for (n, s) in state.iter_mut().enumerate() {
            *s = n as u8;
        }
        let mut j = 0u8;
        if !key.is_empty() {
            for i in 0..256 {
                j = j.wrapping_add(state[i]).wrapping_add(key[i % key.len()]);
                state.swap(i, j as usize);
            }
        }
        Rc4 { state, i: 0, j: 0 }
    }

    /// Encrypt or decrypt in place; the stream goes on where the last call stopped.
    pub fn apply(&mut self, data: &mut [u8]) {
        for byte in data {
            self.i = self.i.wrapping_add(1);
            self.j = self.j.wrapping_add(self.state[self.i as usize]);
            self.state.swap(self.i as usize, self.j as usize);
            let k =
                self.state[self.state[self.i as usize].wrapping_add(self.state[self.j as usize]) as usize];
            *byte ^= k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rc4;

    /// RFC 6229's first test vector (40-bit key 0102030405), offset 0.
    #[test]
    fn matches_rfc_6229() {
        let mut stream = [0u8; 16];
        Rc4::new(&[1, 2, 3, 4, 5]).apply(&mut stream);
        assert_eq!(
            stream,
            [
                0xb2, 0x39, 0x63, 0x05, 0xf0, 0x3d, 0xc0, 0x27, 0xcc, 0xc3, 0x52, 0x4a, 0x0a, 0x11, 0x18,
                0xa8
            ]
        );
    }

    #[test]
    fn the_stream_continues_across_calls() {
        let mut whole = [0u8; 10];
        Rc4::new(b"Key").apply(&mut whole);
        let mut cipher = Rc4::new(b"Key");
        let (mut a, mut b) = ([0u8; 4], [0u8; 6]);
        cipher.apply(&mut a);
        cipher.apply(&mut b);
        assert_eq!([&a[..], &b[..]].concat(), whole);
    }
}
