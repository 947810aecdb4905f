//! A minimal RFB 3.8 client (RFC 6143) that only counts: it connects with security type None,
//! asks for 32 bpp true colour and one encoding (ZRLE or Tight, optionally with CopyRect),
//! keeps one incremental FramebufferUpdateRequest outstanding, and walks every server message
//! far enough to know where it ends, without decoding pixels. It records the bytes received and,
//! per encoding, the rectangles and their bytes.
//!
//! Tight is parsed per the TightVNC spec: a compression-control byte, then a fill colour, a
//! JPEG block, or "basic" compression (optional filter: copy, palette, gradient) whose data is
//! sent as is when shorter than 12 bytes and zlib-compressed behind a compact length otherwise.
//! Colours are 3-byte TPIXELs for our 32 bpp, depth 24 format. No JPEG quality level is
//! advertised, so the server must stay lossless; JPEG rects are counted to prove it.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const ENC_RAW: i32 = 0;
pub const ENC_COPYRECT: i32 = 1;
pub const ENC_TIGHT: i32 = 7;
pub const ENC_ZRLE: i32 = 16;
pub const ENC_DESKTOP_SIZE: i32 = -223;
pub const ENC_LAST_RECT: i32 = -224;
pub const ENC_POINTER_POS: i32 = -232;
pub const ENC_RICH_CURSOR: i32 = -239;
pub const ENC_X_CURSOR: i32 = -240;
pub const ENC_EXTENDED_DESKTOP_SIZE: i32 = -308;
/// Pseudo-encoding "compression level 9" (-256 + 9).
pub const ENC_COMPRESS_LEVEL_9: i32 = -247;

/// Tight data shorter than this is sent without zlib.
const TIGHT_MIN_TO_COMPRESS: usize = 12;

/// What the client asks the server for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// ENC_ZRLE or ENC_TIGHT.
    pub encoding: i32,
    /// Also advertise CopyRect.
    pub copyrect: bool,
    /// Also advertise compression level 9 (zlib effort; never a JPEG quality level).
    pub compress_level_9: bool,
}

impl Request {
    /// The SetEncodings list, in preference order.
    pub fn encodings(&self) -> Vec<i32> {
        let mut v = vec![self.encoding];
        if self.copyrect {
            v.push(ENC_COPYRECT);
        }
        if self.compress_level_9 {
            v.push(ENC_COMPRESS_LEVEL_9);
        }
        v.push(ENC_DESKTOP_SIZE);
        v.push(ENC_LAST_RECT);
        v
    }
}

/// Per-encoding counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RectCount {
    pub rects: u64,
    /// Header (12 bytes) plus payload.
    pub bytes: u64,
}

/// How Tight rects were coded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TightKinds {
    pub fill: u64,
    pub jpeg: u64,
    pub copy: u64,
    pub palette: u64,
    pub gradient: u64,
    /// Basic rects whose data was short enough to go uncompressed.
    pub uncompressed: u64,
}

/// Everything received so far.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Bytes read from the socket after the handshake (every server message).
    pub bytes: u64,
    /// FramebufferUpdate messages read to their end.
    pub updates: u64,
    pub rects: BTreeMap<i32, RectCount>,
    pub tight: TightKinds,
    pub bells: u64,
    pub cut_texts: u64,
    pub colour_maps: u64,
}

impl Stats {
    /// `self - earlier`, for a measurement window.
    pub fn since(&self, earlier: &Stats) -> Stats {
        let mut rects = BTreeMap::new();
        for (enc, c) in &self.rects {
            let e = earlier.rects.get(enc).copied().unwrap_or_default();
            let d = RectCount {
                rects: c.rects - e.rects,
                bytes: c.bytes - e.bytes,
            };
            if d.rects > 0 {
                rects.insert(*enc, d);
            }
        }
        let (t, e) = (self.tight, earlier.tight);
        Stats {
            bytes: self.bytes - earlier.bytes,
            updates: self.updates - earlier.updates,
            rects,
            tight: TightKinds {
                fill: t.fill - e.fill,
                jpeg: t.jpeg - e.jpeg,
                copy: t.copy - e.copy,
                palette: t.palette - e.palette,
                gradient: t.gradient - e.gradient,
                uncompressed: t.uncompressed - e.uncompressed,
            },
            bells: self.bells - earlier.bells,
            cut_texts: self.cut_texts - earlier.cut_texts,
            colour_maps: self.colour_maps - earlier.colour_maps,
        }
    }

