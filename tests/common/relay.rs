//! A userspace TCP relay in front of one sshd: a slow link (bytes per second, each
//! way) or a link that stops carrying anything after a number of bytes, for one
//! test. Plain threads; each accepted connection gets two.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

pub struct Relay {
    pub addr: SocketAddr,
    /// Client-to-server bytes carried before the link stops; `u64::MAX` never.
    stop_after: Arc<AtomicU64>,
}

impl Relay {
    /// Relay 127.0.0.1:PORT → `target`, at most `rate` bytes per second each way
    /// (`None`: as fast as it goes).
    pub fn start(target: &str, rate: Option<u64>) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay bind");
        let addr = listener.local_addr().expect("relay address");
        let stop_after = Arc::new(AtomicU64::new(u64::MAX));
        let target = target.to_string();
        let stop = stop_after.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                // Up: counts toward the stop; down: stops with it.
                let carried = Arc::new(AtomicU64::new(0));
                let (stop_up, carried_up) = (stop.clone(), carried.clone());
                thread::spawn(move || pump(client, server, rate, stop_up, carried_up, true));
                let stop_down = stop.clone();
                thread::spawn(move || pump(s2, c2, rate, stop_down, carried, false));
            }
        });
        Relay { addr, stop_after }
    }

    /// Once a connection has carried `bytes` from the client, nothing more
    /// moves either way; the connections stay open until the client closes its own.
    pub fn stop_after(&self, bytes: u64) {
        self.stop_after.store(bytes, Ordering::SeqCst);
    }

    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    rate: Option<u64>,
    stop: Arc<AtomicU64>,
    carried: Arc<AtomicU64>,
    up: bool,
) {
    let started = Instant::now();
    let mut sent: u64 = 0;
    // Small reads, so a slow link trickles instead of bursting.
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let stopped = || carried.load(Ordering::SeqCst) >= stop.load(Ordering::SeqCst);
        if stopped() {
            // Held, never delivered; keep reading only to see the end.
            continue;
        }
        let mut chunk = &buf[..n];
        if up {
            let room = stop
                .load(Ordering::SeqCst)
                .saturating_sub(carried.load(Ordering::SeqCst));
            let take = (chunk.len() as u64).min(room) as usize;
            chunk = &chunk[..take];
            carried.fetch_add(take as u64, Ordering::SeqCst);
        }
        if to.write_all(chunk).is_err() {
            break;
        }
        sent += chunk.len() as u64;
        if let Some(rate) = rate {
            let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
    }
    // One side gone: so is the other, as a router dropping the connection would do.
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
