// Frame-update test vectors for the decoder: sequences of update payloads (without the kind
// byte) that the Rust reference `Framebuffer` accepts, with the exact picture they give, or
// refuses. decoder.test.mjs runs them through the viewer's JavaScript decoder.

import zlib from 'node:zlib';
import {
  FLAG_KEY, FLAG_REFRESH_ONLY, FLAG_FINAL, ENC_SOLID, ENC_ZLIB_RGB, ENC_COPY,
  encodeUpdate, solid, zlibRgb, copy, pattern, prng, PictureModel,
} from './fake_visitor.mjs';
import { jpegBlocks, withoutSegment } from './jpeg.mjs';

const KF = FLAG_KEY | FLAG_FINAL;
const raw = (x, y, w, h, enc, data) => ({ x, y, w, h, enc, data: Buffer.from(data) });
const z = (bytes) => zlib.deflateSync(Buffer.from(bytes));

/** A sequence whose result is known: every message is applied to `model` too. */
function accepted(name, width, height, steps) {
  const model = new PictureModel(width, height);
  let started = false;
  const messages = steps.map(({ flags, seq, w = width, h = height, rects }) => {
    if (flags & FLAG_KEY && (!started || w !== model.width || h !== model.height)) model.reshape(w, h);
    started = true;
    rects.forEach((r) => model.apply(r));
    return encodeUpdate(flags, seq, w, h, rects);
  });
  const frames = steps.filter((s) => s.flags & FLAG_FINAL).length;
  return { name, messages, ok: true, width: model.width, height: model.height, frames, rgba: model.rgba };
}

/** Grey 8x8 blocks of a 13x10 JPEG rect, and colour ones of a 16x16 rect. */
const greyJpeg = (x, y, w = 13, h = 10) =>
  jpegBlocks(x, y, w, h, (bx, by) => [(bx * 90 + by * 41 + 20) & 255], { grey: true });
const colourJpeg = (x, y, w = 16, h = 16) =>
  jpegBlocks(x, y, w, h, (bx, by) => [[200, 30, 40], [20, 180, 60], [30, 60, 220], [250, 250, 250]][by * 2 + bx]);
/** `d` with byte `at` (negative: from the end) set to `v`. */
const patched = (d, at, v) => { const b = Buffer.from(d); b[at < 0 ? b.length + at : at] = v; return b; };
const sofAt = (d) => d.indexOf(Buffer.from([0xff, 0xc0]));
const jpegRect = (w, h, data) => raw(0, 0, w, h, 4, data);

// The stream encodings (5 ZLIB_STREAM, 6 PALETTE_STREAM): pieces of one raw DEFLATE stream,
// each up to a sync flush without its last 4 bytes. Node's zlib has no piecewise API that is
// synchronous, so each piece is compressed on its own with everything before it as the preset
// dictionary: the same history the decoder holds, so back-references reach into earlier rects.
const FLAG_STREAM_RESET = 8;
const ENC_ZLIB_STREAM = 5;
const ENC_PALETTE_STREAM = 6;
class Stream {
  constructor(level = 6) {
    this.level = level;
    this.hist = Buffer.alloc(0);
  }

  piece(bytes, { final = false } = {}) {
    const input = Buffer.from(bytes);
    const opts = { level: this.level };
    if (!final) opts.finishFlush = zlib.constants.Z_SYNC_FLUSH;
    if (this.hist.length) opts.dictionary = this.hist.subarray(Math.max(0, this.hist.length - 32768));
    const d = zlib.deflateRawSync(input, opts);
    this.hist = Buffer.concat([this.hist, input]).subarray(-65536);
    if (final) return d;
    if (d.subarray(-4).toString('hex') !== '0000ffff') throw new Error('no sync flush at the end');
    return d.subarray(0, d.length - 4);
  }

  /** A ZLIB_STREAM rect of `rgb`. */
  rgb(x, y, w, h, rgb, opts) {
    return { x, y, w, h, enc: ENC_ZLIB_STREAM, data: this.piece(rgb, opts), rgb: Buffer.from(rgb) };
  }