    /// "ZRLE 812 rects 1.2 MB, CopyRect 3 rects 48 B".
    pub fn rect_summary(&self) -> String {
        if self.rects.is_empty() {
            return "no rects".into();
        }
        self.rects
            .iter()
            .map(|(enc, c)| format!("{} {} rects {} B", encoding_name(*enc), c.rects, c.bytes))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn encoding_name(enc: i32) -> String {
    match enc {
        ENC_RAW => "Raw".into(),
        ENC_COPYRECT => "CopyRect".into(),
        ENC_TIGHT => "Tight".into(),
        ENC_ZRLE => "ZRLE".into(),
        ENC_DESKTOP_SIZE => "DesktopSize".into(),
        ENC_LAST_RECT => "LastRect".into(),
        ENC_POINTER_POS => "PointerPos".into(),
        ENC_RICH_CURSOR => "RichCursor".into(),
        ENC_X_CURSOR => "XCursor".into(),
        ENC_EXTENDED_DESKTOP_SIZE => "ExtendedDesktopSize".into(),
        n => format!("encoding {n}"),
    }
}

/// The server's answer to the handshake.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: String,
    pub width: u16,
    pub height: u16,
    pub name: String,
}

/// Counts every byte consumed through it.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

fn u8_(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn u16_(r: &mut impl Read) -> io::Result<u16> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_be_bytes(b))
}

fn u32_(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    let got = io::copy(&mut r.take(n), &mut io::sink())?;
    if got < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside a message",
        ));
    }
    Ok(())
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Tight's compact length: 1 to 3 bytes, 7 + 7 + 8 bits, little end first.
pub fn read_compact_len(r: &mut impl Read) -> io::Result<usize> {
    let b0 = u8_(r)? as usize;
    let mut len = b0 & 0x7f;
    if b0 & 0x80 != 0 {
        let b1 = u8_(r)? as usize;
        len |= (b1 & 0x7f) << 7;
        if b1 & 0x80 != 0 {
            let b2 = u8_(r)? as usize;
            len |= b2 << 14;
        }
    }
    Ok(len)
}

/// The pixel format we ask for: 32 bpp, depth 24, little-endian, true colour, 8 bits a channel.
pub const PIXEL_FORMAT: [u8; 16] = [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0];
const BYTES_PER_PIXEL: u64 = 4;
/// Tight sends 3-byte colours for 32 bpp, depth 24, 8-bit channels.
const TPIXEL: usize = 3;

/// Reads one server message to its end, updating `stats` (bytes aside).
/// Returns true when the message was a complete FramebufferUpdate.
fn read_message(
    r: &mut impl Read,
    counted: &AtomicU64,
    stats: &Mutex<Stats>,
    size: &mut (u16, u16),
) -> io::Result<bool> {
    let kind = u8_(r)?;
    match kind {
        0 => {
            let _pad = u8_(r)?;
            let n = u16_(r)?;
            let mut i = 0u32;
            while i < n as u32 {
                i += 1;
                let start = counted.load(Ordering::Relaxed);
                let (x, y, w, h) = (u16_(r)?, u16_(r)?, u16_(r)?, u16_(r)?);
                let enc = u32_(r)? as i32;
                let (w, h) = (w as usize, h as usize);
                let mut tk = TightKinds::default();
                match enc {
                    ENC_RAW => skip(r, w as u64 * h as u64 * BYTES_PER_PIXEL)?,
                    ENC_COPYRECT => skip(r, 4)?,
                    ENC_ZRLE => {
                        let len = u32_(r)?;
                        skip(r, len as u64)?;
                    }
                    ENC_TIGHT => read_tight(r, w, h, &mut tk)?,
                    ENC_DESKTOP_SIZE => *size = (w as u16, h as u16),
                    ENC_LAST_RECT => {}
                    ENC_POINTER_POS => {}
                    ENC_RICH_CURSOR => skip(
                        r,
                        (w * h) as u64 * BYTES_PER_PIXEL + (w.div_ceil(8) * h) as u64,
                    )?,
                    ENC_X_CURSOR => {
                        if w * h > 0 {
                            skip(r, 6 + 2 * (w.div_ceil(8) * h) as u64)?
                        }
                    }
                    ENC_EXTENDED_DESKTOP_SIZE => {
                        let screens = u8_(r)?;
                        skip(r, 3 + 16 * screens as u64)?;
                        *size = (w as u16, h as u16);
                    }
                    other => {
                        return Err(bad(format!(
                        "rect {x},{y} {w}x{h} in an encoding this client did not ask for: {other}"
                    )))
                    }
                }
                let used = counted.load(Ordering::Relaxed) - start;
                let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
                let c = s.rects.entry(enc).or_default();
                c.rects += 1;
                c.bytes += used;
                let t = &mut s.tight;
                t.fill += tk.fill;
                t.jpeg += tk.jpeg;
                t.copy += tk.copy;
                t.palette += tk.palette;
                t.gradient += tk.gradient;
                t.uncompressed += tk.uncompressed;
                drop(s);
                if enc == ENC_LAST_RECT {
                    break;
                }
            }
            stats.lock().unwrap_or_else(|p| p.into_inner()).updates += 1;
            Ok(true)
        }
        1 => {
            let _pad = u8_(r)?;
            let _first = u16_(r)?;
            let n = u16_(r)?;
            skip(r, 6 * n as u64)?;
            stats.lock().unwrap_or_else(|p| p.into_inner()).colour_maps += 1;
            Ok(false)
        }
        2 => {
            stats.lock().unwrap_or_else(|p| p.into_inner()).bells += 1;
            Ok(false)
        }
        3 => {
            skip(r, 3)?;
            let len = u32_(r)?;
            // A negative length is the extended clipboard, which we never advertise.
            if len & 0x8000_0000 != 0 {
                return Err(bad("extended clipboard message not asked for".into()));
            }
            skip(r, len as u64)?;
            stats.lock().unwrap_or_else(|p| p.into_inner()).cut_texts += 1;
            Ok(false)
        }
        other => Err(bad(format!("unknown server message type {other}"))),
    }
}

