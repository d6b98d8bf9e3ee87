//! Reaching a TCP port: the name is resolved first, so a name that does not resolve
//! is told apart from a host that does not answer by type, never by error text.
//! Both transports dial through here and carry a [`DialError`] as it is.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

/// Why no TCP connection came about. Always the host's reachability: class Connect.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The name has no address (or the resolver failed).
    #[error("cannot resolve `{address}`")]
    Resolve {
        address: String,
        #[source]
        source: io::Error,
    },
    /// Every address refused the connection. `hint` names the usual cause for
    /// the protocol being dialled.
    #[error("connection refused on port {port} ({hint})")]
    Refused {
        address: String,
        port: u16,
        hint: &'static str,
    },
    #[error("no route to {address}")]
    NoRoute {
        address: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot connect to {address}:{port}: {source}")]
    Other {
        address: String,
        port: u16,
        #[source]
        source: io::Error,
    },
}

/// Resolve `address`, then connect to its addresses in order; the last failure
/// counts. `refused_hint` is said when the port is closed.
pub(crate) async fn dial(
    address: &str,
    port: u16,
    refused_hint: &'static str,
) -> Result<TcpStream, DialError> {
    let resolve = |source| DialError::Resolve {
        address: address.to_string(),
        source,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((address, port))
        .await
        .map_err(resolve)?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    let e = last.ok_or_else(|| {
        resolve(io::Error::new(
            io::ErrorKind::NotFound,
            "the name resolved to no address",
        ))
    })?;
    let address = address.to_string();
    Err(match e.kind() {
        io::ErrorKind::ConnectionRefused => DialError::Refused {
            address,
            port,
            hint: refused_hint,
        },
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            DialError::NoRoute { address, source: e }
        }
        _ => DialError::Other {
            address,
            port,
            source: e,
        },
    })
}
