//! Connections per source address and in all, checked at accept before any TLS work: a
//! connection over its address's budget, over the global cap, or opened faster than its
//! address's accept rate is closed at once. The global cap stays below the process's file
//! limit (raised to its hard limit at start), so accept() never fails for lack of
//! descriptors and the state files, the log and the listeners always have some left.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{address_key, LimitsConfig};
use crate::auth::throttle::Throttle;

/// File descriptors kept out of the connection cap: listeners, state files, the log, the
/// runtime's own, and a margin.
pub const FD_RESERVE: usize = 256;
/// The cap when the file limit cannot be read.
const FALLBACK_MAX: usize = 8192;

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every connection the server may hold is open.
    Full,
    /// The address holds its budget of open connections.
    Address,
    /// The address opens connections faster than its accept rate.
    Rate,
}

#[derive(Debug, Default)]
struct Open {
    by_address: HashMap<IpAddr, usize>,
    total: usize,
}

/// See the module documentation.
#[derive(Debug)]
pub struct ConnBudget {
    per_address: usize,
    max: usize,
    open: Mutex<Open>,
    accepts: Throttle,
    refused: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

/// One open connection; dropping it gives the slot back.
#[derive(Debug)]
pub struct ConnPermit {
    budget: Arc<ConnBudget>,
    key: IpAddr,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut g = self.budget.lock();
        g.total = g.total.saturating_sub(1);
        if let Some(n) = g.by_address.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                g.by_address.remove(&self.key);
            }
        }
    }
}

/// Raises the soft file limit to the hard one where the OS has such limits; returns the
/// soft limit in force afterwards.
pub fn raise_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(n) => Some(n),
            Err(e) => {
                log::warn!("cannot raise the file limit: {e}");
                file_limit()
            }
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The soft file limit in force now, where the OS has one.
pub fn file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

impl ConnBudget {
    /// A budget from the config and the process's file limit (`None`: unknown).
    pub fn new(limits: &LimitsConfig, file_limit: Option<u64>) -> ConnBudget {
        let ceiling = match file_limit {
            Some(n) => usize::try_from(n)
                .unwrap_or(usize::MAX)
                .saturating_sub(FD_RESERVE)
                .max(16),
            None => FALLBACK_MAX,
        };
        let max = match limits.max_connections {
            0 => ceiling,
            n => n.min(ceiling),
        };
        ConnBudget {
            per_address: limits.connections_per_address.min(max),
            max,
            open: Mutex::new(Open::default()),
            accepts: Throttle::new(
                limits.accepts_per_address_burst,
                limits.accepts_per_address_per_second.saturating_mul(60),
            ),
            refused: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The global cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The per-address cap.
    pub fn per_address(&self) -> usize {
        self.per_address
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Connections refused since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Takes a slot for a connection from `ip`, or says why not.
    pub fn try_open(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refusal> {
        let key = address_key(ip);
        let r = self.take(key);
        if let Err(why) = r {
            self.note_refusal(key, why);
        }
        r
    }

    fn take(self: &Arc<Self>, key: IpAddr) -> Result<ConnPermit, Refusal> {
        {
            let g = self.lock();
            if g.total >= self.max {
                return Err(Refusal::Full);
            }
            if g.by_address.get(&key).copied().unwrap_or(0) >= self.per_address {
                return Err(Refusal::Address);
            }
        }
        if !self.accepts.take(&key.to_string()) {
            return Err(Refusal::Rate);
        }
        let mut g = self.lock();
        // Checked again: another accept may have taken the last slot meanwhile.
        let n = g.by_address.get(&key).copied().unwrap_or(0);
        if g.total >= self.max {
            return Err(Refusal::Full);
        }
        if n >= self.per_address {
            return Err(Refusal::Address);
        }
        g.total += 1;
        g.by_address.insert(key, n + 1);
        Ok(ConnPermit {
            budget: self.clone(),
            key,
        })
    }

    /// Counts a refusal; warns at most once every 10 s (a flood must not flood the log).
    fn note_refusal(&self, key: IpAddr, why: Refusal) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_warning.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10)) {
            *last = Some(now);
            let what = match why {
                Refusal::Full => format!("all {} connections are in use", self.max),
                Refusal::Address => format!("{key} holds its {} connections", self.per_address),
                Refusal::Rate => format!("{key} opens connections too fast"),
            };
            log::warn!("refusing connections: {what} ({n} refused since start)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_address: usize, max: usize) -> Arc<ConnBudget> {
        let l = LimitsConfig {
            connections_per_address: per_address,
            max_connections: max,
            ..Default::default()
        };
        Arc::new(ConnBudget::new(&l, Some(100_000)))
    }

    #[test]
    fn per_address_then_total() {
        let b = budget(2, 3);
        let a: IpAddr = "127.0.0.66".parse().unwrap();
        let c: IpAddr = "127.0.0.1".parse().unwrap();
        let p1 = b.try_open(a).unwrap();
        let _p2 = b.try_open(a).unwrap();
        assert_eq!(b.try_open(a).unwrap_err(), Refusal::Address);
        let _p3 = b.try_open(c).unwrap();
        assert_eq!(b.try_open(c).unwrap_err(), Refusal::Full);
        drop(p1);
        assert_eq!(b.open(), 2);
        let _p4 = b.try_open(c).unwrap();
        assert_eq!(b.refused(), 2);
    }

    #[test]
    fn the_cap_stays_below_the_file_limit() {
        let l = LimitsConfig {
            max_connections: 1_000_000,
            ..Default::default()
        };
        let b = ConnBudget::new(&l, Some(1024));
        assert_eq!(b.max(), 1024 - FD_RESERVE);
        assert!(b.per_address() <= b.max());
    }

    #[test]
    fn accept_rate_per_address() {
        let l = LimitsConfig {
            accepts_per_address_burst: 3,
            accepts_per_address_per_second: 1,
            ..Default::default()
        };
        let b = Arc::new(ConnBudget::new(&l, Some(100_000)));
        let a: IpAddr = "127.0.0.66".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| b.try_open(a).unwrap()).collect();
        drop(held);
        assert_eq!(b.try_open(a).unwrap_err(), Refusal::Rate);
        assert!(b.try_open("127.0.0.1".parse().unwrap()).is_ok());
    }
}

/// A connection's stream with its slot: the slot is given back when the stream is dropped,
/// wherever it went (an HTTP connection upgraded to a WebSocket hands its stream on, and
/// the slot goes with it).
#[derive(Debug)]
pub struct Guarded<S> {
    inner: S,
    _permit: ConnPermit,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, permit: ConnPermit) -> Guarded<S> {
        Guarded {
            inner,
            _permit: permit,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
