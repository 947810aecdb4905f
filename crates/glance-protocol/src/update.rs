//! Frame updates: the binary payload of kind-2 messages, a writer and a reference encoder for
//! the visitor, and [`Framebuffer`], the reconstruction every agent performs.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! header  u8 flags | u32 seq | u16 width | u16 height | u16 rect_count      (11 bytes)
//! rect    u16 x | u16 y | u16 w | u16 h | u8 encoding | u32 len | len bytes (13 + len)
//! ```
//!
//! `width`/`height` are the whole display's size. Rects are applied in order. A frame may be
//! split over several messages with the same `seq`; the last carries [`FLAG_FINAL`].
//!
//! The stream encodings ([`Encoding::ZlibStream`], [`Encoding::PaletteStream`]) compress
//! against everything sent before on the connection: their data are pieces of one raw DEFLATE
//! stream that starts at an update flagged [`FLAG_STREAM_RESET`] (see [`InflateStream`] and
//! [`RectEncoder::set_streaming`]).

use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::Compression;

use crate::limits::{MAX_BINARY_LEN, MAX_DISPLAY_DIM, MAX_DISPLAY_PIXELS};

/// The update covers the whole display: any agent may apply it, whatever it had before.
pub const FLAG_KEY: u8 = 1;
/// A key frame sent only for agents that need one (late joiners, agents that fell behind);
/// agents already in step skip it.
pub const FLAG_REFRESH_ONLY: u8 = 2;
/// The last message of this frame: agents present the picture after it.
pub const FLAG_FINAL: u8 = 4;
/// The connection's compression stream starts afresh before this update's first rect: every
/// agent drops the history of the stream encodings. Only on updates every agent in step
/// applies (never with [`FLAG_REFRESH_ONLY`]).
pub const FLAG_STREAM_RESET: u8 = 8;

/// What every DEFLATE sync flush ends with (an empty stored block); stream rects leave it out
/// and decoders put it back (as WebSocket permessage-deflate does, RFC 7692).
pub const SYNC_TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// Bytes of the update header.
pub const HEADER_LEN: usize = 11;
/// Bytes of a rect header.
pub const RECT_HEADER_LEN: usize = 13;

/// How a rect's pixels are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    /// 3 bytes R, G, B: the whole rect is that colour.
    Solid = 0,
    /// A zlib stream (RFC 1950) of w*h*3 bytes: rows top to bottom, pixels R, G, B.
    ZlibRgb = 1,
    /// 4 bytes u16 src_x, u16 src_y: copy w*h pixels from that position of the picture as it
    /// is when this rect is applied (VNC's CopyRect).
    Copy = 2,
    /// Text and UI with few colours: u8 n-1 (n = 2..=256 colours), n*3 bytes R, G, B, then a
    /// zlib stream of w*h colour indices, one byte each (unpacked, so that repeated glyphs
    /// stay byte-aligned for zlib's matcher).
    Palette = 3,
    /// Photographic content: a baseline JPEG (SOF0, 8-bit, greyscale or YCbCr) of exactly
    /// w x h pixels, decoded to R, G, B. Lossy: the visitor sends the same pixels losslessly
    /// once they have stopped changing (see docs/PROTOCOL.md), so pictures end exact.
    Jpeg = 4,
    /// As [`Encoding::ZlibRgb`], but the w*h*3 bytes are the next piece of the connection's
    /// raw DEFLATE stream (RFC 1951): the bytes up to and including a sync flush, without its
    /// last 4 bytes ([`SYNC_TAIL`]). Back-references may reach into earlier rects.
    ZlibStream = 5,
    /// Few colours, against history: u8 n-1 (n = 2..=256), then the next piece of the
    /// connection's stream (as in [`Encoding::ZlibStream`]) giving n*3 bytes R, G, B of the
    /// palette followed by the w*h colour indices (the palette, which repeats from rect to
    /// rect, compresses too).
    PaletteStream = 6,
}

/// The zlib level of [`RectEncoder`]'s stream unless set otherwise.
pub const DEFAULT_STREAM_LEVEL: u32 = 6;

/// Most colours a PALETTE rect may have.
pub const MAX_PALETTE: usize = 256;

/// Encoding ids [`WireStats`] counts (every id below this).
pub const ENCODING_SLOTS: usize = 8;

impl Encoding {
    /// The protocol's name for the encoding (docs/PROTOCOL.md).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Solid => "solid",
            Encoding::ZlibRgb => "zlib",
            Encoding::Copy => "copy",
            Encoding::Palette => "palette",
            Encoding::Jpeg => "jpeg",
            Encoding::ZlibStream => "zlib_stream",
            Encoding::PaletteStream => "palette_stream",
        }
    }

    pub fn from_byte(b: u8) -> Option<Encoding> {
        match b {
            0 => Some(Encoding::Solid),
            1 => Some(Encoding::ZlibRgb),
            2 => Some(Encoding::Copy),
            3 => Some(Encoding::Palette),
            4 => Some(Encoding::Jpeg),
            5 => Some(Encoding::ZlibStream),
            6 => Some(Encoding::PaletteStream),
            _ => None,
        }
    }
}

/// A rectangle in display pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

impl Rect {
    pub fn new(x: u16, y: u16, w: u16, h: u16) -> Rect {
        Rect { x, y, w, h }
    }

    /// Whether the rect lies inside a `width` x `height` display.
    pub fn fits(&self, width: u16, height: u16) -> bool {
        self.x as u32 + self.w as u32 <= width as u32
            && self.y as u32 + self.h as u32 <= height as u32
    }

    pub fn area(&self) -> usize {
        self.w as usize * self.h as usize
    }
}

/// Why an update was refused. The agent that gets one drops the connection with this reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpdateError {
    #[error("update truncated at byte {0}")]
    Truncated(usize),
    #[error("display size {0}x{1} is out of range")]
    BadSize(u16, u16),
    #[error("unknown rect encoding {0}")]
    UnknownEncoding(u8),
    #[error("rect {0:?} lies outside the {1}x{2} display")]
    OutOfBounds(Rect, u16, u16),
    #[error("rect data of {got} bytes where {want} were expected")]
    BadLength { got: usize, want: usize },
    #[error("zlib data is corrupt or has the wrong size")]
    BadZlib,
    #[error("trailing bytes after the last rect")]
    Trailing,
    #[error("a delta update of {0}x{1} does not match the {2}x{3} picture")]
    SizeMismatch(u16, u16, u16, u16),
    #[error("no key frame has been received yet")]
    NoPicture,
    #[error("palette rect with a bad colour count or an index beyond the palette")]
    BadPalette,
    #[error("a stream rect without a stream: no STREAM_RESET since the last key frame")]
    NoStream,
    #[error("JPEG rect refused: {0}")]
    BadJpeg(&'static str),
    #[error("JPEG data is corrupt: {0}")]
    CorruptJpeg(String),
    #[error("a JPEG of {got_w}x{got_h} in a {want_w}x{want_h} rect")]
    JpegSize {
        got_w: u16,
        got_h: u16,
        want_w: u16,
        want_h: u16,
    },
}

