//! Reaching a TCP port: the name is resolved first, so a name that does not resolve
//! is told apart from a host that does not answer by type, never by error text.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

/// Why no TCP connection came about.
#[derive(Debug)]
pub(crate) enum DialError {
    /// The name has no address (or the resolver failed).
    Resolve(io::Error),
    /// Every address refused the connection.
    Refused,
    /// No route to the host or its network.
    NoRoute(io::Error),
    /// Anything else the connect returned.
    Other(io::Error),
}

/// Resolve `address`, then connect to its addresses in order; the last failure counts.
pub(crate) async fn dial(address: &str, port: u16) -> Result<TcpStream, DialError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((address, port))
        .await
        .map_err(DialError::Resolve)?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    let e = last.ok_or_else(|| {
        DialError::Resolve(io::Error::new(
            io::ErrorKind::NotFound,
            "the name resolved to no address",
        ))
    })?;
    Err(match e.kind() {
        io::ErrorKind::ConnectionRefused => DialError::Refused,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => DialError::NoRoute(e),
        _ => DialError::Other(e),
    })
}
