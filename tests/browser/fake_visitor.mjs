// A small visitor written from docs/PROTOCOL.md, independent of the Rust SDK: it speaks the
// direct protocol over TLS, sends frame updates built by hand with all three encodings, and
// keeps the exact RGBA picture it has sent, so tests can check the browser's decoder against
// a known picture. It sends cursor shapes (kind 3) and `cursor` messages when told to.

import https from 'node:https';
import tls from 'node:tls';
import net from 'node:net';
import zlib from 'node:zlib';

export const FLAG_KEY = 1;
export const FLAG_REFRESH_ONLY = 2;
export const FLAG_FINAL = 4;
export const ENC_SOLID = 0;
export const ENC_ZLIB_RGB = 1;
export const ENC_COPY = 2;
export const ENC_JPEG = 4;

/**
 * Builds one update payload. Each rect is {x, y, w, h, enc, data} with the data already
 * encoded (see `solid`, `zlibRgb`, `copy`).
 */
export function encodeUpdate(flags, seq, width, height, rects) {
  const parts = [];
  const head = Buffer.alloc(11);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(seq >>> 0, 1);
  head.writeUInt16BE(width, 5);
  head.writeUInt16BE(height, 7);
  head.writeUInt16BE(rects.length, 9);
  parts.push(head);
  for (const r of rects) {
    const h = Buffer.alloc(13);
    h.writeUInt16BE(r.x, 0);
    h.writeUInt16BE(r.y, 2);
    h.writeUInt16BE(r.w, 4);
    h.writeUInt16BE(r.h, 6);
    h.writeUInt8(r.enc, 8);
    h.writeUInt32BE(r.data.length, 9);
    parts.push(h, Buffer.from(r.data));
  }
  return Buffer.concat(parts);
}

export const solid = (x, y, w, h, rgb) => ({ x, y, w, h, enc: ENC_SOLID, data: Buffer.from(rgb) });
/** `rgb`: w*h*3 bytes, rows top to bottom. */
export const zlibRgb = (x, y, w, h, rgb) =>
  ({ x, y, w, h, enc: ENC_ZLIB_RGB, data: zlib.deflateSync(Buffer.from(rgb), { level: 6 }), rgb });
export const copy = (x, y, w, h, sx, sy) => {
  const data = Buffer.alloc(4);
  data.writeUInt16BE(sx, 0);
  data.writeUInt16BE(sy, 2);
  return { x, y, w, h, enc: ENC_COPY, data, sx, sy };
};

export const KIND_CURSOR = 3;

/** A cursor shape payload: u32 id, u16 width, height, hot_x, hot_y, then RGBA (straight alpha). */
export function encodeShape({ id, width, height, hotX, hotY, rgba }) {
  const head = Buffer.alloc(12);
  head.writeUInt32BE(id >>> 0, 0);
  head.writeUInt16BE(width, 4);
  head.writeUInt16BE(height, 6);
  head.writeUInt16BE(hotX, 8);
  head.writeUInt16BE(hotY, 10);
  return Buffer.concat([head, Buffer.from(rgba)]);
}

/**
 * A test cursor shape: a w x h frame of opaque `rgb`, opaque white inside a 1-pixel border,
 * and the top-right pixel transparent (so both alphas are checked).
 */
export function boxShape(id, width, height, hotX, hotY, rgb) {
  const rgba = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1;
      const c = edge ? rgb : [255, 255, 255];
      rgba[p] = c[0]; rgba[p + 1] = c[1]; rgba[p + 2] = c[2]; rgba[p + 3] = 255;
    }
  }
  rgba.fill(0, (width - 1) * 4, width * 4);
  return { id, width, height, hotX, hotY, rgba };
}

/** Largest update payload: a binary message is at most 4 MiB, its kind byte included. */
export const MAX_UPDATE_BYTES = 4 * 1024 * 1024 - 1;

/** Splits a message's rects over several messages of at most `maxBytes` each. */
export function splitRects(rects, maxBytes) {
  const out = [[]];
  let size = 11;
  for (const r of rects) {
    const n = 13 + r.data.length;
    if (out.at(-1).length > 0 && size + n > maxBytes) {
      out.push([]);
      size = 11;
    }
    out.at(-1).push(r);
    size += n;
  }
  return out;
}

/** A deterministic pseudo-random generator (xorshift32). */
export function prng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

/** w*h*3 RGB bytes of a gradient with noise, different for each seed. */
export function pattern(w, h, seed) {
  const rnd = prng(seed);
  const out = Buffer.alloc(w * h * 3);
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 3) {
      const n = rnd();
      out[i] = (x * 255 / Math.max(1, w - 1) + (n & 15)) & 255;
      out[i + 1] = (y * 255 / Math.max(1, h - 1) + ((n >> 4) & 15)) & 255;
      out[i + 2] = ((x ^ y) * 7 + seed * 37 + ((n >> 8) & 31)) & 255;
    }
  }
  return out;
}