/// One rect of a parsed update, its data still encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RectData<'a> {
    pub rect: Rect,
    pub encoding: Encoding,
    pub data: &'a [u8],
}

/// A parsed (borrowed) frame update. Parsing checks structure and bounds, not pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameUpdate<'a> {
    pub flags: u8,
    pub seq: u32,
    pub width: u16,
    pub height: u16,
    pub rects: Vec<RectData<'a>>,
}

fn be16(b: &[u8], at: usize) -> Result<u16, UpdateError> {
    b.get(at..at + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or(UpdateError::Truncated(at))
}

fn be32(b: &[u8], at: usize) -> Result<u32, UpdateError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(UpdateError::Truncated(at))
}

/// Whether `width` x `height` is a display size the protocol accepts.
pub fn valid_display_size(width: u16, height: u16) -> bool {
    width > 0
        && height > 0
        && width <= MAX_DISPLAY_DIM
        && height <= MAX_DISPLAY_DIM
        && (width as u64 * height as u64) <= MAX_DISPLAY_PIXELS
}

impl<'a> FrameUpdate<'a> {
    /// Parses and checks the structure of an update payload.
    pub fn parse(b: &'a [u8]) -> Result<FrameUpdate<'a>, UpdateError> {
        let flags = *b.first().ok_or(UpdateError::Truncated(0))?;
        let seq = be32(b, 1)?;
        let width = be16(b, 5)?;
        let height = be16(b, 7)?;
        let count = be16(b, 9)? as usize;
        if !valid_display_size(width, height) {
            return Err(UpdateError::BadSize(width, height));
        }
        let mut rects = Vec::with_capacity(count.min(4096));
        let mut at = HEADER_LEN;
        for _ in 0..count {
            let rect = Rect::new(
                be16(b, at)?,
                be16(b, at + 2)?,
                be16(b, at + 4)?,
                be16(b, at + 6)?,
            );
            let enc_byte = *b.get(at + 8).ok_or(UpdateError::Truncated(at + 8))?;
            let encoding =
                Encoding::from_byte(enc_byte).ok_or(UpdateError::UnknownEncoding(enc_byte))?;
            let len = be32(b, at + 9)? as usize;
            at += RECT_HEADER_LEN;
            let data = b
                .get(at..at.checked_add(len).ok_or(UpdateError::Truncated(at))?)
                .ok_or(UpdateError::Truncated(at))?;
            at += len;
            if !rect.fits(width, height) {
                return Err(UpdateError::OutOfBounds(rect, width, height));
            }
            let want = match encoding {
                Encoding::Solid => Some(3),
                Encoding::Copy => Some(4),
                Encoding::ZlibRgb | Encoding::Jpeg | Encoding::ZlibStream => None,
                Encoding::Palette | Encoding::PaletteStream => {
                    let n = *data.first().ok_or(UpdateError::Truncated(at - len))? as usize + 1;
                    // PALETTE_STREAM's colours are inside its piece of the stream.
                    let clear = if encoding == Encoding::Palette {
                        n * 3
                    } else {
                        0
                    };
                    if n < 2 || data.len() < 1 + clear {
                        return Err(UpdateError::BadPalette);
                    }
                    None
                }
            };
            if let Some(want) = want {
                if data.len() != want {
                    return Err(UpdateError::BadLength {
                        got: data.len(),
                        want,
                    });
                }
            }
            rects.push(RectData {
                rect,
                encoding,
                data,
            });
        }
        if at != b.len() {
            return Err(UpdateError::Trailing);
        }
        Ok(FrameUpdate {
            flags,
            seq,
            width,
            height,
            rects,
        })
    }

    pub fn is_key(&self) -> bool {
        self.flags & FLAG_KEY != 0
    }
    pub fn is_refresh_only(&self) -> bool {
        self.flags & FLAG_REFRESH_ONLY != 0
    }
    pub fn is_final(&self) -> bool {
        self.flags & FLAG_FINAL != 0
    }
}

/// Where the bytes of received updates went: per encoding, and headers. Benchmarks and tests
/// read it (the test agent keeps one).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WireStats {
    pub updates: u64,
    /// Bytes of update headers, rect headers and the message kind byte.
    pub header_bytes: u64,
    /// Rects, by encoding id.
    pub rects: [u64; ENCODING_SLOTS],
    /// Rect data bytes (after the rect header), by encoding id.
    pub data_bytes: [u64; ENCODING_SLOTS],
}

impl WireStats {
    /// Counts one update message (its payload, plus the one kind byte before it).
    pub fn record(&mut self, u: &FrameUpdate<'_>) {
        self.updates += 1;
        self.header_bytes += 1 + HEADER_LEN as u64 + (RECT_HEADER_LEN * u.rects.len()) as u64;
        for r in &u.rects {
            let i = (r.encoding as usize).min(ENCODING_SLOTS - 1);
            self.rects[i] += 1;
            self.data_bytes[i] += r.data.len() as u64;
        }
    }

    /// Every byte counted.
    pub fn total(&self) -> u64 {
        self.header_bytes + self.data_bytes.iter().sum::<u64>()
    }

    /// The counts since `earlier`.
    pub fn since(&self, earlier: &WireStats) -> WireStats {
        let mut d = *self;
        d.updates -= earlier.updates.min(d.updates);
        d.header_bytes -= earlier.header_bytes.min(d.header_bytes);
        for i in 0..ENCODING_SLOTS {
            d.rects[i] -= earlier.rects[i].min(d.rects[i]);
            d.data_bytes[i] -= earlier.data_bytes[i].min(d.data_bytes[i]);
        }
        d
    }
}

/// Reads only the header of an update payload (the server routes on it without parsing rects).
pub fn peek_header(b: &[u8]) -> Result<(u8, u32, u16, u16), UpdateError> {
    let flags = *b.first().ok_or(UpdateError::Truncated(0))?;
    Ok((flags, be32(b, 1)?, be16(b, 5)?, be16(b, 7)?))
}

