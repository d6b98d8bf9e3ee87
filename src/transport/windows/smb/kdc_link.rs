//! Traffic to the KDC: TCP only (RFC 4120 7.2.2), to the address pushinst chose,
//! with pushinst's timeout and an answer bounded before it is allocated. sspi's
//! Kerberos client sends its requests through this.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use sspi::NetworkRequest;

/// No KDC answer pushinst waits for is larger (a ticket with a big PAC is some KiB).
const MAX_KDC_REPLY: usize = 256 * 1024;

/// Traffic to the KDC, as sspi asks for it.
pub struct KdcLink {
    pub kdc: String,
    pub timeout: Duration,
    /// The last answer, to name a refusal; or why none came.
    pub last: Mutex<Option<Result<Vec<u8>, std::io::Error>>>,
}

impl KdcLink {
    fn exchange(&self, request: &[u8]) -> std::io::Result<Vec<u8>> {
        let address =
            if self.kdc.contains(':') && !self.kdc.starts_with('[') && self.kdc.matches(':').count() > 1 {
                format!("[{}]:88", self.kdc)
            } else if self.kdc.contains(':') {
                self.kdc.clone()
            } else {
                format!("{}:88", self.kdc)
            };
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
        for addr in address.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(mut stream) => {
                    stream.set_read_timeout(Some(self.timeout))?;
                    stream.set_write_timeout(Some(self.timeout))?;
                    // sspi's request already carries its four-byte length (RFC 4120 7.2.2).
                    stream.write_all(request)?;
                    let mut len = [0u8; 4];
                    stream.read_exact(&mut len)?;
                    let n = u32::from_be_bytes(len) as usize;
                    if n > MAX_KDC_REPLY {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("the KDC's answer would be {n} bytes"),
                        ));
                    }
                    let mut reply = vec![0u8; 4 + n];
                    reply[..4].copy_from_slice(&len);
                    stream.read_exact(&mut reply[4..])?;
                    return Ok(reply);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

impl sspi::network_client::NetworkClient for KdcLink {
    fn send(&self, request: &NetworkRequest) -> sspi::Result<Vec<u8>> {
        let answer = self.exchange(&request.data);
        let result = match &answer {
            Ok(reply) => Ok(reply.clone()),
            Err(e) => Err(sspi::Error::new(
                sspi::ErrorKind::NoAuthenticatingAuthority,
                e.to_string(),
            )),
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(answer);
        }
        result
    }
}
