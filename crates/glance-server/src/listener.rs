//! The accept loop both TLS listeners share: the connection budget (per address, accept rate
//! and in all, checked before any TLS work: [`crate::guard::conn`]), TCP_NODELAY, the TLS
//! handshake under a deadline, and a task a connection until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::guard::conn::{ConnBudget, Guarded};

/// A served connection: the TLS stream, carrying its slot of the connection budget.
pub type Conn = Guarded<TlsStream<TcpStream>>;

/// Accepts TLS connections until `shutdown` turns true. Each completed handshake goes to
/// `serve` with the peer and the deadline the handshake ran under (`handshake_timeout` from
/// accept), which a protocol may keep using for its own opening messages.
pub async fn accept_tls<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    budget: Arc<ConnBudget>,
    mut shutdown: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(Conn, SocketAddr, Instant) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, peer)) => {
                    // Over budget: closed at once (dropping the socket), before any TLS work.
                    let Ok(permit) = budget.try_open(peer.ip()) else {
                        continue;
                    };
                    log::debug!("{name}: connection from {peer}");
                    let deadline = Instant::now() + handshake_timeout;
                    let acceptor = acceptor.clone();
                    let serve = serve.clone();
                    conns.spawn(async move {
                        let _ = tcp.set_nodelay(true);
                        match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => serve(Guarded::new(tls, permit), peer, deadline).await,
                            Ok(Err(e)) => log::debug!("{name}: TLS handshake with {peer} failed: {e}"),
                            Err(_) => log::debug!("{name}: TLS handshake with {peer} timed out"),
                        }
                    });
                }
                Err(e) => {
                    log::warn!("{name}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
}