/// Builds one update payload rect by rect.
#[derive(Debug)]
pub struct UpdateWriter {
    buf: Vec<u8>,
    count: u16,
}

impl UpdateWriter {
    pub fn new(flags: u8, seq: u32, width: u16, height: u16) -> UpdateWriter {
        let mut buf = Vec::with_capacity(4096);
        buf.push(flags);
        buf.extend_from_slice(&seq.to_be_bytes());
        buf.extend_from_slice(&width.to_be_bytes());
        buf.extend_from_slice(&height.to_be_bytes());
        buf.extend_from_slice(&0u16.to_be_bytes());
        UpdateWriter { buf, count: 0 }
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Rects so far.
    pub fn rect_count(&self) -> u16 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether a rect with `data_len` bytes still fits into one message.
    pub fn has_room(&self, data_len: usize) -> bool {
        self.count < u16::MAX && self.buf.len() + RECT_HEADER_LEN + data_len < MAX_BINARY_LEN - 1
    }

    pub fn push(&mut self, rect: Rect, encoding: Encoding, data: &[u8]) {
        for v in [rect.x, rect.y, rect.w, rect.h] {
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
        self.buf.push(encoding as u8);
        self.buf
            .extend_from_slice(&(data.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(data);
        self.count += 1;
    }

    pub fn set_flags(&mut self, flags: u8) {
        self.buf[0] = flags;
    }

    pub fn flags(&self) -> u8 {
        self.buf[0]
    }

    /// The finished payload.
    pub fn finish(mut self) -> Vec<u8> {
        let c = self.count.to_be_bytes();
        self.buf[9] = c[0];
        self.buf[10] = c[1];
        self.buf
    }
}

/// A borrowed BGRX picture: 4 bytes a pixel (B, G, R, padding), `stride` bytes a row.
#[derive(Debug, Clone, Copy)]
pub struct BgrxView<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: u16,
    pub height: u16,
}

impl BgrxView<'_> {
    fn row(&self, rect: &Rect, y: u16) -> &[u8] {
        let start = (rect.y + y) as usize * self.stride + rect.x as usize * 4;
        &self.data[start..start + rect.w as usize * 4]
    }

    /// The colour of a rect if every pixel has it (padding byte ignored).
    pub fn solid_color(&self, rect: &Rect) -> Option<[u8; 3]> {
        let first = self.row(rect, 0);
        let c = [first[0], first[1], first[2]];
        for y in 0..rect.h {
            for px in self.row(rect, y).chunks_exact(4) {
                if px[..3] != c {
                    return None;
                }
            }
        }
        Some([c[2], c[1], c[0]])
    }
}

/// The reference lossless encoder: Solid where a rect has one colour, Palette where it has
/// few, zlib of packed RGB otherwise. Reuses its buffers between calls.
///
/// With streaming on ([`RectEncoder::set_streaming`]) Palette and zlib rects go as their
/// stream encodings, compressed with one DEFLATE stream kept across calls (a zlib-rs deflate
/// state of about 270 KB at level 1); [`RectEncoder::reset_stream`] starts it afresh.
#[derive(Debug)]
pub struct RectEncoder {
    rgb: Vec<u8>,
    out: Vec<u8>,
    level: u32,
    stream: Option<flate2::Compress>,
    /// zlib level of the stream (level 1 of zlib-rs finds too few matches in history to be
    /// worth a stream).
    stream_level: u32,
    streaming: bool,
    /// Whether the last palette rect went into the stream.
    palette_streamed: bool,
    /// A streamed palette rect's colours and indices.
    pal_buf: Vec<u8>,
}

impl RectEncoder {
    /// `level` is the zlib level, 1 (fast) to 9.
    pub fn new(level: u32) -> RectEncoder {
        RectEncoder {
            rgb: Vec::new(),
            out: Vec::new(),
            level: level.clamp(1, 9),
            stream: None,
            stream_level: DEFAULT_STREAM_LEVEL,
            streaming: false,
            palette_streamed: false,
            pal_buf: Vec::new(),
        }
    }

    /// Sets the zlib level of streams started from now on, 1 to 9.
    pub fn set_stream_level(&mut self, level: u32) {
        let level = level.clamp(1, 9);
        if level != self.stream_level {
            self.stream_level = level;
            self.stream = None;
        }
    }

    /// Starts a new stream: the next stream rect is the first piece of it. Agents must start
    /// theirs at the same point (the update carrying it has [`FLAG_STREAM_RESET`]).
    pub fn reset_stream(&mut self) {
        match &mut self.stream {
            Some(c) => c.reset(),
            None => {
                self.stream = Some(flate2::Compress::new(
                    Compression::new(self.stream_level),
                    false,
                ))
            }
        }
    }

    /// Whether the rects that follow use the stream encodings (after a [`RectEncoder::reset_stream`]
    /// agents applied); off: the self-contained ones.
    pub fn set_streaming(&mut self, on: bool) {
        self.streaming = on;
    }

    /// Whether the next zlib or palette rect goes into the stream.
    fn stream_on(&self) -> bool {
        self.streaming && self.stream.is_some()
    }

    /// Appends `input` compressed to `out`: as the next piece of the stream (returns true), or
    /// as a whole zlib stream when `streamed` is false or the stream failed (returns false).
    fn compress_into(
        stream: &mut Option<flate2::Compress>,
        level: u32,
        streamed: bool,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(c) = stream.as_mut().filter(|_| streamed) else {
            let mut z = ZlibEncoder::new(std::mem::take(out), Compression::new(level));
            // Writing into a Vec cannot fail.
            *out = z
                .write_all(input)
                .and_then(|_| z.finish())
                .unwrap_or_default();
            return false;
        };
        let start = c.total_in();
        let base = out.len();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(input.len() / 4 + 256));
            }
            let done = (c.total_in() - start) as usize;
            if c.compress_vec(&input[done..], out, flate2::FlushCompress::Sync)
                .is_err()
            {
                break;
            }
            let done = (c.total_in() - start) as usize;
            // Flushed once all input is in and the output did not fill up.
            if done == input.len() && out.len() < out.capacity() {
                if out.ends_with(&SYNC_TAIL) {
                    out.truncate(out.len() - SYNC_TAIL.len());
                    return true;
                }
                break;
            }
        }
        // Cannot happen with zlib; if it did, the stream is unusable: stop streaming (agents'
        // copies stay valid, they just never get another piece).
        *stream = None;
        out.truncate(base);
        let mut z = ZlibEncoder::new(std::mem::take(out), Compression::new(level));
        *out = z
            .write_all(input)
            .and_then(|_| z.finish())
            .unwrap_or_default();
        false
    }

    /// Encodes `rect` of `view` and appends it to `out`.
    pub fn encode(&mut self, view: &BgrxView<'_>, rect: Rect, out: &mut UpdateWriter) {
        let (enc, data) = self.encode_rect(view, rect);
        out.push(rect, enc, data);
    }

    /// Encodes `rect` of `view`; the data borrows the encoder until the next call.
    pub fn encode_rect(&mut self, view: &BgrxView<'_>, rect: Rect) -> (Encoding, &[u8]) {
        if let Some(enc) = self.few_colours(view, rect) {
            return (enc, &self.out);
        }
        self.rgb.clear();
        self.rgb.reserve(rect.area() * 3);
        for y in 0..rect.h {
            for px in view.row(&rect, y).chunks_exact(4) {
                self.rgb.extend_from_slice(&[px[2], px[1], px[0]]);
            }
        }
        self.out.clear();
        let streamed = self.stream_on();
        let streamed = Self::compress_into(
            &mut self.stream,
            self.level,
            streamed,
            &self.rgb,
            &mut self.out,
        );
        let enc = if streamed {
            Encoding::ZlibStream
        } else {
            Encoding::ZlibRgb
        };
        (enc, &self.out)
    }
}