/// Walks one Tight rect's payload (after the rect header).
pub fn read_tight(r: &mut impl Read, w: usize, h: usize, kinds: &mut TightKinds) -> io::Result<()> {
    let ctl = u8_(r)?;
    // The low four bits only reset zlib streams.
    let comp = ctl >> 4;
    if comp == 0x08 {
        kinds.fill += 1;
        return skip(r, TPIXEL as u64);
    }
    if comp == 0x09 {
        kinds.jpeg += 1;
        let len = read_compact_len(r)?;
        return skip(r, len as u64);
    }
    if comp & 0x08 != 0 {
        return Err(bad(format!(
            "Tight compression control {ctl:#04x} is not valid"
        )));
    }
    // Basic compression: bits 4-5 pick the zlib stream, bit 6 says a filter id follows.
    let filter = if comp & 0x04 != 0 { u8_(r)? } else { 0 };
    let data_len = match filter {
        0 => {
            kinds.copy += 1;
            w * h * TPIXEL
        }
        1 => {
            kinds.palette += 1;
            let colours = u8_(r)? as usize + 1;
            skip(r, (colours * TPIXEL) as u64)?;
            if colours == 2 {
                w.div_ceil(8) * h
            } else {
                w * h
            }
        }
        2 => {
            kinds.gradient += 1;
            w * h * TPIXEL
        }
        f => return Err(bad(format!("unknown Tight filter {f}"))),
    };
    if data_len < TIGHT_MIN_TO_COMPRESS {
        kinds.uncompressed += 1;
        skip(r, data_len as u64)
    } else {
        let len = read_compact_len(r)?;
        skip(r, len as u64)
    }
}

fn read_reason(r: &mut impl Read) -> io::Result<String> {
    let len = u32_(r)?;
    let mut s = vec![0u8; len.min(4096) as usize];
    r.read_exact(&mut s)?;
    Ok(String::from_utf8_lossy(&s).into_owned())
}

fn update_request(incremental: bool, w: u16, h: u16) -> [u8; 10] {
    let mut m = [0u8; 10];
    m[0] = 3;
    m[1] = incremental as u8;
    m[6..8].copy_from_slice(&w.to_be_bytes());
    m[8..10].copy_from_slice(&h.to_be_bytes());
    m
}

