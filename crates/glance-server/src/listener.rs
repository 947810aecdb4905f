//! The accept loop both TLS listeners share: a bound on open connections, TCP_NODELAY, the TLS
//! handshake under a deadline, and a task a connection until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Connections open at once on one listener; more are refused.
pub const MAX_CONNECTIONS: usize = 4096;

/// Accepts TLS connections until `shutdown` turns true. Each completed handshake goes to
/// `serve` with the peer and the deadline the handshake ran under (`handshake_timeout` from
/// accept), which a protocol may keep using for its own opening messages.
pub async fn accept_tls<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(TlsStream<TcpStream>, SocketAddr, Instant) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, peer)) => {
                    if conns.len() >= MAX_CONNECTIONS {
                        log::warn!("{name}: refusing {peer}: {MAX_CONNECTIONS} connections are open");
                        continue;
                    }
                    log::debug!("{name}: connection from {peer}");
                    let deadline = Instant::now() + handshake_timeout;
                    let acceptor = acceptor.clone();
                    let serve = serve.clone();
                    conns.spawn(async move {
                        let _ = tcp.set_nodelay(true);
                        match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => serve(tls, peer, deadline).await,
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