/** What the visitor has sent: an RGBA picture (alpha 255), changed the way rects say. */
export class PictureModel {
  constructor(width, height) {
    this.reshape(width, height);
  }

  reshape(width, height) {
    this.width = width;
    this.height = height;
    this.rgba = Buffer.alloc(width * height * 4, 255);
  }

  apply(r) {
    const { width } = this;
    const px = this.rgba;
    if (r.enc === ENC_SOLID) {
      for (let y = r.y; y < r.y + r.h; y++) {
        for (let x = r.x; x < r.x + r.w; x++) {
          const p = (y * width + x) * 4;
          px[p] = r.data[0]; px[p + 1] = r.data[1]; px[p + 2] = r.data[2]; px[p + 3] = 255;
        }
      }
    } else if (r.enc === ENC_ZLIB_RGB || r.enc === ENC_JPEG || r.rgb !== undefined) {
      // (the stream encodings 5 and 6 carry `rgb` too)
      // `rgb`: the exact pixels (for JPEG, what a decoder gives; see jpeg.mjs)
      for (let y = 0; y < r.h; y++) {
        for (let x = 0; x < r.w; x++) {
          const p = ((r.y + y) * width + r.x + x) * 4;
          const s = (y * r.w + x) * 3;
          px[p] = r.rgb[s]; px[p + 1] = r.rgb[s + 1]; px[p + 2] = r.rgb[s + 2]; px[p + 3] = 255;
        }
      }
    } else {
      const src = Buffer.from(px); // the picture as it was before this rect
      for (let y = 0; y < r.h; y++) {
        const s = ((r.sy + y) * width + r.sx) * 4;
        src.copy(px, ((r.y + y) * width + r.x) * 4, s, s + r.w * 4);
      }
    }
  }

  /** The whole picture as zlib rects of 32-row bands (the shape the Rust visitor sends). */
  keyRects() {
    const rects = [];
    for (let y = 0; y < this.height; y += 32) {
      const h = Math.min(32, this.height - y);
      const rgb = Buffer.alloc(this.width * h * 3);
      for (let i = 0, p = y * this.width * 4; i < rgb.length; i += 3, p += 4) {
        rgb[i] = this.rgba[p]; rgb[i + 1] = this.rgba[p + 1]; rgb[i + 2] = this.rgba[p + 2];
      }
      rects.push(zlibRgb(0, y, this.width, h, rgb));
    }
    return rects;
  }
}