/// The protocol handshake up to ServerInit, then SetPixelFormat and SetEncodings.
fn handshake(r: &mut impl Read, wr: &mut impl Write, req: &Request) -> Result<ServerInfo, String> {
    fn e(what: &'static str) -> impl Fn(io::Error) -> String {
        move |err| format!("{what}: {err}")
    }
    let mut ver = [0u8; 12];
    r.read_exact(&mut ver).map_err(e("ProtocolVersion"))?;
    let version = String::from_utf8_lossy(&ver).trim_end().to_string();
    let minor = std::str::from_utf8(&ver)
        .ok()
        .filter(|v| v.starts_with("RFB 003."))
        .and_then(|v| v[8..11].parse::<u32>().ok())
        .ok_or(format!("not an RFB server: {version:?}"))?;
    if minor < 8 {
        return Err(format!("server speaks {version:?}; this client needs 3.8"));
    }
    wr.write_all(b"RFB 003.008\n")
        .map_err(e("ProtocolVersion"))?;
    let n = u8_(r).map_err(e("security types"))?;
    if n == 0 {
        let why = read_reason(r).map_err(e("security failure"))?;
        return Err(format!("server refused the connection: {why}"));
    }
    let mut types = vec![0u8; n as usize];
    r.read_exact(&mut types).map_err(e("security types"))?;
    if !types.contains(&1) {
        return Err(format!(
            "server does not offer security type None (offers {types:?}); run it without a password"
        ));
    }
    wr.write_all(&[1]).map_err(e("security type"))?;
    let result = u32_(r).map_err(e("SecurityResult"))?;
    if result != 0 {
        let why = read_reason(r).unwrap_or_default();
        return Err(format!("security handshake failed: {why}"));
    }
    // ClientInit: shared.
    wr.write_all(&[1]).map_err(e("ClientInit"))?;
    let width = u16_(r).map_err(e("ServerInit"))?;
    let height = u16_(r).map_err(e("ServerInit"))?;
    let mut pf = [0u8; 16];
    r.read_exact(&mut pf).map_err(e("ServerInit"))?;
    let name = read_reason(r).map_err(e("ServerInit name"))?;

    let mut m = vec![0u8, 0, 0, 0];
    m.extend_from_slice(&PIXEL_FORMAT);
    let encs = req.encodings();
    m.extend_from_slice(&[2, 0]);
    m.extend_from_slice(&(encs.len() as u16).to_be_bytes());
    for enc in encs {
        m.extend_from_slice(&enc.to_be_bytes());
    }
    m.extend_from_slice(&update_request(false, width, height));
    wr.write_all(&m).map_err(e("SetPixelFormat/SetEncodings"))?;
    Ok(ServerInfo {
        version,
        width,
        height,
        name,
    })
}

/// A connected client whose reader thread counts everything the server sends.
pub struct Client {
    pub info: ServerInfo,
    stream: TcpStream,
    counted: Arc<AtomicU64>,
    stats: Arc<Mutex<Stats>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<Result<(), String>>>,
}

