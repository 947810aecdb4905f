//! Helpers the attack tests share.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A loopback source address for attacker number `n` (127.0.0.66 + n), distinct from the
/// healthy session's 127.0.0.1.
pub fn attacker_ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66u8.saturating_add(n)))
}

/// Connects a TCP socket to `to` from `from` (any port).
pub async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let sock = match from {
        IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    sock.bind(SocketAddr::new(from, 0))?;
    sock.connect(to).await
}
