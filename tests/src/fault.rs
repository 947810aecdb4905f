//! [`FaultProxy`]: a fault-injecting TCP proxy on loopback for network tests. It forwards
//! connections to a loopback target and can, on command:
//!
//! - drop: close every current connection ([`FaultProxy::drop_all`]);
//! - stall: stop forwarding in both directions while keeping the sockets open
//!   ([`FaultProxy::set_stalled`]);
//! - throttle: limit both directions to a byte rate ([`FaultProxy::set_rate`]);
//! - cut mid-message: reset new connections after a number of bytes
//!   ([`Fault::CutAfter`]);
//! - reset during the TLS handshake: reset new connections as soon as the client's first
//!   bytes (its ClientHello) arrive ([`Fault::ResetHandshake`]);
//! - refuse: stop listening, so connecting is refused ([`FaultProxy::set_refusing`]).
//!
//! Bounded: at most [`MAX_CONNECTIONS`] connections at once; more are closed at once. A reset
//! is a close with `SO_LINGER` 0 (the peer sees RST). Stops when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::{Result, TestError};

/// Connections forwarded at once.
pub const MAX_CONNECTIONS: usize = 64;

/// What happens to connections accepted from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward.
    None,
    /// Reset once the client's first bytes arrive (nothing is forwarded).
    ResetHandshake,
    /// Forward this many bytes (both directions together), then reset both sides.
    CutAfter(u64),
}

#[derive(Debug)]
struct Ctl {
    target: watch::Sender<Option<SocketAddr>>,
    fault: Mutex<Fault>,
    stalled: watch::Sender<bool>,
    /// Bytes a second, each direction; `None`: unlimited.
    rate: watch::Sender<Option<u64>>,
    /// Bumped by [`FaultProxy::drop_all`].
    epoch: watch::Sender<u64>,
    refusing: watch::Sender<bool>,
    slots: Arc<Semaphore>,
    /// Connections accepted so far.
    accepted: std::sync::atomic::AtomicU64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    ctl: Arc<Ctl>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        // Connections end with the epoch's sender.
        self.ctl.epoch.send_modify(|e| *e += 1);
    }
}

fn reset(s: TcpStream) {
    #[allow(deprecated)]
    let _ = s.set_linger(Some(Duration::ZERO));
    drop(s);
}

impl FaultProxy {
    /// A proxy to `target` (a loopback address).
    pub async fn start(target: SocketAddr) -> Result<FaultProxy> {
        let p = FaultProxy::bind().await?;
        p.set_target(target)?;
        Ok(p)
    }

