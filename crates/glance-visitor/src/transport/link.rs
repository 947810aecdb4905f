//! One connection to the service, direct or tunneled, behind one interface: the session
//! reads [`Message`]s and writes control messages, frame updates and cursor shapes without
//! knowing which transport carries them.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use glance_protocol::framing::{self, Kind, Message};
use glance_protocol::Control;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::conn::{self, DirectStream};
use super::ws::TunnelStream;
use super::TransportError;

/// An established connection.
pub enum Link {
    Direct(Box<DirectStream>),
    Tunnel(Box<TunnelStream>),
}

/// The reading half of a [`Link`].
pub enum LinkReader {
    Direct(ReadHalf<DirectStream>),
    Tunnel(SplitStream<TunnelStream>),
}

/// The writing half of a [`Link`].
pub enum LinkWriter {
    Direct(WriteHalf<DirectStream>),
    Tunnel(SplitSink<TunnelStream, WsMessage>),
}

fn ws_err(e: tokio_tungstenite::tungstenite::Error) -> TransportError {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed => TransportError::Closed,
        E::Io(e) => TransportError::Io(e),
        other => TransportError::WebSocket(other.to_string()),
    }
}

/// Reads the next protocol message from a tunnel (WebSocket pings and pongs are skipped).
async fn ws_read<S>(s: &mut S) -> Result<Message, TransportError>
where
    S: futures_util::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    loop {
        match s.next().await {
            None => return Err(TransportError::Closed),
            Some(Err(e)) => return Err(ws_err(e)),
            Some(Ok(WsMessage::Text(t))) => {
                return Ok(Message::Control(
                    Control::from_json(t.as_bytes()).map_err(framing::FramingError::from)?,
                ))
            }
            Some(Ok(WsMessage::Binary(b))) => return Ok(framing::decode_ws_binary(&b)?),
            Some(Ok(WsMessage::Close(_))) => return Err(TransportError::Closed),
            Some(Ok(_)) => continue,
        }
    }
}

impl Link {
    /// Whether this is the tunnel.
    pub fn is_tunnel(&self) -> bool {
        matches!(self, Link::Tunnel(_))
    }

    pub async fn read_message(&mut self) -> Result<Message, TransportError> {
        match self {
            Link::Direct(s) => conn::read_message(s.as_mut()).await,
            Link::Tunnel(s) => ws_read(s.as_mut()).await,
        }
    }

    pub async fn write_control(&mut self, c: &Control) -> Result<(), TransportError> {
        match self {
            Link::Direct(s) => conn::write_control(s.as_mut(), c).await,
            Link::Tunnel(s) => s
                .send(WsMessage::Text(c.to_json().into()))
                .await
                .map_err(ws_err),
        }
    }

    pub fn split(self) -> (LinkReader, LinkWriter) {
        match self {
            Link::Direct(s) => {
                let (r, w) = tokio::io::split(*s);
                (LinkReader::Direct(r), LinkWriter::Direct(w))
            }
            Link::Tunnel(s) => {
                let (w, r) = (*s).split();
                (LinkReader::Tunnel(r), LinkWriter::Tunnel(w))
            }
        }
    }
}

impl LinkReader {
    pub async fn read_message(&mut self) -> Result<Message, TransportError> {
        match self {
            LinkReader::Direct(r) => conn::read_message(r).await,
            LinkReader::Tunnel(r) => ws_read(r).await,
        }
    }
}

fn binary(kind: Kind, payload: &[u8]) -> WsMessage {
    let mut b = Vec::with_capacity(1 + payload.len());
    b.push(kind as u8);
    b.extend_from_slice(payload);
    WsMessage::Binary(b.into())
}

impl LinkWriter {
    /// Writes a control message and flushes.
    pub async fn write_control(&mut self, c: &Control) -> Result<(), TransportError> {
        match self {
            LinkWriter::Direct(w) => conn::write_control(w, c).await,
            LinkWriter::Tunnel(w) => w
                .send(WsMessage::Text(c.to_json().into()))
                .await
                .map_err(ws_err),
        }
    }

    /// Writes a frame-update payload without flushing.
    pub async fn write_update(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        match self {
            LinkWriter::Direct(w) => conn::write_update(w, payload).await,
            LinkWriter::Tunnel(w) => w.feed(binary(Kind::Update, payload)).await.map_err(ws_err),
        }
    }

    /// Writes a cursor shape without flushing.
    pub async fn write_shape(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        match self {
            LinkWriter::Direct(w) => conn::write_shape(w, payload).await,
            LinkWriter::Tunnel(w) => w.feed(binary(Kind::Cursor, payload)).await.map_err(ws_err),
        }
    }

    pub async fn flush(&mut self) -> Result<(), TransportError> {
        match self {
            LinkWriter::Direct(w) => Ok(w.flush().await?),
            LinkWriter::Tunnel(w) => w.flush().await.map_err(ws_err),
        }
    }

    /// Closes the sending side (a TLS close_notify, or a WebSocket close).
    pub async fn shutdown(&mut self) {
        match self {
            LinkWriter::Direct(w) => {
                let _ = w.shutdown().await;
            }
            LinkWriter::Tunnel(w) => {
                let _ = w.close().await;
            }
        }
    }
}