function httpsGetJson(url, ca, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${url}: ${res.statusCode} ${body}`));
        try { resolve(JSON.parse(body)); } catch (e) { reject(e); }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

/** One visitor connection on the direct port. */
export class FakeVisitor {
  /**
   * Connects, says hello and starts a session. Resolves once `session_started` arrived.
   * opts: {sessionUrl, caCert (PEM text), groupId, width, height, key?, token?, maxGuests?, visitorId?}
   */
  static async start(opts) {
    const v = new FakeVisitor(opts);
    await v.connect();
    return v;
  }

  constructor({ sessionUrl, caCert, groupId, width = 320, height = 200, key = null, token = '', maxGuests = 0, visitorId = null }) {
    Object.assign(this, { sessionUrl, caCert, groupId, key, token, maxGuests, visitorId });
    this.model = new PictureModel(width, height);
    this.seq = 0;
    this.paused = false;
    this.messages = []; // every control message received
    this.waiters = [];
    this.closed = false;
    this.buf = Buffer.alloc(0);
  }

  async connect() {
    const cfg = await httpsGetJson(
      `${this.sessionUrl}/api/visitor/config?groupid=${this.groupId}`, this.caCert);
    this.config = cfg;
    const hostPort = /^(.*):(\d+)$/.exec(cfg.direct);
    if (!hostPort) throw new Error(`bad direct address ${cfg.direct}`);
    const serviceHost = new URL(this.sessionUrl).hostname;
    this.sock = tls.connect({
      host: hostPort[1].replace(/^\[|\]$/g, ''),
      port: Number(hostPort[2]),
      ca: this.caCert,
      // SNI and the certificate check use the service URL's host name (no SNI for an IP).
      servername: net.isIP(serviceHost) ? undefined : serviceHost,
      checkServerIdentity: (_h, cert) => tls.checkServerIdentity(serviceHost, cert),
    });
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('close', () => { this.closed = true; this.wake(); });
    this.sock.on('error', (e) => { this.error = e; });
    await new Promise((resolve, reject) => {
      this.sock.once('secureConnect', resolve);
      this.sock.once('error', reject);
    });
    this.sendControl({ type: 'hello', role: 'visitor', min_version: 1, max_version: 1, client: 'fake-visitor (node test)' });
    await this.waitFor((m) => m.type === 'welcome', 5000);
    this.sendControl({
      type: 'start_session', group_id: this.groupId, token: this.token, key: this.key,
      visitor_id: this.visitorId, name: 'Fake Visitor', email: '', phone: '', max_guests: this.maxGuests,
      persist: false, paused: false, main_call_id: 0, presence_start: false,
      display: { name: 'fake', width: this.model.width, height: this.model.height },
    });
    const m = await this.waitFor((x) => x.type === 'session_started' || x.type === 'start_failed', 5000);
    if (m.type === 'start_failed') throw new Error(`start_failed: ${m.reason} ${m.message}`);
    this.key = m.key;
  }

  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(0);
      if (this.buf.length < 5 + len) break;
      const kind = this.buf[4];
      const payload = this.buf.subarray(5, 5 + len);
      this.buf = this.buf.subarray(5 + len);
      if (kind !== 1) continue; // the server sends visitors control messages only
      const m = JSON.parse(payload.toString('utf8'));
      this.messages.push(m);
      if (m.type === 'ping') this.sendControl({ type: 'pong', t: m.t });
      if (m.type === 'refresh_request' && !this.paused) {
        this.sendFrame([this.model.keyRects()], FLAG_KEY | FLAG_REFRESH_ONLY, false);
      }
      this.wake();
    }
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until a received control message satisfies `pred` (bounded). */
  waitFor(pred, timeoutMs) {
    return new Promise((resolve, reject) => {
      let seen = 0;
      const timer = setTimeout(() => reject(new Error(
        `fake visitor: timed out; received ${JSON.stringify(this.messages.map((m) => m.type))}`)), timeoutMs);
      const check = () => {
        for (; seen < this.messages.length; seen++) {
          if (pred(this.messages[seen])) {
            clearTimeout(timer);
            return resolve(this.messages[seen]);
          }
        }
        if (this.closed) {
          clearTimeout(timer);
          return reject(new Error('fake visitor: connection closed'));
        }
        this.waiters.push(check);
      };
      check();
    });
  }

  write(kind, payload) {
    const h = Buffer.alloc(5);
    h.writeUInt32BE(payload.length, 0);
    h.writeUInt8(kind, 4);
    this.sock.write(Buffer.concat([h, payload]));
  }

  sendControl(m) {
    this.write(1, Buffer.from(JSON.stringify(m)));
  }

  /**
   * Sends one frame: `messages` is a list of rect lists, one update message each (same seq;
   * the last gets FINAL). With `applyToModel`, the rects change the known picture.
   * Returns the seq.
   */
  sendFrame(messages, flags, applyToModel = true, maxBytes = MAX_UPDATE_BYTES) {
    this.seq = (this.seq + 1) >>> 0;
    messages = messages.flatMap((rects) => splitRects(rects, maxBytes));
    messages.forEach((rects, i) => {
      const f = flags | (i === messages.length - 1 ? FLAG_FINAL : 0);
      this.write(2, encodeUpdate(f, this.seq, this.model.width, this.model.height, rects));
      if (applyToModel) rects.forEach((r) => this.model.apply(r));
    });
    return this.seq;
  }

  /** Sends a raw update payload unchanged (for malformed-update tests). */
  sendRawUpdate(payload) {
    this.write(2, payload);
  }

  /** A KEY frame of a (possibly new) display size painted with `rects`. */
  sendKeyFrame(width, height, rects, maxBytes = MAX_UPDATE_BYTES) {
    if (width !== this.model.width || height !== this.model.height) this.model.reshape(width, height);
    return this.sendFrame([rects], FLAG_KEY, true, maxBytes);
  }

  /** Sends a cursor shape ({id, width, height, hotX, hotY, rgba}). */
  sendCursorShape(shape) {
    this.write(KIND_CURSOR, encodeShape(shape));
  }

  /** Sends a `cursor` message: position in display pixels, visibility, shape id. */
  sendCursor(x, y, visible, shape) {
    this.sendControl({ type: 'cursor', x, y, visible, shape });
  }

  /** Enables or disables remote control (the agents get `rc`; `input` may then arrive). */
  setRc(enabled) {
    this.sendControl({ type: 'rc', enabled });
  }

  /** The `input` messages received so far (their `input` objects). */
  inputs() {
    return this.messages.filter((m) => m.type === 'input').map((m) => m.input);
  }

  pause(paused) {
    this.paused = paused;
    this.sendControl({ type: 'pause', paused });
    // The first frame after resume is a key frame for every agent.
    if (!paused) this.sendFrame([this.model.keyRects()], FLAG_KEY, false);
  }

  /** Ends the session; resolves with the server's session_ended. */
  async end() {
    this.sendControl({ type: 'end_session' });
    return this.waitFor((m) => m.type === 'session_ended', 5000);
  }

  close() {
    this.sock?.destroy();
  }
}
