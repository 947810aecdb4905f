//! [`ThrottleProxy`]: a TCP proxy on 127.0.0.1 that forwards to a target and limits the
//! client-to-target direction to a byte rate, like a slow uplink. Stops when dropped.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::Result;

/// See the module documentation.
#[derive(Debug)]
pub struct ThrottleProxy {
    addr: SocketAddr,
    target: tokio::sync::watch::Sender<Option<SocketAddr>>,
    task: JoinHandle<()>,
}

impl Drop for ThrottleProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ThrottleProxy {
    /// Proxies to `target`, passing at most `up_bytes_per_sec` from client to target (the
    /// other direction is not limited).
    pub async fn start(target: SocketAddr, up_bytes_per_sec: u64) -> Result<ThrottleProxy> {
        let p = ThrottleProxy::bind(up_bytes_per_sec).await?;
        p.set_target(target);
        Ok(p)
    }

    /// Listens now; connections wait until [`ThrottleProxy::set_target`] says where to go
    /// (so a server can be told the proxy's address before it starts).
    pub async fn bind(up_bytes_per_sec: u64) -> Result<ThrottleProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (target, target_rx) = tokio::sync::watch::channel(None::<SocketAddr>);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let mut target_rx = target_rx.clone();
                conns.spawn(async move {
                    let Ok(Some(target)) = target_rx.wait_for(|t| t.is_some()).await.map(|t| *t)
                    else {
                        return;
                    };
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 4096];
                        let start = Instant::now();
                        let mut sent: u64 = 0;
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            // Pace in small slices so the rate holds within a few ms.
                            for chunk in buf[..n].chunks(1024) {
                                sent += chunk.len() as u64;
                                let due =
                                    Duration::from_secs_f64(sent as f64 / up_bytes_per_sec as f64);
                                if let Some(wait) = due.checked_sub(start.elapsed()) {
                                    tokio::time::sleep(wait).await;
                                }
                                if sw.write_all(chunk).await.is_err() {
                                    return;
                                }
                            }
                        }
                        let _ = sw.shutdown().await;
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Ok(ThrottleProxy { addr, target, task })
    }

    /// Where connections go.
    pub fn set_target(&self, target: SocketAddr) {
        let _ = self.target.send(Some(target));
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
