//! Helpers shared by the fuzz targets: splitting an input into a few parameters, a byte stream
//! that arrives in input-chosen chunks, and a small tokio runtime.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// Reads small parameters off the front of a fuzz input; missing bytes read as 0.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }

    /// Everything not read yet.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// An in-memory stream handing out its bytes in chunks whose sizes cycle through `sizes`
/// (0 or an empty list: everything that is left at once), the way TCP and TLS split
/// messages at arbitrary places.
#[derive(Debug)]
pub struct ChunkedReader {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl ChunkedReader {
    pub fn new(data: &[u8], sizes: &[u8]) -> ChunkedReader {
        ChunkedReader {
            data: data.to_vec(),
            pos: 0,
            sizes: sizes.iter().map(|&s| s as usize).collect(),
            next: 0,
        }
    }

    fn chunk(&mut self) -> usize {
        let left = self.data.len() - self.pos;
        if self.sizes.is_empty() {
            return left;
        }
        let s = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        if s == 0 {
            left
        } else {
            s.min(left)
        }
    }
}

impl AsyncRead for ChunkedReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.chunk().min(buf.remaining());
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// A single-threaded runtime with timers, for the async readers under test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime starts")
}