impl Client {
    /// Connects, does the handshake, asks for a full picture and starts reading. The reader
    /// stops by itself on `max_life`, on a read stalled for `stall`, or on [`Client::stop`].
    pub fn connect(
        addr: SocketAddr,
        req: Request,
        stall: Duration,
        max_life: Duration,
    ) -> Result<Client, String> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(stall))
            .map_err(|e| e.to_string())?;
        let mut wr = stream.try_clone().map_err(|e| e.to_string())?;
        let counted = Arc::new(AtomicU64::new(0));
        let mut r = Counting {
            inner: BufReader::with_capacity(
                1 << 16,
                stream.try_clone().map_err(|e| e.to_string())?,
            ),
            n: counted.clone(),
        };
        let info = handshake(&mut r, &mut wr, &req)?;
        // Count from here: the handshake is not part of the updates.
        counted.store(0, Ordering::Relaxed);
        let stats = Arc::new(Mutex::new(Stats::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c2, s2, stop2) = (counted.clone(), stats.clone(), stop.clone());
        let mut size = (info.width, info.height);
        let reader = std::thread::spawn(move || -> Result<(), String> {
            let t0 = std::time::Instant::now();
            while t0.elapsed() < max_life {
                match read_message(&mut r, &c2, &s2, &mut size) {
                    Ok(true) => {
                        wr.write_all(&update_request(true, size.0, size.1))
                            .map_err(|e| format!("FramebufferUpdateRequest: {e}"))?;
                    }
                    Ok(false) => {}
                    Err(_) if stop2.load(Ordering::Relaxed) => return Ok(()),
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::TimedOut =>
                    {
                        return Err(format!("the server sent nothing for {stall:?}"))
                    }
                    Err(e) => return Err(format!("reading server messages: {e}")),
                }
            }
            Err(format!("the reader gave up after {max_life:?}"))
        });
        Ok(Client {
            info,
            stream,
            counted,
            stats,
            stop,
            reader: Some(reader),
        })
    }

    /// Everything received so far.
    pub fn snapshot(&self) -> Stats {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
        s.bytes = self.counted.load(Ordering::Relaxed);
        s
    }

    /// Whether the reader is still running (false once it failed or gave up).
    pub fn alive(&self) -> bool {
        self.reader.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Closes the connection and returns the reader's error, if it failed before.
    pub fn stop(&mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.stream.shutdown(Shutdown::Both);
        match self.reader.take() {
            Some(h) => h.join().unwrap_or_else(|_| Err("reader panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn compact_lengths() {
        let len = |b: &[u8]| read_compact_len(&mut &b[..]).unwrap();
        assert_eq!(len(&[0x05]), 5);
        assert_eq!(len(&[0x7f]), 127);
        assert_eq!(len(&[0x80, 0x01]), 128);
        assert_eq!(len(&[0xff, 0x7f]), 16383);
        assert_eq!(len(&[0x80, 0x80, 0x01]), 16384);
        assert_eq!(len(&[0xff, 0xff, 0xff]), 4_194_303);
    }

    fn tight(bytes: &[u8], w: usize, h: usize) -> (TightKinds, usize) {
        let mut k = TightKinds::default();
        let mut r = bytes;
        read_tight(&mut r, w, h, &mut k).unwrap();
        (k, bytes.len() - r.len())
    }

    #[test]
    fn tight_rects_end_where_they_should() {
        // Fill: one 3-byte colour; the low bits (stream resets) do not matter.
        assert_eq!(tight(&[0x8f, 1, 2, 3, 0xee], 100, 100).1, 4);
        // JPEG: compact length then data.
        let (k, n) = tight(&[0x90, 0x03, 9, 9, 9, 0xee], 8, 8);
        assert_eq!((k.jpeg, n), (1, 5));
        // Copy filter, implicit: 2x1 pixels = 6 bytes < 12, so raw.
        let (k, n) = tight(&[0x00, 1, 2, 3, 4, 5, 6, 0xee], 2, 1);
        assert_eq!((k.copy, k.uncompressed, n), (1, 1, 7));
        // Copy filter, 4x1 = 12 bytes: compressed behind a compact length.
        let (k, n) = tight(&[0x10, 0x02, 7, 7, 0xee], 4, 1);
        assert_eq!((k.copy, k.uncompressed, n), (1, 0, 4));
        // Explicit filter id 0 (copy) on stream 3.
        assert_eq!(tight(&[0x70, 0x00, 0x01, 7, 0xee], 4, 1).1, 4);
        // Palette of 2: 1 bit a pixel, rows padded: 10x3 -> 2*3 = 6 bytes < 12, raw.
        let mut p = vec![0x40, 0x01, 0x01, 1, 1, 1, 2, 2, 2];
        p.extend_from_slice(&[0; 6]);
        p.push(0xee);
        let (k, n) = tight(&p, 10, 3);
        assert_eq!((k.palette, k.uncompressed, n), (1, 1, p.len() - 1));
        // Palette of 3: a byte a pixel, 4x4 = 16 >= 12: compressed.
        let mut p = vec![0x40, 0x01, 0x02, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0x02, 5, 5];
        let want = p.len();
        p.push(0xee);
        assert_eq!(
            tight(&p, 4, 4),
            (
                TightKinds {
                    palette: 1,
                    ..Default::default()
                },
                want
            )
        );
        // Gradient: 3 bytes a pixel like copy.
        let (k, n) = tight(&[0x40, 0x02, 0x01, 7, 0xee], 2, 2);
        assert_eq!((k.gradient, n), (1, 4));
        assert!(read_tight(&mut &[0xa0u8][..], 1, 1, &mut TightKinds::default()).is_err());
        assert!(read_tight(&mut &[0x40u8, 3][..], 1, 1, &mut TightKinds::default()).is_err());
    }

    fn rect(m: &mut Vec<u8>, w: u16, h: u16, enc: i32) {
        for v in [0u16, 0, w, h] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        m.extend_from_slice(&enc.to_be_bytes());
    }

    /// A scripted server on loopback: handshake, then two updates (ZRLE + CopyRect, then Tight
    /// rects ended by LastRect), a Bell and a ServerCutText between them.
    #[test]
    fn client_counts_a_scripted_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"RFB 003.008\n").unwrap();
            let mut v = [0u8; 12];
            s.read_exact(&mut v).unwrap();
            assert_eq!(&v, b"RFB 003.008\n");
            s.write_all(&[2, 2, 1]).unwrap();
            assert_eq!(u8_(&mut s).unwrap(), 1);
            s.write_all(&0u32.to_be_bytes()).unwrap();
            assert_eq!(u8_(&mut s).unwrap(), 1, "shared");
            let mut init = vec![0, 64, 0, 32];
            init.extend_from_slice(&PIXEL_FORMAT);
            init.extend_from_slice(&4u32.to_be_bytes());
            init.extend_from_slice(b"test");
            s.write_all(&init).unwrap();
            let mut spf = [0u8; 20];
            s.read_exact(&mut spf).unwrap();
            assert_eq!(spf[0], 0);
            assert_eq!(&spf[4..], &PIXEL_FORMAT);
            let mut se = [0u8; 4];
            s.read_exact(&mut se).unwrap();
            assert_eq!(se[0], 2);
            let n = u16::from_be_bytes([se[2], se[3]]) as usize;
            let mut encs = vec![0u8; 4 * n];
            s.read_exact(&mut encs).unwrap();
            let encs: Vec<i32> = encs
                .chunks(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            assert_eq!(
                encs,
                vec![
                    ENC_ZRLE,
                    ENC_COPYRECT,
                    ENC_COMPRESS_LEVEL_9,
                    ENC_DESKTOP_SIZE,
                    ENC_LAST_RECT
                ]
            );
            let mut fur = [0u8; 10];
            s.read_exact(&mut fur).unwrap();
            assert_eq!(fur, update_request(false, 64, 32));

            let mut m = vec![0u8, 0, 0, 2];
            rect(&mut m, 64, 32, ENC_ZRLE);
            m.extend_from_slice(&5u32.to_be_bytes());
            m.extend_from_slice(&[1, 2, 3, 4, 5]);
            rect(&mut m, 8, 8, ENC_COPYRECT);
            m.extend_from_slice(&[0, 1, 0, 2]);
            m.push(2); // Bell
            m.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
            s.write_all(&m).unwrap();
            s.read_exact(&mut fur).unwrap();
            assert_eq!(fur, update_request(true, 64, 32));

            let mut m = vec![0u8, 0, 0xff, 0xff];
            rect(&mut m, 64, 32, ENC_TIGHT);
            m.extend_from_slice(&[0x80, 9, 9, 9]);
            rect(&mut m, 4, 4, ENC_TIGHT);
            m.extend_from_slice(&[0x40, 0x01, 0x02, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0x02, 5, 5]);
            rect(&mut m, 0, 0, ENC_LAST_RECT);
            s.write_all(&m).unwrap();
            s.read_exact(&mut fur).unwrap();
            assert_eq!(fur, update_request(true, 64, 32));
            s
        });
        let req = Request {
            encoding: ENC_ZRLE,
            copyrect: true,
            compress_level_9: true,
        };
        let mut c =
            Client::connect(addr, req, Duration::from_secs(5), Duration::from_secs(20)).unwrap();
        assert_eq!(
            (c.info.width, c.info.height, c.info.name.as_str()),
            (64, 32, "test")
        );
        let t = Instant::now();
        while c.snapshot().updates < 2 && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _open = server.join().unwrap();
        let s = c.snapshot();
        assert_eq!(s.updates, 2);
        assert_eq!((s.bells, s.cut_texts), (1, 1));
        assert_eq!(
            s.rects[&ENC_ZRLE],
            RectCount {
                rects: 1,
                bytes: 12 + 4 + 5
            }
        );
        assert_eq!(
            s.rects[&ENC_COPYRECT],
            RectCount {
                rects: 1,
                bytes: 16
            }
        );
        assert_eq!(
            s.rects[&ENC_TIGHT],
            RectCount {
                rects: 2,
                bytes: 16 + 27
            }
        );
        assert_eq!(s.rects[&ENC_LAST_RECT].rects, 1);
        assert_eq!((s.tight.fill, s.tight.palette), (1, 1));
        let total = (4 + 21 + 16) + 1 + 10 + (4 + 16 + 27 + 12);
        assert_eq!(s.bytes, total as u64);
        let d = s.since(&Stats::default());
        assert_eq!(d.bytes, s.bytes);
        assert!(d.rect_summary().contains("ZRLE 1 rects 21 B"));
        assert!(c.alive());
        assert!(c.stop().is_ok());
    }
}
