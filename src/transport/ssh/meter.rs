//! The bytes a connection has handed to its socket, so an upload can wait for them.
//!
//! russh takes every queued chunk its server's channel window allows (OpenSSH: 2 MiB),
//! encrypts them into one buffer and writes that out; the buffer keeps its size for
//! the connection's life. A host whose socket drains slower than we queue (a busy
//! sshd, a slow link) so holds megabytes of the controller's memory, a hundred hosts
//! at once hundreds. The upload hands russh a chunk only once all but
//! [`IN_FLIGHT`] bytes of what it handed before are in the socket: the kernel's
//! socket buffer, not ours, carries the rest of the window, so a slow link still has
//! its whole window in flight.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

/// Bytes handed to russh but not yet in the socket, at most. russh's buffer grows in
/// powers of two and keeps its size: these, the chunk being handed (stage.rs CHUNK)
/// and the packets' framing stay within 128 KiB a connection (96 KiB here made it
/// 256 KiB: 58.9 against 52.6 MiB peak at 100 hosts at once, same wall time and
/// round trips; smaller chunks cost wall time on a LAN, benches/deploy.sh).
pub(super) const IN_FLIGHT: u64 = 32 * 1024;

/// A stream that counts the bytes written to it.
pub(super) struct Metered<S> {
    inner: S,
    written: watch::Sender<u64>,
}

/// The count of a [`Metered`] stream; ends with the stream (the connection).
#[derive(Clone)]
pub(super) struct Meter(watch::Receiver<u64>);

impl<S> Metered<S> {
    pub(super) fn new(inner: S) -> (Self, Meter) {
        let (written, seen) = watch::channel(0);
        (Metered { inner, written }, Meter(seen))
    }
}

/// The least the socket must have taken before `handed` bytes more go out, when it
/// had taken `base` as the first of them went: all but [`IN_FLIGHT`] of the earlier
/// ones. (The socket also takes the packets' framing, so this errs on the loose side
/// by a few bytes a packet.)
pub(super) fn due(base: u64, handed: u64) -> u64 {
    (base + handed).saturating_sub(IN_FLIGHT)
}

impl Meter {
    pub(super) fn written(&self) -> u64 {
        *self.0.borrow()
    }

    /// Returns once the socket has taken `at_least` bytes; `false` once the
    /// connection is gone.
    pub(super) async fn taken(&mut self, at_least: u64) -> bool {
        self.0.wait_for(|w| *w >= at_least).await.is_ok()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let done = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = done {
            self.written.send_modify(|w| *w += n as u64);
        }
        done
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let done = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = done {
            self.written.send_modify(|w| *w += n as u64);
        }
        done
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Nothing more is handed while more than IN_FLIGHT bytes wait for the socket.
    #[test]
    fn a_chunk_waits_until_all_but_the_cap_is_in_the_socket() {
        assert_eq!(due(1000, 0), 0);
        assert_eq!(due(1000, IN_FLIGHT), 1000);
        assert_eq!(due(1000, IN_FLIGHT + 32 * 1024), 1000 + 32 * 1024);
    }

    /// The meter follows what the socket took; a writer waiting on it goes on as the
    /// peer reads, and learns when the connection is gone.
    #[tokio::test]
    async fn the_meter_follows_the_socket_and_ends_with_it() {
        // A pipe of 64 KiB: writes beyond it wait for the reader.
        let (near, mut far) = tokio::io::duplex(64 * 1024);
        let (mut stream, mut meter) = Metered::new(near);
        let writer = tokio::spawn(async move {
            stream.write_all(&vec![7u8; 256 * 1024]).await.unwrap();
            stream
        });
        assert!(meter.taken(64 * 1024).await);
        assert!(meter.written() <= 64 * 1024 + 1);
        let mut sink = vec![0u8; 256 * 1024];
        far.read_exact(&mut sink).await.unwrap();
        assert!(meter.taken(256 * 1024).await);
        drop(writer.await.unwrap());
        assert!(!meter.taken(256 * 1024 + 1).await);
    }
}