impl RectEncoder {
    /// SOLID or PALETTE when `rect` has at most [`MAX_PALETTE`] colours, else None (and
    /// nothing else is tried: the caller picks another encoding).
    pub fn encode_few_colours(
        &mut self,
        view: &BgrxView<'_>,
        rect: Rect,
    ) -> Option<(Encoding, &[u8])> {
        let enc = self.few_colours(view, rect)?;
        Some((enc, &self.out))
    }

    fn few_colours(&mut self, view: &BgrxView<'_>, rect: Rect) -> Option<Encoding> {
        if let Some(c) = view.solid_color(&rect) {
            self.out.clear();
            self.out.extend_from_slice(&c);
            return Some(Encoding::Solid);
        }
        if !self.encode_palette(view, rect) {
            return None;
        }
        Some(if self.palette_streamed {
            Encoding::PaletteStream
        } else {
            Encoding::Palette
        })
    }

    /// Palette-encodes `rect` into `self.out` if it has at most [`MAX_PALETTE`] colours.
    fn encode_palette(&mut self, view: &BgrxView<'_>, rect: Rect) -> bool {
        // Open addressing over 1024 slots (at most 256 used): colour -> index.
        const SLOTS: usize = 1024;
        let mut keys = [u32::MAX; SLOTS];
        let mut vals = [0u8; SLOTS];
        let mut pal: Vec<u32> = Vec::with_capacity(32);
        let mut last = (u32::MAX, 0u8);
        self.rgb.clear();
        self.rgb.reserve(rect.area());
        for y in 0..rect.h {
            for px in view.row(&rect, y).chunks_exact(4) {
                let c = u32::from_le_bytes([px[0], px[1], px[2], 0]);
                if c == last.0 {
                    self.rgb.push(last.1);
                    continue;
                }
                let mut slot = (c.wrapping_mul(0x9E37_79B1) >> 22) as usize % SLOTS;
                let idx = loop {
                    if keys[slot] == c {
                        break vals[slot];
                    }
                    if keys[slot] == u32::MAX {
                        if pal.len() == MAX_PALETTE {
                            return false;
                        }
                        keys[slot] = c;
                        vals[slot] = pal.len() as u8;
                        pal.push(c);
                        break vals[slot];
                    }
                    slot = (slot + 1) % SLOTS;
                };
                last = (c, idx);
                self.rgb.push(idx);
            }
        }
        self.out.clear();
        self.out.push((pal.len() - 1) as u8);
        let colours = pal.iter().flat_map(|c| {
            let b = c.to_le_bytes();
            [b[2], b[1], b[0]]
        });
        if self.stream_on() {
            // The palette goes into the stream, ahead of the indices.
            self.pal_buf.clear();
            self.pal_buf.extend(colours);
            self.pal_buf.extend_from_slice(&self.rgb);
            self.palette_streamed = Self::compress_into(
                &mut self.stream,
                self.level,
                true,
                &self.pal_buf,
                &mut self.out,
            );
            if !self.palette_streamed {
                // The stream failed: the self-contained layout (colours in the clear).
                self.out.truncate(1);
                self.out.extend(pal.iter().flat_map(|c| {
                    let b = c.to_le_bytes();
                    [b[2], b[1], b[0]]
                }));
                Self::compress_into(
                    &mut self.stream,
                    self.level,
                    false,
                    &self.rgb,
                    &mut self.out,
                );
            }
        } else {
            self.out.extend(colours);
            self.palette_streamed = Self::compress_into(
                &mut self.stream,
                self.level,
                false,
                &self.rgb,
                &mut self.out,
            );
        }
        true
    }
}

/// An agent's picture of the shared display, rebuilt from updates. Pixels are RGBA with alpha
/// 255, ready for a canvas.
#[derive(Debug, Clone, Default)]
pub struct Framebuffer {
    pub width: u16,
    pub height: u16,
    pub rgba: Vec<u8>,
    /// The `seq` of the last update applied.
    pub seq: u32,
    /// Frames completed (updates with FLAG_FINAL applied).
    pub frames: u64,
    /// The stream the stream encodings continue.
    pub stream: InflateStream,
    /// The `seq` of a frame whose FINAL message has not been applied yet (its continuations
    /// do not reset or drop the stream).
    pub open_frame: Option<u32>,
}

/// The agent's end of the connection's DEFLATE stream (raw DEFLATE, one 32 KB window, about
/// 45 KB in all). `None` until a [`FLAG_STREAM_RESET`] and after a key frame without one.
/// A clone has no stream (the state of an inflater is not copied): stream rects applied to a
/// cloned [`Framebuffer`] are refused.
#[derive(Debug, Default)]
pub struct InflateStream(Option<Box<flate2::Decompress>>);

impl Clone for InflateStream {
    fn clone(&self) -> Self {
        InflateStream(None)
    }
}