  /** A PALETTE_STREAM rect: `pal` colours [[r, g, b], ...], `idx` w*h indices; the colours
   * and then the indices are one piece of the stream. */
  palette(x, y, w, h, pal, idx) {
    const rgb = Buffer.from([...idx].flatMap((i) => pal[i]));
    const piece = this.piece(Buffer.concat([Buffer.from(pal.flat()), Buffer.from(idx)]));
    return { x, y, w, h, enc: ENC_PALETTE_STREAM, data: Buffer.concat([Buffer.from([pal.length - 1]), piece]), rgb };
  }
}
/** Text-like indices: two colours in a pattern with no short period. */
const glyphIdx = (n, seed) => {
  const next = prng(seed);
  return Uint8Array.from({ length: n }, () => (next() % 4 === 0 ? 1 : 0));
};
const streamVectors = () => {
  const s = new Stream();
  const text = glyphIdx(W * 10, 7);
  const pal = [[10, 20, 30], [230, 230, 230]];
  const big = new Stream(1);
  const bw = 128, bh = 100; // 38400 bytes: more than the 32 KB window
  const stored = new Stream(0);
  const late = new Stream();
  const lateKey = encodeUpdate(KF | FLAG_REFRESH_ONLY, 3, W, H, [solid(0, 0, W, H, [5, 5, 5])]);
  return [
    accepted('stream rects compress against earlier rects of earlier frames', W, H, [
      { flags: KF | FLAG_STREAM_RESET, seq: 1, rects: [s.rgb(0, 0, W, H, pattern(W, H, 1))] },
      { flags: FLAG_FINAL, seq: 2, rects: [s.palette(0, 0, W, 10, pal, text), solid(0, 10, W, 1, [1, 2, 3])] },
      // the same indices again: the piece is mostly a back-reference into the last frame
      { flags: FLAG_FINAL, seq: 3, rects: [s.palette(0, 11, W, 10, pal, text), s.rgb(3, 2, 9, 7, pattern(9, 7, 2))] },
      { flags: FLAG_FINAL, seq: 4, rects: [s.rgb(10, 5, 9, 7, pattern(9, 7, 2))] },
    ]),
    accepted('a stream over several messages of a key frame, then a new stream', W, H, [
      { flags: FLAG_KEY | FLAG_STREAM_RESET, seq: 1, rects: [late.rgb(0, 0, W, 10, pattern(W, 10, 3))] },
      { flags: KF, seq: 1, rects: [late.rgb(0, 10, W, 11, pattern(W, 11, 3))] },
      { flags: FLAG_FINAL | FLAG_STREAM_RESET, seq: 2, rects: [new Stream().rgb(1, 1, 5, 5, pattern(5, 5, 4))] },
    ]),
    accepted('stream pieces beyond the 32 KB window, fixed Huffman codes', bw, bh, [
      { flags: KF | FLAG_STREAM_RESET, seq: 1, rects: [big.rgb(0, 0, bw, bh, pattern(bw, bh, 5))] },
      { flags: FLAG_FINAL, seq: 2, rects: [big.rgb(0, 0, bw, 20, pattern(bw, 20, 5)), big.rgb(0, 50, 3, 1, [1, 2, 3, 1, 2, 3, 1, 2, 3])] },
    ]),
    accepted('stored blocks in the stream', W, H, [
      { flags: KF | FLAG_STREAM_RESET, seq: 1, rects: [stored.rgb(0, 0, W, H, pattern(W, H, 6))] },
      { flags: FLAG_FINAL, seq: 2, rects: [stored.rgb(2, 2, 4, 4, pattern(4, 4, 6))] },
    ]),
    refused('a stream rect without a STREAM_RESET', [encodeUpdate(KF, 1, W, H, [new Stream().rgb(0, 0, W, H, pattern(W, H, 1))])]),
    refused('a stream rect after a key frame without STREAM_RESET', [
      encodeUpdate(KF | FLAG_STREAM_RESET, 1, W, H, [solid(0, 0, W, H, [1, 1, 1])]),
      lateKey,
      encodeUpdate(FLAG_FINAL, 4, W, H, [new Stream().rgb(0, 0, 4, 4, pattern(4, 4, 1))]),
    ]),
    refused('a stream piece that ends the stream (final block)', [encodeUpdate(KF | FLAG_STREAM_RESET, 1, 4, 4, [new Stream().rgb(0, 0, 4, 4, pattern(4, 4, 1), { final: true })])]),
    refused('a stream piece inflating to too many bytes', [encodeUpdate(KF | FLAG_STREAM_RESET, 1, 4, 4, [{ ...new Stream().rgb(0, 0, 4, 4, new Uint8Array(49)), rgb: undefined }])]),
    refused('a stream piece inflating to too few bytes', [encodeUpdate(KF | FLAG_STREAM_RESET, 1, 4, 4, [{ ...new Stream().rgb(0, 0, 4, 4, new Uint8Array(47)), rgb: undefined }])]),
    refused('a stream piece cut short', [encodeUpdate(KF | FLAG_STREAM_RESET, 1, 4, 4, [(() => { const r = new Stream().rgb(0, 0, 4, 4, pattern(4, 4, 1)); return { ...r, data: r.data.subarray(0, r.data.length - 3) }; })()])]),
    refused('a back-reference before the start of the stream', [encodeUpdate(KF | FLAG_STREAM_RESET, 1, 4, 4, [(() => { const s2 = new Stream(); s2.piece(pattern(4, 4, 1)); return s2.rgb(0, 0, 4, 4, pattern(4, 4, 1)); })()])]),
    refused('a palette stream index beyond the palette', [encodeUpdate(KF | FLAG_STREAM_RESET, 1, 2, 1, [new Stream().palette(0, 0, 2, 1, [[1, 1, 1], [2, 2, 2]], [0, 2])])]),
    refused('a palette stream piece without room for its colours', [encodeUpdate(KF | FLAG_STREAM_RESET, 1, 2, 1, [{ x: 0, y: 0, w: 2, h: 1, enc: ENC_PALETTE_STREAM, data: Buffer.concat([Buffer.from([1]), new Stream().piece([1, 1, 1, 0, 1])]) }])]),
  ];
};