    /// Listens on 127.0.0.1 now; connections wait until [`FaultProxy::set_target`].
    pub async fn bind() -> Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let ctl = Arc::new(Ctl {
            target: watch::channel(None).0,
            fault: Mutex::new(Fault::None),
            stalled: watch::channel(false).0,
            rate: watch::channel(None).0,
            epoch: watch::channel(0).0,
            refusing: watch::channel(false).0,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            accepted: 0.into(),
        });
        let task = tokio::spawn(accept_loop(listener, addr, ctl.clone()));
        Ok(FaultProxy { addr, ctl, task })
    }

    /// Where connections go; only loopback targets are accepted.
    pub fn set_target(&self, target: SocketAddr) -> Result<()> {
        if !target.ip().is_loopback() {
            return Err(TestError::Protocol(format!(
                "FaultProxy forwards to loopback only, not {target}"
            )));
        }
        self.ctl.target.send_replace(Some(target));
        Ok(())
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What happens to connections accepted from now on.
    pub fn set_fault(&self, f: Fault) {
        *self.ctl.fault.lock().unwrap_or_else(|p| p.into_inner()) = f;
    }

    /// Closes every current connection (both sides see the close).
    pub fn drop_all(&self) {
        self.ctl.epoch.send_modify(|e| *e += 1);
    }

    /// Stops (true) or restarts forwarding on every connection; sockets stay open.
    pub fn set_stalled(&self, stalled: bool) {
        self.ctl.stalled.send_replace(stalled);
    }

    /// Limits each direction of every connection to `bytes_per_sec` (`None`: no limit).
    pub fn set_rate(&self, bytes_per_sec: Option<u64>) {
        self.ctl.rate.send_replace(bytes_per_sec.map(|r| r.max(1)));
    }

    /// Stops listening (connecting is refused) or listens again on the same port.
    pub fn set_refusing(&self, refusing: bool) {
        self.ctl.refusing.send_replace(refusing);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.ctl.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn accept_loop(listener: TcpListener, addr: SocketAddr, ctl: Arc<Ctl>) {
    let mut listener = Some(listener);
    let mut refusing = ctl.refusing.subscribe();
    loop {
        let Some(l) = &listener else {
            // Refusing: wait until told to listen again, then rebind the same port.
            if refusing.wait_for(|r| !*r).await.is_err() {
                return;
            }
            let mut tries = 0;
            listener = loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break Some(l),
                    Err(e) if tries < 50 => {
                        tries += 1;
                        log::debug!("fault proxy: rebinding {addr}: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => {
                        log::warn!("fault proxy: cannot listen on {addr} again: {e}");
                        return;
                    }
                }
            };
            continue;
        };
        let accepted = tokio::select! {
            a = l.accept() => a,
            r = refusing.wait_for(|r| *r) => {
                if r.is_err() {
                    return;
                }
                listener = None;
                continue;
            }
        };
        let Ok((client, _)) = accepted else {
            continue;
        };
        ctl.accepted
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let Ok(permit) = ctl.slots.clone().try_acquire_owned() else {
            drop(client);
            continue;
        };
        let fault = *ctl.fault.lock().unwrap_or_else(|p| p.into_inner());
        let ctl = ctl.clone();
        tokio::spawn(async move {
            serve(client, fault, ctl).await;
            drop(permit);
        });
    }
}

async fn serve(mut client: TcpStream, fault: Fault, ctl: Arc<Ctl>) {
    let mut epoch = ctl.epoch.subscribe();
    epoch.mark_unchanged();
    if fault == Fault::ResetHandshake {
        let mut b = [0u8; 1];
        let _ = tokio::time::timeout(Duration::from_secs(5), client.read(&mut b)).await;
        return reset(client);
    }
    let mut target = ctl.target.subscribe();
    let Ok(Some(to)) = target.wait_for(|t| t.is_some()).await.map(|t| *t) else {
        return;
    };
    let Ok(server) = TcpStream::connect(to).await else {
        return reset(client);
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let budget = match fault {
        Fault::CutAfter(n) => Some(Arc::new(std::sync::atomic::AtomicU64::new(n))),
        _ => None,
    };
    if budget.is_some() {
        // Dropping the sockets then resets them.
        #[allow(deprecated)]
        {
            let _ = client.set_linger(Some(Duration::ZERO));
            let _ = server.set_linger(Some(Duration::ZERO));
        }
    }
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let cut = Arc::new(Notify::new());
    let up = pump(cr, sw, ctl.clone(), budget.clone(), cut.clone());
    let down = pump(sr, cw, ctl.clone(), budget, cut.clone());
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = epoch.changed() => {}
        _ = cut.notified() => {}
    }
}

/// Forwards `r` to `w` until EOF, an error, a cut (budget spent) or forever if stalled.
async fn pump(
    mut r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
    ctl: Arc<Ctl>,
    budget: Option<Arc<std::sync::atomic::AtomicU64>>,
    cut_done: Arc<Notify>,
) {
    let mut stalled = ctl.stalled.subscribe();
    let rate = ctl.rate.subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(|s| !*s).await.is_err() {
            return;
        }
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // A stall that began while reading holds these bytes too.
        if stalled.wait_for(|s| !*s).await.is_err() {
            return;
        }
        let mut n = n;
        let mut cut = false;
        if let Some(b) = &budget {
            let left = b
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |l| Some(l.saturating_sub(n as u64)),
                )
                .unwrap_or(0);
            if left <= n as u64 {
                n = left as usize;
                cut = true;
            }
        }
        for chunk in buf[..n].chunks(1024) {
            let r = *rate.borrow();
            if let Some(r) = r {
                tokio::time::sleep(Duration::from_secs_f64(chunk.len() as f64 / r as f64)).await;
            }
            if w.write_all(chunk).await.is_err() {
                return;
            }
        }
        if cut {
            // The caller drops both connections: with SO_LINGER 0, both are reset.
            cut_done.notify_one();
            std::future::pending::<()>().await;
        }
    }
    let _ = w.shutdown().await;
}