impl InflateStream {
    /// Starts afresh (no history).
    pub fn reset(&mut self) {
        match &mut self.0 {
            Some(d) => d.reset(false),
            None => self.0 = Some(Box::new(flate2::Decompress::new(false))),
        }
    }

    /// Forgets the stream: stream rects are refused until the next reset.
    pub fn invalidate(&mut self) {
        self.0 = None;
    }

    pub fn is_valid(&self) -> bool {
        self.0.is_some()
    }

    /// Inflates the next piece of the stream (`data` plus [`SYNC_TAIL`]), which must give
    /// exactly `want` bytes and end on the flush. An error leaves the stream unusable.
    pub fn inflate(&mut self, data: &[u8], want: usize) -> Result<Vec<u8>, UpdateError> {
        let d = self.0.as_mut().ok_or(UpdateError::NoStream)?;
        let r = inflate_piece(d, data, want);
        if r.is_err() {
            self.0 = None;
        }
        r
    }
}

fn inflate_piece(
    d: &mut flate2::Decompress,
    data: &[u8],
    want: usize,
) -> Result<Vec<u8>, UpdateError> {
    // One byte of room beyond `want`: more output than that is caught, not left pending.
    let mut out = vec![0u8; want + 1];
    let mut filled = 0;
    for part in [data, &SYNC_TAIL[..]] {
        let mut at = 0;
        while at < part.len() {
            let (i0, o0) = (d.total_in(), d.total_out());
            let status = d
                .decompress(
                    &part[at..],
                    &mut out[filled..],
                    flate2::FlushDecompress::None,
                )
                .map_err(|_| UpdateError::BadZlib)?;
            at += (d.total_in() - i0) as usize;
            filled += (d.total_out() - o0) as usize;
            // A final block would end the stream, which never ends.
            if status == flate2::Status::StreamEnd || filled > want {
                return Err(UpdateError::BadZlib);
            }
            if d.total_in() == i0 && d.total_out() == o0 {
                return Err(UpdateError::BadZlib);
            }
        }
    }
    if filled != want {
        return Err(UpdateError::BadZlib);
    }
    out.truncate(want);
    Ok(out)
}

impl Framebuffer {
    pub fn new() -> Framebuffer {
        Framebuffer::default()
    }

    /// Whether a picture exists (a key frame has been applied).
    pub fn has_picture(&self) -> bool {
        !self.rgba.is_empty()
    }

    /// Applies an update. On error the picture may be partly updated; the caller drops the
    /// connection (a well-behaved service never sends a bad update).
    pub fn apply(&mut self, u: &FrameUpdate<'_>) -> Result<(), UpdateError> {
        if u.is_key() && (u.width != self.width || u.height != self.height || !self.has_picture()) {
            self.width = u.width;
            self.height = u.height;
            self.rgba = vec![255; u.width as usize * u.height as usize * 4];
        } else if !self.has_picture() {
            return Err(UpdateError::NoPicture);
        } else if u.width != self.width || u.height != self.height {
            return Err(UpdateError::SizeMismatch(
                u.width,
                u.height,
                self.width,
                self.height,
            ));
        }
        // The first message of a frame: a reset starts the stream, a key frame without one
        // leaves this agent without it (a late joiner's REFRESH_ONLY key frame; the visitor
        // resets in the next delta).
        if self.open_frame != Some(u.seq) {
            if u.flags & FLAG_STREAM_RESET != 0 {
                self.stream.reset();
            } else if u.is_key() {
                self.stream.invalidate();
            }
        }
        self.open_frame = (!u.is_final()).then_some(u.seq);
        let stride = self.width as usize * 4;
        for r in &u.rects {
            let rect = r.rect;
            match r.encoding {
                Encoding::Solid => {
                    let px = [r.data[0], r.data[1], r.data[2], 255];
                    for y in rect.y..rect.y + rect.h {
                        let s = y as usize * stride + rect.x as usize * 4;
                        for p in self.rgba[s..s + rect.w as usize * 4].chunks_exact_mut(4) {
                            p.copy_from_slice(&px);
                        }
                    }
                }
                Encoding::ZlibRgb | Encoding::ZlibStream => {
                    let want = rect.area() * 3;
                    let rgb = if r.encoding == Encoding::ZlibStream {
                        self.stream.inflate(r.data, want)?
                    } else {
                        inflate_exact(r.data, want)?
                    };
                    for y in 0..rect.h as usize {
                        let s = (rect.y as usize + y) * stride + rect.x as usize * 4;
                        let src = &rgb[y * rect.w as usize * 3..(y + 1) * rect.w as usize * 3];
                        for (p, c) in self.rgba[s..s + rect.w as usize * 4]
                            .chunks_exact_mut(4)
                            .zip(src.chunks_exact(3))
                        {
                            p[0] = c[0];
                            p[1] = c[1];
                            p[2] = c[2];
                            p[3] = 255;
                        }
                    }
                }
                Encoding::Palette | Encoding::PaletteStream => {
                    let n = r.data[0] as usize + 1;
                    let w = rect.w as usize;
                    let streamed;
                    let (pal, idx) = if r.encoding == Encoding::PaletteStream {
                        streamed = self
                            .stream
                            .inflate(&r.data[1..], n * 3 + w * rect.h as usize)?;
                        streamed.split_at(n * 3)
                    } else {
                        streamed = inflate_exact(&r.data[1 + n * 3..], w * rect.h as usize)?;
                        (&r.data[1..1 + n * 3], &streamed[..])
                    };
                    for y in 0..rect.h as usize {
                        let src = &idx[y * w..(y + 1) * w];
                        let s = (rect.y as usize + y) * stride + rect.x as usize * 4;
                        for (&i, p) in src.iter().zip(self.rgba[s..s + w * 4].chunks_exact_mut(4)) {
                            let i = i as usize;
                            if i >= n {
                                return Err(UpdateError::BadPalette);
                            }
                            p[0] = pal[i * 3];
                            p[1] = pal[i * 3 + 1];
                            p[2] = pal[i * 3 + 2];
                            p[3] = 255;
                        }
                    }
                }
                Encoding::Jpeg => {
                    let rgb = crate::jpeg::decode_rgb(r.data, rect.w, rect.h)?;
                    let w = rect.w as usize;
                    for (y, src) in rgb.chunks_exact(w * 3).enumerate() {
                        let s = (rect.y as usize + y) * stride + rect.x as usize * 4;
                        for (p, c) in self.rgba[s..s + w * 4]
                            .chunks_exact_mut(4)
                            .zip(src.chunks_exact(3))
                        {
                            p[..3].copy_from_slice(c);
                            p[3] = 255;
                        }
                    }
                }
                Encoding::Copy => {
                    let sx = u16::from_be_bytes([r.data[0], r.data[1]]);
                    let sy = u16::from_be_bytes([r.data[2], r.data[3]]);
                    let src = Rect::new(sx, sy, rect.w, rect.h);
                    if !src.fits(self.width, self.height) {
                        return Err(UpdateError::OutOfBounds(src, self.width, self.height));
                    }
                    let row = rect.w as usize * 4;
                    let mut tmp = Vec::with_capacity(row * rect.h as usize);
                    for y in 0..rect.h as usize {
                        let s = (sy as usize + y) * stride + sx as usize * 4;
                        tmp.extend_from_slice(&self.rgba[s..s + row]);
                    }
                    for y in 0..rect.h as usize {
                        let d = (rect.y as usize + y) * stride + rect.x as usize * 4;
                        self.rgba[d..d + row].copy_from_slice(&tmp[y * row..(y + 1) * row]);
                    }
                }
            }
        }
        self.seq = u.seq;
        if u.is_final() {
            self.frames += 1;
        }
        Ok(())
    }

