//! A TCP relay that adds a fixed delay each way, standing in for a WAN link where the
//! sandbox has no netem: `relay DELAY_MS LISTEN_ADDR:PORT=TARGET_ADDR:PORT …`.
//! benches/deploy.sh uses it to count the round trips a deploy spends per host.
//!
//! Each direction of each connection reads what arrives, stamps it, and writes it
//! out once the delay has passed, so the link keeps its bandwidth and gains latency.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let delay = Duration::from_millis(
        args.next()
            .ok_or("usage: relay DELAY_MS LISTEN=TARGET …")?
            .parse()?,
    );
    let mut tasks = Vec::new();
    for pair in args {
        let (listen, target) = pair.split_once('=').ok_or("each pair is LISTEN=TARGET")?;
        let listener = TcpListener::bind(listen).await?;
        let target = target.to_string();
        tasks.push(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&target).await {
                        relay(client, server, delay).await;
                    }
                });
            }
        }));
    }
    println!("relay ready");
    for task in tasks {
        task.await?;
    }
    Ok(())
}

async fn relay(client: TcpStream, server: TcpStream, delay: Duration) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = tokio::spawn(direction(client_read, server_write, delay));
    let down = tokio::spawn(direction(server_read, client_write, delay));
    let _ = tokio::join!(up, down);
}

async fn direction(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    // Bounded: a reader far ahead of the delayed writer waits, as a full link would.
    let (send, mut receive) = mpsc::channel::<(Instant, Vec<u8>)>(1024);
    let writer = tokio::spawn(async move {
        while let Some((due, data)) = receive.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&data).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if send
                    .send((Instant::now() + delay, buffer[..n].to_vec()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(send);
    let _ = writer.await;
}
