// Glance agent viewer: joins a screen-sharing session over WebSocket and shows the visitor's
// display on a canvas. Plain modern JavaScript, no build step, no external resources.
//
// Wire protocol: docs/PROTOCOL.md. Text messages are JSON control messages; binary messages
// are a kind byte (2 = frame update, 3 = cursor shape) followed by the payload. The decoder
// below rebuilds the picture exactly as the Rust reference
// (`glance_protocol::update::Framebuffer::apply`) does, and refuses malformed updates the same
// way (the connection is then closed). The visitor's pointer is not in the picture: `cursor`
// messages and cursor shapes are drawn on an overlay canvas above it.
'use strict';

(() => {
  // ----- protocol constants ------------------------------------------------------------------

  const PROTOCOL_VERSION = 1;
  const CLIENT = 'glance-viewer 0.1.0';
  const KIND_CONTROL = 1;
  const KIND_UPDATE = 2;
  const KIND_CURSOR = 3;
  const FLAG_KEY = 1;
  const FLAG_REFRESH_ONLY = 2;
  const FLAG_FINAL = 4;
  const FLAG_STREAM_RESET = 8;
  const ENC_SOLID = 0;
  const ENC_ZLIB_RGB = 1;
  const ENC_COPY = 2;
  const ENC_PALETTE = 3;
  const ENC_ZLIB_STREAM = 5;
  const ENC_PALETTE_STREAM = 6;
  const HEADER_LEN = 11;
  const RECT_HEADER_LEN = 13;
  const MAX_CONTROL_LEN = 64 * 1024;
  const MAX_BINARY_LEN = 4 * 1024 * 1024;
  const MAX_DISPLAY_DIM = 16384;
  const MAX_DISPLAY_PIXELS = 7680 * 4320;
  const MAX_CURSOR_DIM = 256;
  const SHAPE_HEADER_LEN = 12;
  const MAX_SHAPE_LEN = SHAPE_HEADER_LEN + MAX_CURSOR_DIM * MAX_CURSOR_DIM * 4;
  // Cursor shapes kept: the ones received last (the server counts on at least this many).
  const CURSOR_SHAPE_CACHE = 64;
  const KEY_RE = /^[A-Za-z0-9._-]{1,63}$/;

  // Seed-001 status codes of session_ended and join_failed, as the agent should read them.
  const STATUS_TEXT = {
    17: 'The viewer and the service speak different protocol versions.',
    18: 'You are not authorized to join this session.',
    19: 'There is no session with this key.',
    20: 'The service refused the connection\u2019s encryption.',
    21: 'The service could not let you join. Try again later.',
    23: 'The session was ended by an agent.',
    24: 'The visitor ended the session.',
    25: 'The session timed out.',
    26: 'The session was killed by the service.',
    27: 'The connection to the visitor was lost.',
    28: 'The visitor\u2019s call ended unexpectedly.',
    29: 'The session ended because of an error.',
    30: 'The session ended for an unknown reason.',
    31: 'The visitor declined the session.',
    32: 'The viewer could not connect to the service.',
    34: 'The connection to the server was lost and could not be restored.',
    35: 'The session is full: no more agents may join.',
    36: 'The session was replaced by a newer session with the same key.',
  };

  /** A malformed frame update: the viewer drops the connection. */
  class UpdateError extends Error {}

  // ----- frame updates -----------------------------------------------------------------------

  /** Whether width x height is a display size the protocol accepts. */
  function validDisplaySize(w, h) {
    return w > 0 && h > 0 && w <= MAX_DISPLAY_DIM && h <= MAX_DISPLAY_DIM && w * h <= MAX_DISPLAY_PIXELS;
  }

  /**
   * Parses an update payload (`bytes`, without the kind byte) and checks its structure, in the
   * same order as `FrameUpdate::parse`. Rect data stay views into `bytes`.
   */
  function parseUpdate(bytes) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // Field readers that report a truncation at the field's offset, as the reference does.
    const need = (at, n) => {
      if (at + n > bytes.length) throw new UpdateError(`update truncated at byte ${at}`);
    };
    const u8 = (at) => (need(at, 1), dv.getUint8(at));
    const u16 = (at) => (need(at, 2), dv.getUint16(at));
    const u32 = (at) => (need(at, 4), dv.getUint32(at));
    const u = { flags: u8(0), seq: u32(1), width: u16(5), height: u16(7), rects: [] };
    const count = u16(9);
    if (!validDisplaySize(u.width, u.height)) {
      throw new UpdateError(`display size ${u.width}x${u.height} is out of range`);
    }
    let at = HEADER_LEN;
    for (let i = 0; i < count; i++) {
      const x = u16(at), y = u16(at + 2), w = u16(at + 4), h = u16(at + 6);
      const enc = u8(at + 8);
      if (enc !== ENC_SOLID && enc !== ENC_ZLIB_RGB && enc !== ENC_COPY && enc !== ENC_PALETTE &&
          enc !== ENC_JPEG && enc !== ENC_ZLIB_STREAM && enc !== ENC_PALETTE_STREAM) {
        throw new UpdateError(`unknown rect encoding ${enc}`);
      }
      const len = u32(at + 9);
      at += RECT_HEADER_LEN;
      need(at, len);
      const data = bytes.subarray(at, at + len);
      at += len;
      if (x + w > u.width || y + h > u.height) {
        throw new UpdateError(`rect ${w}x${h}+${x}+${y} lies outside the ${u.width}x${u.height} display`);
      }
      const want = enc === ENC_SOLID ? 3 : enc === ENC_COPY ? 4 : -1;
      if (want >= 0 && len !== want) {
        throw new UpdateError(`rect data of ${len} bytes where ${want} were expected`);
      }
      if (enc === ENC_PALETTE || enc === ENC_PALETTE_STREAM) {
        const n = len > 0 ? data[0] + 1 : 0;
        // PALETTE_STREAM's colours are inside its piece of the stream.
        if (n < 2 || len < 1 + (enc === ENC_PALETTE ? n * 3 : 0)) {
          throw new UpdateError('palette rect with a bad colour count or an index beyond the palette');
        }
      }
      u.rects.push({ x, y, w, h, enc, data });
    }
    if (at !== bytes.length) throw new UpdateError('trailing bytes after the last rect');
    return u;
  }

  /** Inflates a zlib stream that must give exactly `want` bytes, never more. */
  async function inflateExact(data, want) {
    const bad = () => new UpdateError('zlib data is corrupt or has the wrong size');
    const ds = new DecompressionStream('deflate'); // "deflate" is the zlib format (RFC 1950)
    const writer = ds.writable.getWriter();
    const reader = ds.readable.getReader();
    // Errors surface on the reader; swallow the writer's copies of them.
    writer.write(data).catch(() => {});
    writer.close().catch(() => {});
    const out = new Uint8Array(want);
    let n = 0;
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch {
        throw bad();
      }
      if (chunk.done) break;
      if (n + chunk.value.length > want) {
        reader.cancel().catch(() => {});
        throw bad();
      }
      out.set(chunk.value, n);
      n += chunk.value.length;
    }
    if (n !== want) throw bad();
    return out;
  }

  // ----- the connection's DEFLATE stream (encodings 5 and 6) --------------------------------

  // Canonical Huffman tables of RFC 1951, as puff.c builds them: count[len] codes of each
  // length, and the symbols ordered by code.
  function huffman(lengths, n) {
    const count = new Uint16Array(16);
    const symbol = new Uint16Array(n);
    for (let i = 0; i < n; i++) count[lengths[i]]++;
    count[0] = 0;
    let left = 1;
    for (let len = 1; len < 16; len++) {
      left = left * 2 - count[len];
      if (left < 0) throw new UpdateError('zlib data is corrupt or has the wrong size');
    }
    const offs = new Uint16Array(16);
    for (let len = 1; len < 15; len++) offs[len + 1] = offs[len] + count[len];
    for (let i = 0; i < n; i++) if (lengths[i] !== 0) symbol[offs[lengths[i]]++] = i;
    return { count, symbol };
  }

  const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67,
    83, 99, 115, 131, 163, 195, 227, 258];
  const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5,
    5, 5, 0];
  const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
  const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11,
    11, 12, 12, 13, 13];
  const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
  const FIXED = (() => {
    const l = new Uint8Array(288 + 30);
    l.fill(8, 0, 144); l.fill(9, 144, 256); l.fill(7, 256, 280); l.fill(8, 280, 288);
    l.fill(5, 288);
    return { lit: huffman(l, 288), dist: huffman(l.subarray(288), 30) };
  })();
  const WINDOW = 32768;

  /**
   * The agent's end of the visitor's DEFLATE stream: raw DEFLATE (RFC 1951) whose pieces are
   * the data of stream rects, each ending on a sync flush whose last 4 bytes (00 00 FF FF) are
   * left out. Back-references reach up to 32 KB into earlier pieces: the window is all the
   * state kept (32 KB). Synchronous, so rects decode in order without awaiting.
   */
  class InflateStream {
    constructor() {
      this.win = new Uint8Array(WINDOW);
      this.wpos = 0; // next write position in the ring
      this.wlen = 0; // bytes of history held (<= WINDOW)
    }

    /** Inflates the next piece, which must give exactly `want` bytes and end on the flush. */
    inflate(data, want) {
      const bad = () => new UpdateError('zlib data is corrupt or has the wrong size');
      const inp = new Uint8Array(data.length + 4);
      inp.set(data);
      inp.set([0, 0, 0xff, 0xff], data.length);
      const out = new Uint8Array(want);
      const win = this.win;
      let pos = 0; // output bytes
      let at = 0; // next input byte
      let bitbuf = 0;
      let bitcnt = 0;
      const bits = (need) => {
        while (bitcnt < need) {
          if (at >= inp.length) throw bad();
          bitbuf |= inp[at++] << bitcnt;
          bitcnt += 8;
        }
        const v = bitbuf & ((1 << need) - 1);
        bitbuf >>>= need;
        bitcnt -= need;
        return v;
      };
      const decode = (h) => {
        let code = 0, first = 0, index = 0;
        for (let len = 1; len < 16; len++) {
          code |= bits(1);
          const c = h.count[len];
          if (code - c < first) return h.symbol[index + (code - first)];
          index += c;
          first = (first + c) << 1;
          code <<= 1;
        }
        throw bad();
      };
      const put = (b) => {
        if (pos >= want) throw bad();
        out[pos++] = b;
      };
      let lastStored = false;
      while (at < inp.length || bitcnt >= 8) {
        if (bits(1)) throw bad(); // a final block: the stream never ends
        const type = bits(2);
        lastStored = type === 0;
        if (type === 0) {
          bitbuf = 0;
          bitcnt = 0; // to the byte boundary
          if (at + 4 > inp.length) throw bad();
          const len = inp[at] | (inp[at + 1] << 8);
          const nlen = inp[at + 2] | (inp[at + 3] << 8);
          at += 4;
          if ((len ^ 0xffff) !== nlen || at + len > inp.length || pos + len > want) throw bad();
          out.set(inp.subarray(at, at + len), pos);
          pos += len;
          at += len;
          continue;
        }
        let lit, dist;
        if (type === 1) {
          ({ lit, dist } = FIXED);
        } else if (type === 2) {
          const nlen = bits(5) + 257, ndist = bits(5) + 1, ncode = bits(4) + 4;
          if (nlen > 286 || ndist > 30) throw bad();
          const cl = new Uint8Array(19);
          for (let i = 0; i < ncode; i++) cl[CL_ORDER[i]] = bits(3);
          const clh = huffman(cl, 19);
          const lengths = new Uint8Array(nlen + ndist);
          for (let i = 0; i < nlen + ndist;) {
            const sym = decode(clh);
            if (sym < 16) {
              lengths[i++] = sym;
              continue;
            }
            let len = 0, rep;
            if (sym === 16) {
              if (i === 0) throw bad();
              len = lengths[i - 1];
              rep = 3 + bits(2);
            } else if (sym === 17) {
              rep = 3 + bits(3);
            } else {
              rep = 11 + bits(7);
            }
            if (i + rep > nlen + ndist) throw bad();
            while (rep--) lengths[i++] = len;
          }
          if (lengths[256] === 0) throw bad();
          lit = huffman(lengths, nlen);
          dist = huffman(lengths.subarray(nlen), ndist);
        } else {
          throw bad();
        }
        for (;;) {
          const sym = decode(lit);
          if (sym < 256) {
            put(sym);
            continue;
          }
          if (sym === 256) break;
          const li = sym - 257;
          if (li >= 29) throw bad();
          const len = LEN_BASE[li] + bits(LEN_EXTRA[li]);
          const di = decode(dist);
          if (di >= 30) throw bad();
          const d = DIST_BASE[di] + bits(DIST_EXTRA[di]);
          if (d > pos + this.wlen || pos + len > want) throw bad();
          for (let k = 0; k < len; k++) {
            out[pos] = d <= pos ? out[pos - d] : win[(this.wpos - (d - pos) + WINDOW) % WINDOW];
            pos++;
          }
        }
      }
      // Every piece ends with the flush's empty stored block, exactly at the end of the input.
      if (!lastStored || pos !== want) throw bad();
      // The window keeps the last 32 KB of output.
      if (want >= WINDOW) {
        win.set(out.subarray(want - WINDOW));
        this.wpos = 0;
        this.wlen = WINDOW;
      } else {
        const first = Math.min(want, WINDOW - this.wpos);
        win.set(out.subarray(0, first), this.wpos);
        win.set(out.subarray(first), 0);
        this.wpos = (this.wpos + want) % WINDOW;
        this.wlen = Math.min(WINDOW, this.wlen + want);
      }
      return out;
    }
  }

  // JPEG rects (encoding 4): lossy, for photographic content; the visitor re-sends the same
  // pixels losslessly once they stop changing. Checked as `glance_protocol::jpeg` does.
  const ENC_JPEG = 4;

  /**
   * Walks a JPEG's markers up to its frame header and checks what the protocol allows: SOI
   * first and EOI last, SOF0 (baseline) before any scan, 8-bit, 1 or 3 components, a size not
   * 0. Returns {width, height, components}.
   */
  function jpegHeader(d) {
    const bad = (why) => new UpdateError(`JPEG rect refused: ${why}`);
    if (d.length < 2 || d[0] !== 0xff || d[1] !== 0xd8) throw bad('no start-of-image marker');
    if (d.length < 4 || d[d.length - 2] !== 0xff || d[d.length - 1] !== 0xd9) {
      throw bad('no end-of-image marker at the end');
    }
    const truncated = () => bad('truncated before the frame header');
    let at = 2;
    for (;;) {
      if (at >= d.length) throw truncated();
      if (d[at] !== 0xff) throw bad('marker expected');
      while (at + 1 < d.length && d[at + 1] === 0xff) at++; // fill bytes
      if (at + 1 >= d.length) throw truncated();
      const m = d[at + 1];
      at += 2;
      if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) continue; // standalone markers
      if (m === 0xd8 || m === 0xd9 || m === 0xda) throw bad('no frame header before the image data');
      if (m === 0x00) throw bad('marker expected');
      if (at + 2 > d.length) throw truncated();
      const len = (d[at] << 8) | d[at + 1];
      if (len < 2) throw bad('segment length below 2');
      if (at + len > d.length) throw truncated();
      if (m === 0xc0) {
        if (len - 2 < 6) throw bad('short frame header');
        if (d[at + 2] !== 8) throw bad('sample precision is not 8 bits');
        const height = (d[at + 3] << 8) | d[at + 4];
        const width = (d[at + 5] << 8) | d[at + 6];
        const components = d[at + 7];
        if (components !== 1 && components !== 3) throw bad('not 1 or 3 components');
        if (width === 0 || height === 0) throw bad('zero width or height in the frame header');
        return { width, height, components };
      }
      if (m >= 0xc1 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        throw bad('not a baseline JPEG');
      }
      at += len;
    }
  }

  /**
   * Decodes a JPEG rect of w x h pixels to RGBA (alpha 255) with the browser's own decoder.
   * The header is checked first; a JPEG the browser cannot decode, or that decodes to another
   * size, is an UpdateError.
   */
  async function decodeJpeg(data, w, h) {
    const hd = jpegHeader(data);
    if (hd.width !== w || hd.height !== h) {
      throw new UpdateError(`a JPEG of ${hd.width}x${hd.height} in a ${w}x${h} rect`);
    }
    let bmp;
    try {
      bmp = await createImageBitmap(new Blob([data], { type: 'image/jpeg' }),
        { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    } catch (e) {
      throw new UpdateError(`JPEG data is corrupt: ${e.message}`);
    }
    try {
      if (bmp.width !== w || bmp.height !== h) {
        throw new UpdateError(`a JPEG of ${bmp.width}x${bmp.height} in a ${w}x${h} rect`);
      }
      const ctx = new OffscreenCanvas(w, h).getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bmp, 0, 0);
      return ctx.getImageData(0, 0, w, h).data;
    } finally {
      bmp.close();
    }
  }

  /**
   * The agent's picture of the shared display: RGBA with alpha 255, the port of the Rust
   * `Framebuffer`. Also remembers the region changed since the last `takeDirty()`.
   */
  class Picture {
    constructor() {
      this.width = 0;
      this.height = 0;
      this.image = null; // ImageData holding the whole picture
      this.seq = 0;
      this.frames = 0;
      this.dirty = null; // {x0, y0, x1, y1} or null
      this.stream = null; // the InflateStream of the stream encodings, from a STREAM_RESET on
      this.openFrame = null; // seq of a frame whose FINAL message has not been applied
    }

    /** The next piece of the stream (an agent without one refuses the rect). */
    inflateStream(data, want) {
      if (!this.stream) {
        throw new UpdateError('a stream rect without a stream: no STREAM_RESET since the last key frame');
      }
      try {
        return this.stream.inflate(data, want);
      } catch (e) {
        this.stream = null;
        throw e;
      }
    }

    hasPicture() {
      return this.image !== null;
    }

    markDirty(x, y, w, h) {
      if (w === 0 || h === 0) return;
      const d = this.dirty;
      if (!d) {
        this.dirty = { x0: x, y0: y, x1: x + w, y1: y + h };
      } else {
        d.x0 = Math.min(d.x0, x);
        d.y0 = Math.min(d.y0, y);
        d.x1 = Math.max(d.x1, x + w);
        d.y1 = Math.max(d.y1, y + h);
      }
    }

    takeDirty() {
      const d = this.dirty;
      this.dirty = null;
      return d;
    }

    /** Applies a parsed update. Throws UpdateError on a bad one (the picture may be partly updated). */
    async apply(u) {
      const isKey = (u.flags & FLAG_KEY) !== 0;
      if (isKey && (u.width !== this.width || u.height !== this.height || !this.hasPicture())) {
        // A new (or the first) picture: white until painted, like the reference.
        this.width = u.width;
        this.height = u.height;
        this.image = new ImageData(u.width, u.height);
        this.image.data.fill(255);
        this.markDirty(0, 0, u.width, u.height);
      } else if (!this.hasPicture()) {
        throw new UpdateError('no key frame has been received yet');
      } else if (u.width !== this.width || u.height !== this.height) {
        throw new UpdateError(
          `a delta update of ${u.width}x${u.height} does not match the ${this.width}x${this.height} picture`);
      }
      // The first message of a frame: a reset starts the stream; a key frame without one
      // (a late joiner's REFRESH_ONLY key frame) leaves this agent without it.
      if (this.openFrame !== u.seq) {
        if (u.flags & FLAG_STREAM_RESET) this.stream = new InflateStream();
        else if (isKey) this.stream = null;
      }
      this.openFrame = u.flags & FLAG_FINAL ? null : u.seq;
      const px = this.image.data;
      const stride = this.width * 4;
      for (const r of u.rects) {
        if (r.enc === ENC_SOLID) {
          const [cr, cg, cb] = r.data;
          for (let y = r.y; y < r.y + r.h; y++) {
            let p = y * stride + r.x * 4;
            for (let i = 0; i < r.w; i++, p += 4) {
              px[p] = cr; px[p + 1] = cg; px[p + 2] = cb; px[p + 3] = 255;
            }
          }
        } else if (r.enc === ENC_ZLIB_RGB || r.enc === ENC_ZLIB_STREAM) {
          const rgb = r.enc === ENC_ZLIB_STREAM
            ? this.inflateStream(r.data, r.w * r.h * 3)
            : await inflateExact(r.data, r.w * r.h * 3);
          let s = 0;
          for (let y = r.y; y < r.y + r.h; y++) {
            let p = y * stride + r.x * 4;
            for (let i = 0; i < r.w; i++, p += 4, s += 3) {
              px[p] = rgb[s]; px[p + 1] = rgb[s + 1]; px[p + 2] = rgb[s + 2]; px[p + 3] = 255;
            }
          }
        } else if (r.enc === ENC_PALETTE || r.enc === ENC_PALETTE_STREAM) {
          // n colours, then zlib (or a piece of the stream) of w*h one-byte colour indices.
          // (PALETTE_STREAM: n, then one piece of the stream with the colours and the indices.)
          const n = r.data[0] + 1;
          let pal, idx;
          if (r.enc === ENC_PALETTE_STREAM) {
            const buf = this.inflateStream(r.data.subarray(1), n * 3 + r.w * r.h);
            pal = buf.subarray(0, n * 3);
            idx = buf.subarray(n * 3);
          } else {
            pal = r.data.subarray(1, 1 + n * 3);
            idx = await inflateExact(r.data.subarray(1 + n * 3), r.w * r.h);
          }
          let s = 0;
          for (let y = 0; y < r.h; y++) {
            let p = (r.y + y) * stride + r.x * 4;
            for (let x = 0; x < r.w; x++, p += 4, s++) {
              const i = idx[s];
              if (i >= n) {
                throw new UpdateError('palette rect with a bad colour count or an index beyond the palette');
              }
              px[p] = pal[i * 3]; px[p + 1] = pal[i * 3 + 1]; px[p + 2] = pal[i * 3 + 2]; px[p + 3] = 255;
            }
          }
        } else if (r.enc === ENC_JPEG) {
          const rgba = await decodeJpeg(r.data, r.w, r.h);
          const row = r.w * 4;
          for (let y = 0; y < r.h; y++) {
            const p = (r.y + y) * stride + r.x * 4;
            px.set(rgba.subarray(y * row, (y + 1) * row), p);
            for (let i = p + 3; i < p + row; i += 4) px[i] = 255;
          }
        } else {
          // COPY from the picture as it is now; a temporary copy makes overlaps safe.
          const sx = (r.data[0] << 8) | r.data[1];
          const sy = (r.data[2] << 8) | r.data[3];
          if (sx + r.w > this.width || sy + r.h > this.height) {
            throw new UpdateError(`copy source ${r.w}x${r.h}+${sx}+${sy} lies outside the display`);
          }
          const row = r.w * 4;
          const tmp = new Uint8ClampedArray(row * r.h);
          for (let y = 0; y < r.h; y++) {
            const s = (sy + y) * stride + sx * 4;
            tmp.set(px.subarray(s, s + row), y * row);
          }
          for (let y = 0; y < r.h; y++) {
            px.set(tmp.subarray(y * row, (y + 1) * row), (r.y + y) * stride + r.x * 4);
          }
        }
        this.markDirty(r.x, r.y, r.w, r.h);
      }
      this.seq = u.seq;
      if (u.flags & FLAG_FINAL) this.frames++;
    }
  }

  // ----- cursor shapes -----------------------------------------------------------------------

  /**
   * Parses a cursor shape payload (without the kind byte): u32 id, u16 width, height, hot_x,
   * hot_y, then width*height*4 bytes of straight-alpha RGBA. Checks as `CursorShape::parse`.
   */
  function parseShape(bytes) {
    if (bytes.length < SHAPE_HEADER_LEN) {
      throw new UpdateError(`cursor shape truncated: ${bytes.length} bytes`);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const s = {
      id: dv.getUint32(0), width: dv.getUint16(4), height: dv.getUint16(6),
      hotX: dv.getUint16(8), hotY: dv.getUint16(10),
    };
    if (s.width === 0 || s.height === 0 || s.width > MAX_CURSOR_DIM || s.height > MAX_CURSOR_DIM) {
      throw new UpdateError(`cursor shape of ${s.width}x${s.height} is out of range`);
    }
    if (s.hotX >= s.width || s.hotY >= s.height) {
      throw new UpdateError(`cursor hot spot (${s.hotX},${s.hotY}) lies outside the shape`);
    }
    const want = s.width * s.height * 4;
    if (bytes.length - SHAPE_HEADER_LEN !== want) {
      throw new UpdateError(`cursor shape pixels of ${bytes.length - SHAPE_HEADER_LEN} bytes where ${want} were expected`);
    }
    s.image = new ImageData(new Uint8ClampedArray(bytes.subarray(SHAPE_HEADER_LEN)), s.width, s.height);
    return s;
  }

  // ----- page elements -----------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  const meta = (name) => {
    const v = document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';
    return /^__GLANCE_\w+__$/.test(v) ? '' : v; // a placeholder the server did not fill in
  };
  const params = new URLSearchParams(location.search);
  // The URL fragment may carry the credentials and the opener's origin (docs/AGENT.md):
  // `#ticket=<join ticket>` (an agentjoinurl) or `#token=<agent token>` (openViewer), and
  // `&opener=<origin>` (where to report events). Browsers never send a fragment to a server;
  // the page drops it from the address bar and the history at once.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (location.hash) history.replaceState(history.state, '', location.pathname + location.search);
  const fragmentToken = (fragment.get('ticket') || fragment.get('token') || '').trim();
  const devToken = meta('glance-dev-token');
  const config = {
    key: (params.get('key') ?? '').trim(),
    token: fragmentToken || devToken,
    /** Where the token came from: 'fragment', 'development', 'signin' or '' (none yet). */
    tokenFrom: fragmentToken ? 'fragment' : devToken ? 'development' : '',
    /** The group named in the URL (it wins over a signed-in token's group). */
    urlGroup: Number.parseInt(params.get('group') ?? '', 10),
    groupId: Number.parseInt(params.get('group') || meta('glance-group-id'), 10),
  };

  const canvas = $('screen');
  const ctx = canvas.getContext('2d', { alpha: false });
  const cursorCanvas = $('cursor');
  const cursorCtx = cursorCanvas.getContext('2d');

  /** Everything tests may read (see `window.glanceViewer` at the end). */
  const view = {
    state: 'connecting',
    key: config.key,
    guests: 0,
    endStatus: null,
    message: '',
  };
  const picture = new Picture();

  // ----- events for the page that opened the viewer (GLANCE.Agent in agent.js) ---------------

  const ORIGIN_RE = /^https?:\/\/[A-Za-z0-9.\-[\]:]{1,255}$/;
  const openerOrigin = fragment.get('opener') ?? '';
  /** Seed-001 statuses that end a session normally (`iserror: false`). */
  const NOT_ERRORS = new Set([23, 24, 25, 31]);
  const STATS_MS = 2000;
  /**
   * Delays before the attempts to get back into a session after the connection dropped:
   * 10.5 s in all, so that a service restart (kill, deploy) fits, the visitor's SDK having
   * reconnected and, if need be, started the session again meanwhile.
   */
  const RECONNECT_DELAYS = [500, 1000, 2000, 3000, 4000];
  /** A connection that has not joined within this long is given up (and retried if rejoining). */
  const JOIN_TIMEOUT_MS = 10000;

  /**
   * The origin events go to, or null. Only a page that handed the viewer its credentials in
   * the fragment (or any page, on a development server) hears about the session: a page that
   * merely opened the viewer, where the agent then signed in, learns nothing.
   */
  function reportTarget() {
    if (!window.opener || !ORIGIN_RE.test(openerOrigin)) return null;
    if (config.tokenFrom !== 'fragment' && config.tokenFrom !== 'development') return null;
    return openerOrigin;
  }

  const emitted = []; // every event, for tests (bounded)
  /**
   * Fires a screenshare event: to the opener (postMessage to its origin only) and the log.
   * Every event names its session (`ssnkey`), so a page with several viewers can tell them apart.
   */
  function emit(name, data = {}) {
    const d = { ssnkey: session.ssnkey, ...data, service: 'screenshare' };
    emitted.push({ name, data: d });
    if (emitted.length > 500) emitted.shift();
    const target = reportTarget();
    if (!target) return;
    try {
      window.opener.postMessage({ glance: 'agent-viewer', name, data: d }, target);
    } catch {
      // The opener is gone or navigated elsewhere: nobody to tell.
    }
  }

  /** What `connecting` and later events say about the session. */
  const session = {
    ssnkey: config.key,
    ssnid: '',
    groupid: Number.isInteger(config.groupId) ? config.groupId : null,
    maincid: null,
    visitorversion: '',
    agent: null,
  };
  const ids = () => ({ ssnkey: session.ssnkey, ssnid: session.ssnid, groupid: session.groupid });

  let endReported = false;
  /** The one sessionEnded of this viewer. */
  function reportEnd(status, reason, message, iserror) {
    if (endReported) return;
    endReported = true;
    stopStats();
    emit('sessionEnded', {
      ...ids(),
      status,
      iserror: typeof iserror === 'boolean' ? iserror : !NOT_ERRORS.has(status),
      reason: String(reason || ''),
      message: String(message || ''),
    });
  }

  // Statistics: bytes received and frames shown, reported every STATS_MS while in a session.
  const stats = { bytes: 0, frames: 0, since: 0, timer: null, last: null };
  function startStats() {
    if (stats.timer) return;
    stats.bytes = 0;
    stats.frames = 0;
    stats.since = performance.now();
    stats.timer = setInterval(tickStats, STATS_MS);
  }
  function stopStats() {
    clearInterval(stats.timer);
    stats.timer = null;
  }
  function tickStats() {
    const now = performance.now();
    const secs = Math.max(0.001, (now - stats.since) / 1000);
    const round = (v) => Math.round(v * 10) / 10;
    stats.last = { bytespersec: round(stats.bytes / secs), framespersec: round(stats.frames / secs) };
    stats.bytes = 0;
    stats.frames = 0;
    stats.since = now;
    const kb = stats.last.bytespersec / 1024;
    $('stats').textContent = `${kb >= 100 ? Math.round(kb) : kb.toFixed(1)} KB/s · ${stats.last.framespersec} fps`;
    emit('stats', { ...stats.last });
  }

  // `connected` (once per connection) and `screen` (on start and whenever a size changes).
  let connectedReported = false;
  let lastScreen = '';
  let screenTimer = null;
  function reportConnected() {
    if (connectedReported) return;
    connectedReported = true;
    emit('connected', ids());
    reportScreen();
  }
  /** The display size and the size it is shown at (object-fit: contain) in CSS pixels. */
  function screenSizes() {
    const pw = picture.width || canvas.width;
    const ph = picture.height || canvas.height;
    if (!pw || !ph) return null;
    const scale = Math.min(canvas.clientWidth / pw, canvas.clientHeight / ph);
    return {
      display: { width: pw, height: ph },
      view: { width: Math.round(pw * scale), height: Math.round(ph * scale) },
    };
  }
  function reportScreen() {
    clearTimeout(screenTimer);
    if (!connectedReported || endReported) return;
    const s = screenSizes();
    if (!s) return;
    const sig = `${s.display.width}x${s.display.height}/${s.view.width}x${s.view.height}`;
    if (sig === lastScreen) return;
    lastScreen = sig;
    emit('screen', s);
  }
  function onResize() {
    drawCursor();
    // A window being dragged larger resizes many times: report where it settles.
    clearTimeout(screenTimer);
    screenTimer = setTimeout(reportScreen, 150);
  }

  // ----- the visitor's pointer ---------------------------------------------------------------

  // The pointer: the last `cursor` message, the shapes received (Map keeps arrival order),
  // and whether the position is current (false after a pause, until the next message).
  const pointer = { cursor: null, fresh: false, shapes: new Map(), drawn: null, box: null };

  /** Positions (or hides) the overlay: the hot spot on the cursor's pixel of the picture. */
  function drawCursor() {
    const c = pointer.cursor;
    const shape = c && pointer.shapes.get(c.shape);
    const pw = picture.width || canvas.width;
    const ph = picture.height || canvas.height;
    // A position outside the picture (sent just before a smaller key frame) is not drawn.
    const show = view.state === 'joined' && pointer.fresh && c && c.visible && shape
      && c.x < pw && c.y < ph;
    if (!show) {
      cursorCanvas.hidden = true;
      pointer.box = null;
      return;
    }
    if (pointer.drawn !== shape) {
      cursorCanvas.width = shape.width;
      cursorCanvas.height = shape.height;
      cursorCtx.putImageData(shape.image, 0, 0);
      pointer.drawn = shape;
    }
    // The picture is drawn with object-fit: contain inside the canvas element's box.
    const cw = canvas.clientWidth;
    const ch = canvas.clientHeight;
    const scale = Math.min(cw / pw, ch / ph);
    const left = canvas.offsetLeft + (cw - pw * scale) / 2 + (c.x - shape.hotX) * scale;
    const top = canvas.offsetTop + (ch - ph * scale) / 2 + (c.y - shape.hotY) * scale;
    const box = { left, top, width: shape.width * scale, height: shape.height * scale, scale };
    const st = cursorCanvas.style;
    st.left = `${box.left}px`;
    st.top = `${box.top}px`;
    st.width = `${box.width}px`;
    st.height = `${box.height}px`;
    cursorCanvas.hidden = false;
    pointer.box = box;
  }

  function onCursor(m) {
    const coord = (v) => Number.isInteger(v) && v >= 0 && v < MAX_DISPLAY_DIM;
    if (!coord(m.x) || !coord(m.y) || typeof m.visible !== 'boolean'
        || !Number.isInteger(m.shape) || m.shape < 0 || m.shape > 0xFFFFFFFF) {
      return fail('malformed', 'malformed cursor message');
    }
    pointer.cursor = { x: m.x, y: m.y, visible: m.visible, shape: m.shape };
    pointer.fresh = true;
    drawCursor();
  }

  function onShape(bytes) {
    const s = parseShape(bytes);
    pointer.shapes.delete(s.id); // a shape received again counts as new
    pointer.shapes.set(s.id, s);
    while (pointer.shapes.size > CURSOR_SHAPE_CACHE) {
      pointer.shapes.delete(pointer.shapes.keys().next().value);
    }
    drawCursor();
  }

  // ----- remote control: the agent's mouse and keyboard, in picture pixels -------------------

  // `remoteAssist`: the agent's role may take control; `enabled`: the visitor has enabled it.
  // Input goes out only while both hold and the session shows (not paused).
  const rc = {
    remoteAssist: false, enabled: false, buttons: 0, pendingMove: null, moveTimer: 0, sent: 0,
    asked: 0, askedAt: 0, askTimer: 0,
  };
  /** How long "Ask for control" stays disabled after a click (the service allows 2 a second). */
  const ASK_PAUSE_MS = 3000;

  function rcActive() {
    return rc.remoteAssist && rc.enabled && phase === 'joined' && view.state === 'joined'
      && picture.hasPicture();
  }

  /** 'on' | 'off' | 'forbidden' (the agent's role may not take control). */
  function rcBadgeState() {
    if (!rc.remoteAssist) return 'forbidden';
    return rc.enabled ? 'on' : 'off';
  }

  function updateRc() {
    const on = rcActive();
    document.body.classList.toggle('rc', on);
    canvas.tabIndex = on ? 0 : -1;
    const inSession = phase === 'joined' && (view.state === 'joined' || view.state === 'paused');
    const badge = $('rc');
    const state = rcBadgeState();
    badge.hidden = !inSession;
    badge.dataset.rc = state;
    badge.textContent = {
      on: 'Remote control: on',
      off: 'Remote control: off',
      forbidden: 'Remote control: not allowed for your role',
    }[state];
    const ask = $('askrc');
    ask.hidden = !inSession || state !== 'off';
    const waiting = rc.askedAt > 0 && Date.now() - rc.askedAt < ASK_PAUSE_MS;
    ask.disabled = waiting;
    ask.textContent = waiting ? 'Asked for control…' : 'Ask for control';
    if (!on) {
      rc.buttons = 0;
      rc.pendingMove = null;
    }
  }

  /** "Ask for control": a `requestRC` agent_message the visitor's application receives as
   *  EventMessageReceived (it may answer by enabling remote control). */
  function askForControl() {
    if (phase !== 'joined' || rcBadgeState() !== 'off') return;
    rc.asked++;
    rc.askedAt = Date.now();
    send({ type: 'agent_message', name: 'requestRC', properties: {} });
    clearTimeout(rc.askTimer);
    rc.askTimer = setTimeout(updateRc, ASK_PAUSE_MS);
    updateRc();
  }

  /** The picture pixel under a mouse event (the picture is drawn with object-fit: contain). */
  function picturePoint(ev) {
    const pw = picture.width;
    const ph = picture.height;
    if (!pw || !ph) return null;
    const r = canvas.getBoundingClientRect();
    const scale = Math.min(r.width / pw, r.height / ph);
    if (!(scale > 0)) return null;
    const x = Math.floor((ev.clientX - r.left - (r.width - pw * scale) / 2) / scale);
    const y = Math.floor((ev.clientY - r.top - (r.height - ph * scale) / 2) / scale);
    return {
      x: Math.min(Math.max(x, 0), pw - 1),
      y: Math.min(Math.max(y, 0), ph - 1),
      inside: x >= 0 && y >= 0 && x < pw && y < ph,
    };
  }

  /** DOM buttons (1 left, 2 right, 4 middle) to the protocol's (1 left, 2 middle, 4 right). */
  const wireButtons = (b) => (b & 1) | (b & 4 ? 2 : 0) | (b & 2 ? 4 : 0);
  const i16 = (v) => Math.max(-32768, Math.min(32767, Math.round(v)));
  /** At most `max` bytes of UTF-8, cut at a character boundary. */
  function utf8Prefix(s, max) {
    let out = '';
    let n = 0;
    for (const ch of String(s)) {
      const len = new TextEncoder().encode(ch).length;
      if (n + len > max) break;
      out += ch;
      n += len;
    }
    return out;
  }

  function sendInput(input) {
    rc.sent++;
    send({ type: 'input', input });
  }

  function flushMove() {
    clearTimeout(rc.moveTimer);
    rc.moveTimer = 0;
    const m = rc.pendingMove;
    rc.pendingMove = null;
    if (m && rcActive()) sendInput(m);
  }

  function onPointer(ev) {
    if (!rcActive()) return;
    const p = picturePoint(ev);
    if (!p) return;
    const buttons = wireButtons(ev.buttons);
    if (ev.type === 'pointerdown') {
      canvas.focus({ preventScroll: true });
      try {
        canvas.setPointerCapture(ev.pointerId);
      } catch {
        // not capturable: fine
      }
    }
    // Hovering beside the picture (in the letterbox) is not the visitor's business.
    if (!p.inside && buttons === 0 && rc.buttons === 0) return;
    ev.preventDefault();
    const input = { kind: 'pointer', x: p.x, y: p.y, buttons };
    if (ev.type === 'pointermove' && buttons === rc.buttons) {
      // Moves: at most one every 15 ms, the latest position.
      rc.pendingMove = input;
      if (!rc.moveTimer) rc.moveTimer = setTimeout(flushMove, 15);
      return;
    }
    flushMove();
    rc.buttons = buttons;
    sendInput(input);
  }

  function onWheel(ev) {
    if (!rcActive()) return;
    const p = picturePoint(ev);
    if (!p || !p.inside) return;
    ev.preventDefault();
    // CSS pixels, as the browser reports them for its default (pixel) mode.
    const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? canvas.clientHeight : 1;
    const dx = i16(ev.deltaX * unit);
    const dy = i16(ev.deltaY * unit);
    if (dx === 0 && dy === 0) return;
    flushMove();
    sendInput({ kind: 'wheel', x: p.x, y: p.y, dx, dy });
  }

  function onKey(ev) {
    if (!rcActive() || document.activeElement !== canvas || ev.isComposing) return;
    ev.preventDefault();
    flushMove();
    sendInput({
      kind: 'key',
      code: utf8Prefix(ev.code || '', 32),
      key: utf8Prefix(ev.key || '', 32),
      down: ev.type === 'keydown',
    });
  }

  // ----- page state --------------------------------------------------------------------------

  function setState(state, message) {
    view.state = state;
    if (message !== undefined) view.message = message;
    document.body.dataset.state = state;
    const label = {
      connecting: 'Connecting…',
      reconnecting: 'Reconnecting…',
      joined: 'Connected',
      paused: 'Connected · paused',
      ended: 'Session ended',
      error: 'Disconnected',
    }[state];
    $('conn').textContent = label;
    $('paused').hidden = state !== 'paused';
    $('notice').hidden = state !== 'ended' && state !== 'error';
    $('notice-title').textContent = state === 'ended' ? 'Session ended' : 'Cannot show this session';
    $('notice-text').textContent = view.message;
    $('end').disabled = state !== 'joined' && state !== 'paused';
    if (state === 'ended' || state === 'error') $('stats').textContent = '';
    updateRc();
    drawCursor();
  }

  function setGuests(n) {
    view.guests = n;
    $('guests').textContent = `${n} agent${n === 1 ? '' : 's'} watching`;
  }

  /** Copies the changed part of the picture to the canvas (resizing the canvas when needed). */
  function present() {
    if (!picture.hasPicture()) return;
    let resized = false;
    if (canvas.width !== picture.width || canvas.height !== picture.height) {
      canvas.width = picture.width; // resets the canvas: draw everything
      canvas.height = picture.height;
      picture.takeDirty();
      ctx.putImageData(picture.image, 0, 0);
      resized = true;
    } else {
      const d = picture.takeDirty();
      if (d) ctx.putImageData(picture.image, 0, 0, d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
    }
    $('size').textContent = `${picture.width}×${picture.height}`;
    stats.frames++;
    updateRc();
    drawCursor();
    if (!connectedReported) reportConnected();
    else if (resized) reportScreen();
  }

  /** Ends the viewer with a seed-001 status: the page says why, the opener hears it. */
  function endWith(status, reason, message, iserror, state = 'error', serverMessage = '') {
    phase = 'over';
    clearTimeout(reconnectTimer);
    view.endStatus = status;
    setState(state, message);
    reportEnd(status, reason, serverMessage, iserror);
  }

  // ----- connection --------------------------------------------------------------------------

  let ws = null;
  let phase = 'idle'; // idle -> hello -> join -> joined -> over (back to idle to reconnect)
  let everJoined = false;
  let reconnects = 0; // reconnect attempts since the connection dropped
  let reconnectTimer = null;
  let rejoinRefusal = null; // the last rejoin attempt's join_failed 19, while rejoining
  let queue = Promise.resolve(); // messages are handled strictly in arrival order
  // REFRESH_ONLY key frames are for agents that need one; an agent in step skips them. We are
  // in step once a key frame is complete and nothing has visibly gone missing since (every
  // frame completed, seq numbers consecutive).
  let inStep = false;
  let frameOpen = false; // a message without FINAL was applied; its frame continues
  let skippingSeq = null; // seq of a REFRESH_ONLY frame being skipped

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  /** Ends the connection because of a protocol violation by the server. */
  function fail(code, message) {
    if (phase === 'over') return;
    send({ type: 'error', code, message: message.slice(0, 1000) });
    ws.close(4000, code);
    const status = code === 'version' ? 17 : everJoined ? 29 : 21;
    endWith(status, code, `The viewer stopped: ${message}`, true, 'error', message);
  }

  function handleUpdate(bytes) {
    const u = parseUpdate(bytes);
    if (u.flags & FLAG_REFRESH_ONLY) {
      const next = (picture.seq + 1) >>> 0;
      if (skippingSeq === u.seq || (skippingSeq === null && inStep && !frameOpen && u.seq === next)) {
        skippingSeq = u.flags & FLAG_FINAL ? null : u.seq;
        picture.seq = u.seq;
        return null;
      }
    }
    skippingSeq = null;
    // Anything but the continuation of the open frame or the next frame means we missed some.
    if (frameOpen ? u.seq !== picture.seq : u.seq !== ((picture.seq + 1) >>> 0)) inStep = false;
    return picture.apply(u).then(() => {
      frameOpen = (u.flags & FLAG_FINAL) === 0;
      if (!frameOpen) {
        if (u.flags & FLAG_KEY) inStep = true;
        present();
      }
    });
  }

  function onJoined(m) {
    phase = 'joined';
    const first = !everJoined;
    everJoined = true;
    reconnects = 0;
    rejoinRefusal = null;
    view.key = m.key;
    Object.assign(session, {
      ssnkey: m.key,
      ssnid: String(m.ssnid ?? ''),
      groupid: Number.isInteger(m.group_id) ? m.group_id : session.groupid,
      maincid: Number.isInteger(m.call_id) ? m.call_id : null,
      visitorversion: String(m.visitor_version ?? ''),
      agent: m.agent && typeof m.agent === 'object' ? m.agent : null,
    });
    $('key').textContent = `Session ${m.key}`;
    $('agent').textContent = session.agent ? session.agent.username : '';
    setGuests(m.guests);
    rc.remoteAssist = m.remote_assist === true;
    rc.enabled = m.rc === true;
    if (!picture.hasPicture()) {
      // Until the first key frame: a white display of the announced size.
      canvas.width = m.width;
      canvas.height = m.height;
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, m.width, m.height);
      $('size').textContent = `${m.width}×${m.height}`;
    }
    setState(m.paused ? 'paused' : 'joined');
    if (first) {
      const a = session.agent;
      emit('connecting', {
        ...ids(),
        agentconnect: true,
        server: location.host,
        maincid: session.maincid,
        displayprotocolversion: PROTOCOL_VERSION,
        visitorversion: session.visitorversion,
        displayname: String(m.display_name ?? ''),
        agentusername: a ? String(a.username ?? '') : '',
        agentinfo: a ? {
          username: String(a.username ?? ''),
          partnerid: a.partnerid,
          partneruserid: String(a.partneruserid ?? ''),
          name: String(a.name ?? ''),
          title: String(a.title ?? ''),
        } : null,
      });
    }
    emit('agents', { count: m.guests });
    if (rc.enabled) emit('rc', { enabled: true, remoteAssist: rc.remoteAssist });
    if (m.paused) {
      emit('paused', { paused: true });
      reportConnected(); // nothing to show until the visitor resumes, but we are in
    }
    startStats();
  }

  function handleControl(m) {
    if (m.type === 'ping') return send({ type: 'pong', t: m.t });
    if (m.type === 'error') {
      // A server shutting down takes its sessions with it: the connection is dead (27).
      const status = m.code === 'version' ? 17 : m.code === 'shutdown' && everJoined ? 27
        : everJoined ? 29 : 21;
      return endWith(status, m.code, `The server reported an error: ${m.message || m.code}`, true,
        'error', m.message);
    }
    switch (phase) {
      case 'hello':
        if (m.type !== 'welcome') break;
        if (m.version !== PROTOCOL_VERSION) return fail('version', `unsupported version ${m.version}`);
        phase = 'join';
        return send({
          type: 'join',
          key: config.key,
          token: config.token,
          ...(Number.isInteger(config.groupId) ? { group_id: config.groupId } : {}),
        });
      case 'join':
        if (m.type === 'joined') return onJoined(m);
        if (m.type === 'join_failed') {
          if (m.status === 19 && everJoined) {
            // Rejoining: a restarted service may not have the session back yet (its visitor
            // has not started it again). One more failed attempt of the schedule.
            rejoinRefusal = m;
            if (ws) ws.close();
            return undefined;
          }
          const text = STATUS_TEXT[m.status] || 'The service refused to let you join.';
          return endWith(m.status, m.reason, `${text} (status ${m.status})`, undefined, 'error');
        }
        break;
      case 'joined':
        if (m.type === 'cursor') return onCursor(m);
        if (m.type === 'paused') {
          // The pointer stays hidden until the visitor tells where it is after the pause.
          if (m.paused) pointer.fresh = false;
          setState(m.paused ? 'paused' : 'joined');
          emit('paused', { paused: m.paused === true });
          if (m.paused) reportConnected();
          return undefined;
        }
        if (m.type === 'guest_count') {
          setGuests(m.count);
          return emit('agents', { count: m.count });
        }
        if (m.type === 'rc') {
          rc.enabled = m.enabled === true;
          updateRc();
          return emit('rc', { enabled: rc.enabled, remoteAssist: rc.remoteAssist });
        }
        if (m.type === 'session_ended') {
          const text = STATUS_TEXT[m.status] || `The session ended (${m.reason}).`;
          // The server's own words only when they add something to ours.
          const norm = (t) => String(t || '').toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
          const extra = norm(m.message) && !norm(text).includes(norm(m.message)) ? ` ${m.message}.` : '';
          return endWith(m.status, m.reason, `${text}${extra} (status ${m.status})`, m.iserror,
            'ended', m.message);
        }
        break;
      default:
        return undefined; // over: ignore stragglers
    }
    return fail('unexpected', `unexpected "${m.type}" message`);
  }

  function handleMessage(data) {
    if (phase === 'over') return null;
    try {
      if (typeof data === 'string') {
        if (data.length > MAX_CONTROL_LEN) return fail('too_large', 'control message too large');
        let m;
        try {
          m = JSON.parse(data);
        } catch {
          m = null;
        }
        if (!m || typeof m !== 'object' || typeof m.type !== 'string') {
          return fail('malformed', 'malformed control message');
        }
        return handleControl(m);
      }
      const bytes = new Uint8Array(data);
      if (bytes.length > MAX_BINARY_LEN) return fail('too_large', 'binary message too large');
      if (bytes[0] === KIND_CONTROL) {
        // A control message sent as binary (kind byte 1 + JSON): read it as the text form.
        if (bytes.length > MAX_CONTROL_LEN + 1) return fail('too_large', 'control message too large');
        let text;
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(1));
        } catch {
          return fail('malformed', 'control message is not UTF-8');
        }
        return handleMessage(text);
      }
      if (bytes[0] === KIND_CURSOR) {
        if (bytes.length > MAX_SHAPE_LEN + 1) return fail('too_large', 'cursor shape too large');
        if (phase !== 'joined') return fail('unexpected', 'a cursor shape before joining');
        try {
          return onShape(bytes.subarray(1));
        } catch (e) {
          if (e instanceof UpdateError) return fail('malformed', `a malformed cursor shape (${e.message})`);
          throw e;
        }
      }
      if (bytes[0] !== KIND_UPDATE) return fail('malformed', `unknown message kind ${bytes[0]}`);
      if (phase !== 'joined') return fail('unexpected', 'a frame update before joining');
      const applied = handleUpdate(bytes.subarray(1));
      return applied && applied.catch((e) => onUpdateError(e));
    } catch (e) {
      return onUpdateError(e);
    }
  }

  function onUpdateError(e) {
    if (e instanceof UpdateError) return fail('malformed', `a malformed screen update (${e.message})`);
    console.error(e);
    return fail('internal', `an internal error (${e.message})`);
  }

  /**
   * The socket closed without session_ended. In a session: `conndrop`, then up to
   * RECONNECT_DELAYS.length attempts to join again, a join_failed 19 counting as a failed
   * attempt (status 34 when none works, 19 when the last one found no session). Never in a
   * session: `conndrop` and status 32.
   */
  function onClosed() {
    if (phase === 'over') return;
    const wasJoined = phase === 'joined';
    phase = 'idle';
    if (!everJoined) {
      emit('conndrop', ids());
      endWith(32, 'cant_connect', `${STATUS_TEXT[32]} (status 32)`, true);
      return;
    }
    if (wasJoined) {
      emit('conndrop', ids());
      reconnects = 0;
      rejoinRefusal = null;
    }
    if (reconnects >= RECONNECT_DELAYS.length) {
      if (rejoinRefusal) {
        // The service is there but the session is not: it ended while we were away.
        endWith(19, rejoinRefusal.reason, `${STATUS_TEXT[19]} (status 19)`, true);
        return;
      }
      endWith(34, 'cant_reconnect', `${STATUS_TEXT[34]} (status 34)`, true);
      return;
    }
    setState('reconnecting', 'The connection to the server was lost. Reconnecting…');
    reconnectTimer = setTimeout(connect, RECONNECT_DELAYS[reconnects++]);
  }

  function connect() {
    if (phase === 'over') return;
    phase = 'hello';
    inStep = false;
    frameOpen = false;
    skippingSeq = null;
    connectedReported = false;
    if (!everJoined) setState('connecting');
    let sock;
    try {
      sock = new WebSocket(`wss://${location.host}/ws/agent`);
    } catch (e) {
      console.error(e);
      queue = queue.then(() => onClosed());
      return;
    }
    ws = sock;
    sock.binaryType = 'arraybuffer';
    // A server that accepts but never answers must not leave the viewer waiting forever.
    const joinTimer = setTimeout(() => {
      if (ws === sock && phase !== 'joined' && phase !== 'over') sock.close();
    }, JOIN_TIMEOUT_MS);
    sock.onopen = () => {
      if (ws === sock) {
        send({
          type: 'hello',
          role: 'agent',
          min_version: PROTOCOL_VERSION,
          max_version: PROTOCOL_VERSION,
          client: `${CLIENT} (${navigator.userAgent})`.slice(0, 1000),
        });
      }
    };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      stats.bytes += typeof ev.data === 'string' ? ev.data.length : ev.data.byteLength;
      queue = queue.then(() => handleMessage(ev.data));
    };
    sock.onclose = () => {
      clearTimeout(joinTimer);
      if (ws === sock) queue = queue.then(() => onClosed());
    };
  }

  // ----- signing in (no token in the fragment and no development token) ----------------------

  function showSignIn(message = '') {
    document.body.dataset.state = 'form';
    $('signin').hidden = false;
    if (!$('partnerid').value && Number.isInteger(config.urlGroup)) $('partnerid').value = String(config.urlGroup);
    $('signinerror').textContent = message;
    ($('partnerid').value ? $('partneruserid') : $('partnerid')).focus();
  }

  async function signIn(ev) {
    ev.preventDefault();
    const button = $('signin').querySelector('button');
    button.disabled = true;
    $('signinerror').textContent = '';
    try {
      let r;
      try {
        r = await fetch('/api/auth/token', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          credentials: 'omit',
          body: JSON.stringify({
            partnerid: $('partnerid').value.trim(),
            partneruserid: $('partneruserid').value.trim(),
            loginkey: $('loginkey').value.trim(),
          }),
        });
      } catch {
        return showSignIn('The service could not be reached. Try again.');
      }
      if (r.status === 429) return showSignIn('Too many attempts. Wait a minute and try again.');
      const j = r.ok ? await r.json().catch(() => null) : null;
      if (!j || typeof j.token !== 'string') {
        return showSignIn('The sign-in was refused. Check the partner id, the partner user id and the login key.');
      }
      config.token = j.token;
      config.tokenFrom = 'signin';
      if (!Number.isInteger(config.urlGroup) && Number.isInteger(j.groupid)) config.groupId = j.groupid;
      $('loginkey').value = '';
      $('signin').hidden = true;
      connect();
    } finally {
      button.disabled = false;
    }
    return undefined;
  }

  // ----- start -------------------------------------------------------------------------------

  $('end').addEventListener('click', () => {
    if (confirm('End the session for everyone?')) send({ type: 'end_session' });
  });
  $('signin').addEventListener('submit', signIn);
  $('askrc').addEventListener('click', askForControl);
  // The overlay and the `screen` event follow the picture when the page's size changes.
  window.addEventListener('resize', onResize);
  if (typeof ResizeObserver === 'function') new ResizeObserver(onResize).observe($('stage'));
  // Remote control input, while the visitor allows it.
  for (const t of ['pointerdown', 'pointermove', 'pointerup']) canvas.addEventListener(t, onPointer);
  canvas.addEventListener('wheel', onWheel, { passive: false });
  canvas.addEventListener('keydown', onKey);
  canvas.addEventListener('keyup', onKey);
  canvas.addEventListener('contextmenu', (ev) => {
    if (rcActive()) ev.preventDefault();
  });
  // Leaving the page leaves the session (without ending it).
  window.addEventListener('pagehide', () => {
    if (phase === 'joined') send({ type: 'leave' });
  });

  if (!KEY_RE.test(config.key)) {
    // No (valid) key: ask for one. The form reloads the page with ?key=... (and the group).
    document.body.dataset.state = 'form';
    $('keyform').hidden = false;
    if (Number.isInteger(config.urlGroup)) $('keygroup').value = String(config.urlGroup);
    else $('keygroup').remove();
    if (config.key) $('keyerror').textContent = 'A key is 1 to 63 letters, digits, ".", "-" or "_".';
    $('keyinput').focus();
  } else {
    $('key').textContent = `Session ${config.key}`;
    document.title = `Glance – ${config.key}`;
    if (config.token) connect();
    else showSignIn();
  }

  function toBase64(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  // Test hook: read-only state, so tests need not scrape the page.
  window.glanceViewer = {
    /**
     * 'connecting' | 'reconnecting' | 'joined' | 'paused' | 'ended' | 'error' (join failures
     * are 'error'); the forms leave it at 'connecting'.
     */
    get state() { return view.state; },
    get key() { return view.key; },
    get guests() { return view.guests; },
    /** The display size: the picture's, or the announced one before the first key frame. */
    get width() { return picture.width || canvas.width; },
    get height() { return picture.height || canvas.height; },
    /** FINAL updates applied (skipped REFRESH_ONLY frames do not count). */
    get frames() { return picture.frames; },
    get seq() { return picture.seq; },
    /** session_ended or join_failed status code (or the viewer's own 17, 21, 29, 32, 34), else null. */
    get endStatus() { return view.endStatus; },
    get message() { return view.message; },
    /** The last cursor message {x, y, visible, shape} (picture pixels), or null before any. */
    get cursor() { return pointer.cursor && { ...pointer.cursor }; },
    /** Whether the pointer overlay is shown now. */
    get cursorShown() { return !cursorCanvas.hidden; },
    /** The overlay's box in page pixels relative to the stage {left, top, width, height, scale}, or null. */
    get cursorBox() { return pointer.box && { ...pointer.box }; },
    /** Ids of the cursor shapes kept, oldest first. */
    get cursorShapes() { return [...pointer.shapes.keys()]; },
    /** Every event fired (also the ones not reported to an opener): [{name, data}]. */
    get events() { return JSON.parse(JSON.stringify(emitted)); },
    /** Where events go: the opener's origin, or null. */
    get reportTarget() { return reportTarget(); },
    /** Where the token came from: 'fragment', 'development', 'signin' or ''. */
    get tokenFrom() { return config.tokenFrom; },
    /**
     * Remote control: {remoteAssist, enabled, active, sent (input messages sent), asked
     * ("Ask for control" messages sent), badge ('on' | 'off' | 'forbidden')}.
     */
    get rc() {
      return {
        remoteAssist: rc.remoteAssist, enabled: rc.enabled, active: rcActive(), sent: rc.sent,
        asked: rc.asked, badge: rcBadgeState(),
      };
    },
    /** The last stats {bytespersec, framespersec}, or null before the first period. */
    get stats() { return stats.last && { ...stats.last }; },
    /** The current picture as base64 of RGBA bytes (width*height*4), or '' before any. */
    pixels() { return picture.hasPicture() ? toBase64(picture.image.data) : ''; },
    /** The decoder alone, for tests that feed it updates directly. */
    decoder: { parseUpdate, parseShape, Picture, UpdateError },
  };
})();