    /// Whether the picture equals a BGRX picture pixel for pixel (the padding byte ignored).
    pub fn equals_bgrx(&self, v: &BgrxView<'_>) -> bool {
        self.first_difference(v).is_none()
    }

    /// The first pixel (x, y) where the picture differs from `v`, or where the sizes differ
    /// ((0, 0) then).
    pub fn first_difference(&self, v: &BgrxView<'_>) -> Option<(u16, u16)> {
        if v.width != self.width || v.height != self.height || !self.has_picture() {
            return Some((0, 0));
        }
        let stride = self.width as usize * 4;
        for y in 0..self.height as usize {
            let ours = &self.rgba[y * stride..(y + 1) * stride];
            let theirs = &v.data[y * v.stride..y * v.stride + stride];
            for (x, (a, b)) in ours.chunks_exact(4).zip(theirs.chunks_exact(4)).enumerate() {
                if a[0] != b[2] || a[1] != b[1] || a[2] != b[0] {
                    return Some((x as u16, y as u16));
                }
            }
        }
        None
    }
}

/// Inflates a zlib stream that must produce exactly `want` bytes, never more.
pub fn inflate_exact(data: &[u8], want: usize) -> Result<Vec<u8>, UpdateError> {
    let mut d = flate2::Decompress::new(true);
    let mut out = vec![0u8; want];
    let status = d
        .decompress(data, &mut out, flate2::FlushDecompress::Finish)
        .map_err(|_| UpdateError::BadZlib)?;
    // Exactly `want` bytes out, and every byte in: trailing data after the stream is corrupt
    // (browsers' DecompressionStream refuses it too).
    if status != flate2::Status::StreamEnd
        || d.total_out() as usize != want
        || d.total_in() as usize != data.len()
    {
        return Err(UpdateError::BadZlib);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: u16, h: u16, f: impl Fn(u16, u16) -> [u8; 3]) -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let c = f(x, y);
                v.extend_from_slice(&[c[2], c[1], c[0], 0x5a]);
            }
        }
        v
    }

    #[test]
    fn key_frame_then_delta_reconstructs_exactly() {
        let (w, h) = (37u16, 21u16);
        let a = picture(w, h, |x, y| [x as u8 * 7, y as u8 * 11, (x ^ y) as u8]);
        let va = BgrxView {
            data: &a,
            stride: w as usize * 4,
            width: w,
            height: h,
        };
        let mut enc = RectEncoder::new(1);
        let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL, 1, w, h);
        enc.encode(&va, Rect::new(0, 0, w, h), &mut wr);
        let bytes = wr.finish();
        let mut fb = Framebuffer::new();
        fb.apply(&FrameUpdate::parse(&bytes).unwrap()).unwrap();
        assert!(fb.equals_bgrx(&va));

        // delta: a solid block, a copy, and a zlib rect
        let mut b = a.clone();
        let vb_stride = w as usize * 4;
        for y in 2..6 {
            for x in 3..9 {
                let i = y * vb_stride + x * 4;
                b[i..i + 3].copy_from_slice(&[1, 2, 3]);
            }
        }
        let vb = BgrxView {
            data: &b,
            stride: vb_stride,
            width: w,
            height: h,
        };
        let mut wr = UpdateWriter::new(FLAG_FINAL, 2, w, h);
        enc.encode(&vb, Rect::new(3, 2, 6, 4), &mut wr);
        let bytes = wr.finish();
        let u = FrameUpdate::parse(&bytes).unwrap();
        assert_eq!(u.rects[0].encoding, Encoding::Solid);
        fb.apply(&u).unwrap();
        assert!(fb.equals_bgrx(&vb));
        assert!(!fb.equals_bgrx(&va));
        assert_eq!(fb.frames, 2);
    }

    #[test]
    fn palette_round_trips_for_each_index_width() {
        for colours in [2usize, 3, 16, 255, 256, 257] {
            let (w, h) = (61u16, 29u16);
            let pic = picture(w, h, |x, y| {
                let k = (x as usize * 7 + y as usize * 37) % colours;
                [k as u8, (k >> 8) as u8, 9]
            });
            let v = BgrxView {
                data: &pic,
                stride: w as usize * 4,
                width: w,
                height: h,
            };
            let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL, 1, w, h);
            let mut enc = RectEncoder::new(1);
            let (e, _) = enc.encode_rect(&v, Rect::new(0, 0, w, h));
            let distinct: std::collections::HashSet<&[u8]> =
                pic.chunks_exact(4).map(|p| &p[..3]).collect();
            assert!(colours > 256 || distinct.len() == colours);
            let want = if distinct.len() <= MAX_PALETTE {
                Encoding::Palette
            } else {
                Encoding::ZlibRgb
            };
            assert_eq!(e, want, "{colours} colours");
            enc.encode(&v, Rect::new(0, 0, w, h), &mut wr);
            let bytes = wr.finish();
            let mut fb = Framebuffer::new();
            fb.apply(&FrameUpdate::parse(&bytes).unwrap()).unwrap();
            assert!(fb.equals_bgrx(&v), "{colours} colours");
        }
    }

    #[test]
    fn bad_palettes_are_refused() {
        // One colour only (that is SOLID's job).
        let mut wr = UpdateWriter::new(FLAG_KEY, 1, 4, 1);
        wr.push(Rect::new(0, 0, 4, 1), Encoding::Palette, &[0, 1, 2, 3]);
        assert_eq!(
            FrameUpdate::parse(&wr.finish()),
            Err(UpdateError::BadPalette)
        );
        // Three colours, with index 3 used.
        let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
        z.write_all(&[3]).unwrap();
        let mut data = vec![2, 1, 1, 1, 2, 2, 2, 3, 3, 3];
        data.extend_from_slice(&z.finish().unwrap());
        let mut wr = UpdateWriter::new(FLAG_KEY, 1, 1, 1);
        wr.push(Rect::new(0, 0, 1, 1), Encoding::Palette, &data);
        let bytes = wr.finish();
        assert_eq!(
            Framebuffer::new().apply(&FrameUpdate::parse(&bytes).unwrap()),
            Err(UpdateError::BadPalette)
        );
    }

    #[test]
    fn copy_rect_moves_pixels() {
        let (w, h) = (8u16, 8u16);
        let a = picture(w, h, |x, y| [x as u8, y as u8, 9]);
        let va = BgrxView {
            data: &a,
            stride: 32,
            width: w,
            height: h,
        };
        let mut fb = Framebuffer::new();
        let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL, 1, w, h);
        RectEncoder::new(1).encode(&va, Rect::new(0, 0, w, h), &mut wr);
        fb.apply(&FrameUpdate::parse(&wr.finish()).unwrap())
            .unwrap();
        // scroll up by 2 rows
        let mut wr = UpdateWriter::new(FLAG_FINAL, 2, w, h);
        wr.push(Rect::new(0, 0, w, 6), Encoding::Copy, &[0, 0, 0, 2]);
        fb.apply(&FrameUpdate::parse(&wr.finish()).unwrap())
            .unwrap();
        let want = picture(w, h, |x, y| {
            if y < 6 {
                [x as u8, y as u8 + 2, 9]
            } else {
                [x as u8, y as u8, 9]
            }
        });
        assert!(fb.equals_bgrx(&BgrxView {
            data: &want,
            stride: 32,
            width: w,
            height: h
        }));
    }

    #[test]
    fn malformed_updates_are_refused() {
        assert!(FrameUpdate::parse(&[]).is_err());
        let mut wr = UpdateWriter::new(FLAG_KEY, 1, 10, 10);
        wr.push(Rect::new(5, 5, 6, 1), Encoding::Solid, &[1, 2, 3]);
        assert!(matches!(
            FrameUpdate::parse(&wr.finish()),
            Err(UpdateError::OutOfBounds(..))
        ));
        let mut wr = UpdateWriter::new(FLAG_KEY, 1, 10, 10);
        wr.push(Rect::new(0, 0, 1, 1), Encoding::Solid, &[1, 2]);
        assert!(FrameUpdate::parse(&wr.finish()).is_err());
        let mut bytes = UpdateWriter::new(FLAG_KEY, 1, 0, 10).finish();
        assert_eq!(FrameUpdate::parse(&bytes), Err(UpdateError::BadSize(0, 10)));
        bytes = UpdateWriter::new(FLAG_KEY, 1, 10, 10).finish();
        bytes.push(0);
        assert_eq!(FrameUpdate::parse(&bytes), Err(UpdateError::Trailing));
        // zlib that inflates to the wrong size
        let mut wr = UpdateWriter::new(FLAG_KEY, 1, 4, 4);
        let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
        z.write_all(&[0u8; 47]).unwrap();
        wr.push(
            Rect::new(0, 0, 4, 4),
            Encoding::ZlibRgb,
            &z.finish().unwrap(),
        );
        let bytes = wr.finish();
        let mut fb = Framebuffer::new();
        assert_eq!(
            fb.apply(&FrameUpdate::parse(&bytes).unwrap()),
            Err(UpdateError::BadZlib)
        );
        // zlib with trailing bytes after the stream
        let mut wr = UpdateWriter::new(FLAG_KEY, 1, 4, 4);
        let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
        z.write_all(&[7u8; 48]).unwrap();
        let mut data = z.finish().unwrap();
        data.extend_from_slice(&[1, 2, 3]);
        wr.push(Rect::new(0, 0, 4, 4), Encoding::ZlibRgb, &data);
        let bytes = wr.finish();
        assert_eq!(
            Framebuffer::new().apply(&FrameUpdate::parse(&bytes).unwrap()),
            Err(UpdateError::BadZlib)
        );
        // delta before any key frame
        let bytes = UpdateWriter::new(0, 1, 4, 4).finish();
        assert_eq!(
            Framebuffer::new().apply(&FrameUpdate::parse(&bytes).unwrap()),
            Err(UpdateError::NoPicture)
        );
    }

    /// Text-like content: two colours, no short period (noise at ~1/4 density).
    fn glyphs(w: u16, h: u16, seed: u32) -> Vec<u8> {
        picture(w, h, |x, y| {
            let mut v = (x as u32 * 7919 + y as u32 * 104_729 + seed).wrapping_mul(2_654_435_761);
            v ^= v >> 15;
            if v.is_multiple_of(4) {
                [230, 230, 230]
            } else {
                [10, 20, 30 + (x as u8 & 3)]
            }
        })
    }

    fn view(pic: &[u8], w: u16, h: u16) -> BgrxView<'_> {
        BgrxView {
            data: pic,
            stride: w as usize * 4,
            width: w,
            height: h,
        }
    }

    #[test]
    fn stream_rects_compress_against_earlier_rects_and_reconstruct() {
        let (w, h) = (200u16, 40u16);
        let a = glyphs(w, h, 0);
        let va = view(&a, w, h);
        let mut enc = RectEncoder::new(1);
        enc.reset_stream();
        enc.set_streaming(true);
        let mut fb = Framebuffer::new();
        let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL | FLAG_STREAM_RESET, 1, w, h);
        enc.encode(&va, Rect::new(0, 0, w, h), &mut wr);
        let bytes = wr.finish();
        let u = FrameUpdate::parse(&bytes).unwrap();
        assert_eq!(u.rects[0].encoding, Encoding::PaletteStream);
        fb.apply(&u).unwrap();
        assert!(fb.equals_bgrx(&va));
        // The same rows again (a restacked window, a scrolled-back page): the stream finds
        // them in its history; a fresh zlib stream does not have it.
        let r = Rect::new(0, 20, w, 20);
        let mut fresh = RectEncoder::new(1);
        let (e0, d0) = fresh.encode_rect(&va, Rect::new(0, 0, w, 20));
        assert_eq!(e0, Encoding::Palette);
        let alone = d0.len();
        let mut b = a.clone();
        let row = w as usize * 4;
        b.copy_within(0..20 * row, 20 * row);
        let vb = view(&b, w, h);
        let (e, d) = enc.encode_rect(&vb, r);
        assert_eq!(e, Encoding::PaletteStream);
        assert!(
            d.len() * 3 < alone,
            "{} streamed vs {} alone",
            d.len(),
            alone
        );
        let mut wr = UpdateWriter::new(FLAG_FINAL, 2, w, h);
        wr.push(r, e, d);
        let bytes = wr.finish();
        fb.apply(&FrameUpdate::parse(&bytes).unwrap()).unwrap();
        assert!(fb.equals_bgrx(&vb));
        // Many colours: ZLIB_STREAM.
        let c = picture(w, h, |x, y| [x as u8, y as u8 * 3, (x ^ y) as u8]);
        let vc = view(&c, w, h);
        let mut wr = UpdateWriter::new(FLAG_FINAL, 3, w, h);
        enc.encode(&vc, Rect::new(0, 0, w, h), &mut wr);
        let bytes = wr.finish();
        let u = FrameUpdate::parse(&bytes).unwrap();
        assert_eq!(u.rects[0].encoding, Encoding::ZlibStream);
        fb.apply(&u).unwrap();
        assert!(fb.equals_bgrx(&vc));

        // A clone has no stream; nor has an agent that missed the reset.
        let mut clone = fb.clone();
        assert_eq!(clone.apply(&u), Err(UpdateError::NoStream));
        // A key frame without STREAM_RESET (a late joiner's REFRESH_ONLY one) leaves the
        // stream unknown until the next reset.
        let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_REFRESH_ONLY | FLAG_FINAL, 4, w, h);
        wr.push(Rect::new(0, 0, w, h), Encoding::Solid, &[1, 2, 3]);
        fb.apply(&FrameUpdate::parse(&wr.finish()).unwrap())
            .unwrap();
        assert!(!fb.stream.is_valid());
        assert_eq!(fb.apply(&u), Err(UpdateError::NoStream));
        // After a reset both ends start again.
        enc.reset_stream();
        let mut wr = UpdateWriter::new(FLAG_FINAL | FLAG_STREAM_RESET, 5, w, h);
        enc.encode(&vb, Rect::new(0, 0, w, h), &mut wr);
        fb.apply(&FrameUpdate::parse(&wr.finish()).unwrap())
            .unwrap();
        assert!(fb.equals_bgrx(&vb));
    }

    #[test]
    fn a_key_frame_over_several_messages_keeps_its_stream() {
        let (w, h) = (64u16, 32u16);
        let a = glyphs(w, h, 3);
        let va = view(&a, w, h);
        let mut enc = RectEncoder::new(1);
        enc.reset_stream();
        enc.set_streaming(true);
        let mut fb = Framebuffer::new();
        let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_STREAM_RESET, 9, w, h);
        enc.encode(&va, Rect::new(0, 0, w, 16), &mut wr);
        fb.apply(&FrameUpdate::parse(&wr.finish()).unwrap())
            .unwrap();
        // The continuation has KEY but no STREAM_RESET: the stream goes on.
        let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL, 9, w, h);
        enc.encode(&va, Rect::new(0, 16, w, 16), &mut wr);
        fb.apply(&FrameUpdate::parse(&wr.finish()).unwrap())
            .unwrap();
        assert!(fb.equals_bgrx(&va));
    }

    #[test]
    fn bad_stream_pieces_are_refused() {
        let (w, h) = (32u16, 16u16);
        let a = picture(w, h, |x, y| {
            [(x as u8).wrapping_mul(9), (y as u8).wrapping_mul(40), 7]
        });
        let va = view(&a, w, h);
        let piece = |cut: usize, extra: &[u8]| {
            let mut enc = RectEncoder::new(1);
            enc.reset_stream();
            enc.set_streaming(true);
            let (e, d) = enc.encode_rect(&va, Rect::new(0, 0, w, h));
            assert_eq!(e, Encoding::ZlibStream);
            let mut d = d[..d.len() - cut].to_vec();
            d.extend_from_slice(extra);
            let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL | FLAG_STREAM_RESET, 1, w, h);
            wr.push(Rect::new(0, 0, w, h), Encoding::ZlibStream, &d);
            let bytes = wr.finish();
            Framebuffer::new().apply(&FrameUpdate::parse(&bytes).unwrap())
        };
        assert_eq!(piece(0, &[]), Ok(()));
        assert_eq!(piece(3, &[]), Err(UpdateError::BadZlib), "cut short");
        assert_eq!(
            piece(0, &[1, 2, 3]),
            Err(UpdateError::BadZlib),
            "trailing bytes"
        );
        // Wrong size: a rect of other dimensions.
        let mut enc = RectEncoder::new(1);
        enc.reset_stream();
        enc.set_streaming(true);
        let (_, d) = enc.encode_rect(&va, Rect::new(0, 0, w, h - 1));
        let d = d.to_vec();
        let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL | FLAG_STREAM_RESET, 1, w, h);
        wr.push(Rect::new(0, 0, w, h), Encoding::ZlibStream, &d);
        let bytes = wr.finish();
        assert_eq!(
            Framebuffer::new().apply(&FrameUpdate::parse(&bytes).unwrap()),
            Err(UpdateError::BadZlib)
        );
        // A final block (a whole raw DEFLATE stream) is refused: the stream never ends.
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), Compression::fast());
        z.write_all(&vec![5u8; w as usize * h as usize * 3])
            .unwrap();
        let d = z.finish().unwrap();
        let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL | FLAG_STREAM_RESET, 1, w, h);
        wr.push(Rect::new(0, 0, w, h), Encoding::ZlibStream, &d);
        let bytes = wr.finish();
        assert_eq!(
            Framebuffer::new().apply(&FrameUpdate::parse(&bytes).unwrap()),
            Err(UpdateError::BadZlib)
        );
        // Without a reset first.
        let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL, 1, w, h);
        wr.push(Rect::new(0, 0, w, h), Encoding::ZlibStream, &[0, 0]);
        let bytes = wr.finish();
        assert_eq!(
            Framebuffer::new().apply(&FrameUpdate::parse(&bytes).unwrap()),
            Err(UpdateError::NoStream)
        );
    }
}