/** A sequence whose last message must be refused. */
function refused(name, messages) {
  return { name, messages, ok: false };
}

const W = 37;
const H = 21;
const key = (seq = 1, w = W, h = H) => encodeUpdate(KF, seq, w, h, [zlibRgb(0, 0, w, h, pattern(w, h, 1))]);

export const vectors = [
  ...streamVectors(),
  accepted('key frame then deltas with all three encodings', W, H, [
    { flags: KF, seq: 1, rects: [zlibRgb(0, 0, W, H, pattern(W, H, 1))] },
    { flags: FLAG_FINAL, seq: 2, rects: [solid(3, 2, 6, 4, [1, 2, 3]), solid(0, 20, 37, 1, [250, 0, 7])] },
    // overlapping copies: scroll down by 3 rows, then left by 5 columns
    { flags: FLAG_FINAL, seq: 3, rects: [copy(0, 3, W, H - 3, 0, 0), copy(0, 0, W - 5, H, 5, 0)] },
    { flags: FLAG_FINAL, seq: 4, rects: [zlibRgb(10, 5, 9, 7, pattern(9, 7, 2)), copy(30, 14, 7, 7, 10, 5)] },
  ]),
  accepted('a frame split over several messages', W, H, [
    { flags: FLAG_KEY, seq: 1, rects: [zlibRgb(0, 0, W, 10, pattern(W, 10, 3))] },
    { flags: KF, seq: 1, rects: [zlibRgb(0, 10, W, 11, pattern(W, 11, 4))] },
    { flags: 0, seq: 2, rects: [solid(1, 1, 5, 5, [9, 9, 9])] },
    { flags: FLAG_FINAL, seq: 2, rects: [copy(20, 10, 5, 5, 1, 1)] },
  ]),
  accepted('a key frame of the same size keeps what it does not paint', 10, 10, [
    { flags: KF, seq: 1, rects: [solid(0, 0, 10, 10, [200, 10, 10])] },
    { flags: KF | FLAG_REFRESH_ONLY, seq: 2, rects: [solid(2, 2, 2, 2, [0, 0, 255])] },
  ]),
  accepted('a key frame of a new size starts white', 10, 10, [
    { flags: KF, seq: 1, rects: [solid(0, 0, 10, 10, [200, 10, 10])] },
    { flags: KF, seq: 2, w: 12, h: 8, rects: [solid(2, 2, 2, 2, [0, 0, 255])] },
  ]),
  accepted('empty rects and a rect-less frame are fine', 8, 8, [
    { flags: KF, seq: 1, rects: [solid(0, 0, 8, 8, [1, 2, 3]), solid(8, 8, 0, 0, [4, 5, 6]), copy(0, 0, 0, 3, 8, 0)] },
    { flags: FLAG_FINAL, seq: 2, rects: [] },
  ]),
  accepted('largest dimension', 16384, 1, [
    { flags: KF, seq: 1, w: 16384, h: 1, rects: [solid(0, 0, 16384, 1, [7, 8, 9]), zlibRgb(16000, 0, 384, 1, pattern(384, 1, 5))] },
  ]),

  accepted('a grey JPEG rect decodes exactly, in order with the rects around it', W, H, [
    { flags: KF, seq: 1, rects: [zlibRgb(0, 0, W, H, pattern(W, H, 1))] },
    { flags: FLAG_FINAL, seq: 2, rects: [solid(4, 3, 6, 6, [1, 2, 3]), greyJpeg(3, 2), solid(10, 10, 4, 4, [9, 8, 7])] },
    { flags: FLAG_FINAL, seq: 3, rects: [copy(20, 5, 13, 10, 3, 2), greyJpeg(0, 11, 8, 8)] },
  ]),
  { ...accepted('a YCbCr JPEG rect decodes within 2 levels', 20, 18, [
    { flags: KF, seq: 1, rects: [solid(0, 0, 20, 18, [0, 0, 0])] },
    { flags: FLAG_FINAL, seq: 2, rects: [colourJpeg(2, 1)] },
  ]), tolerance: 2 },

  refused('empty update', [Buffer.alloc(0)]),
  refused('truncated header', [key().subarray(0, 10)]),
  refused('zero width', [encodeUpdate(KF, 1, 0, 10, [])]),
  refused('width over 16384', [encodeUpdate(KF, 1, 16385, 1, [])]),
  refused('more pixels than 7680x4320', [encodeUpdate(KF, 1, 7681, 4320, [])]),
  refused('fewer rects than counted', [(() => { const b = encodeUpdate(KF, 1, 4, 4, [solid(0, 0, 4, 4, [1, 1, 1])]); b.writeUInt16BE(2, 9); return b; })()]),
  refused('truncated rect header', [key().subarray(0, 11 + 8)]),
  refused('truncated rect data', [key().subarray(0, key().length - 1)]),
  refused('unknown encoding', [encodeUpdate(KF, 1, 4, 4, [raw(0, 0, 4, 4, 9, [1, 2, 3])])]),
  refused('palette with one colour', [encodeUpdate(KF, 1, 1, 1, [raw(0, 0, 1, 1, 3, [0, 1, 2, 3, ...z([0])])])]),
  refused('palette index beyond the palette', [encodeUpdate(KF, 1, 1, 1, [raw(0, 0, 1, 1, 3, [2, 1, 1, 1, 2, 2, 2, 3, 3, 3, ...z([3])])])]),
  refused('palette indices of the wrong size', [encodeUpdate(KF, 1, 8, 1, [raw(0, 0, 8, 1, 3, [1, 1, 1, 1, 2, 2, 2, ...z([0, 1, 0])])])]),
  refused('rect outside the display', [encodeUpdate(KF, 1, 10, 10, [solid(5, 5, 6, 1, [1, 2, 3])])]),
  refused('rect with coordinates beyond u16 overflow', [encodeUpdate(KF, 1, 10, 10, [solid(65535, 0, 2, 1, [1, 2, 3])])]),
  refused('solid with 2 bytes', [encodeUpdate(KF, 1, 4, 4, [raw(0, 0, 1, 1, ENC_SOLID, [1, 2])])]),
  refused('solid with 4 bytes', [encodeUpdate(KF, 1, 4, 4, [raw(0, 0, 1, 1, ENC_SOLID, [1, 2, 3, 4])])]),
  refused('copy with 3 bytes', [key(), encodeUpdate(FLAG_FINAL, 2, W, H, [raw(0, 0, 1, 1, ENC_COPY, [0, 0, 0])])]),
  refused('copy source outside the display', [key(), encodeUpdate(FLAG_FINAL, 2, W, H, [copy(0, 0, 4, 4, W - 3, 0)])]),
  refused('zlib inflating to too few bytes', [encodeUpdate(KF, 1, 4, 4, [raw(0, 0, 4, 4, ENC_ZLIB_RGB, z(new Uint8Array(47)))])]),
  refused('zlib inflating to too many bytes', [encodeUpdate(KF, 1, 4, 4, [raw(0, 0, 4, 4, ENC_ZLIB_RGB, z(new Uint8Array(49)))])]),
  refused('zlib garbage', [encodeUpdate(KF, 1, 4, 4, [raw(0, 0, 4, 4, ENC_ZLIB_RGB, [1, 2, 3, 4, 5, 6, 7, 8])])]),
  refused('zlib stream cut short', [encodeUpdate(KF, 1, 4, 4, [raw(0, 0, 4, 4, ENC_ZLIB_RGB, z(pattern(4, 4, 1)).subarray(0, 10))])]),
  refused('zlib with a wrong checksum', [encodeUpdate(KF, 1, 4, 4, [(() => { const d = z(pattern(4, 4, 1)); d[d.length - 1] ^= 1; return raw(0, 0, 4, 4, ENC_ZLIB_RGB, d); })()])]),
  refused('raw deflate without the zlib header', [encodeUpdate(KF, 1, 4, 4, [raw(0, 0, 4, 4, ENC_ZLIB_RGB, zlib.deflateRawSync(pattern(4, 4, 1)))])]),
  refused('JPEG of another size than its rect', [encodeUpdate(KF, 1, 20, 20, [jpegRect(14, 10, greyJpeg(0, 0).data)])]),
  refused('JPEG in an empty rect', [encodeUpdate(KF, 1, 20, 20, [jpegRect(0, 0, greyJpeg(0, 0).data)])]),
  refused('JPEG without its end-of-image marker', [encodeUpdate(KF, 1, 20, 20, [jpegRect(13, 10, greyJpeg(0, 0).data.subarray(0, -1))])]),
  refused('JPEG cut short inside its headers', [encodeUpdate(KF, 1, 20, 20, [jpegRect(13, 10, Buffer.concat([greyJpeg(0, 0).data.subarray(0, 30), Buffer.from([0xff, 0xd9])]))])]),
  refused('not a JPEG at all', [encodeUpdate(KF, 1, 4, 4, [jpegRect(4, 4, [0x89, 0x50, 0x4e, 0x47, 0xff, 0xd9])])]),
  refused('progressive JPEG', [encodeUpdate(KF, 1, 20, 20, [jpegRect(13, 10, patched(greyJpeg(0, 0).data, sofAt(greyJpeg(0, 0).data) + 1, 0xc2))])]),
  refused('12-bit JPEG', [encodeUpdate(KF, 1, 20, 20, [jpegRect(13, 10, patched(greyJpeg(0, 0).data, sofAt(greyJpeg(0, 0).data) + 4, 12))])]),
  refused('JPEG with 4 components', [encodeUpdate(KF, 1, 20, 20, [jpegRect(13, 10, patched(greyJpeg(0, 0).data, sofAt(greyJpeg(0, 0).data) + 9, 4))])]),
  refused('JPEG whose frame uses a quantisation table it never defines', [key(), encodeUpdate(FLAG_FINAL, 2, W, H, [jpegRect(16, 16, withoutSegment(colourJpeg(0, 0).data, 0xdb))])]),
  refused('JPEG whose scan names a component its frame lacks', [key(), encodeUpdate(FLAG_FINAL, 2, W, H, [jpegRect(13, 10, (() => { const d = greyJpeg(0, 0).data; return patched(d, d.indexOf(Buffer.from([0xff, 0xda])) + 5, 9); })())])]),
  refused('trailing bytes after the last rect', [Buffer.concat([key(), Buffer.from([0])])]),
  refused('delta before any key frame', [encodeUpdate(FLAG_FINAL, 1, 4, 4, [])]),
  refused('delta of another size', [key(), encodeUpdate(FLAG_FINAL, 2, W + 1, H, [])]),
];
