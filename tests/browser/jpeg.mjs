// A tiny baseline JPEG encoder for test vectors, written from ITU T.81: every 8x8 block is one
// flat colour, so each block is a DC coefficient and an end-of-block, and with a quantisation
// table of ones every decoder gives back the same samples. Greyscale (1 component) pictures
// therefore decode exactly; YCbCr ones within the rounding of the colour conversion.

import { ENC_JPEG } from './fake_visitor.mjs';

// Annex K.3 luminance DC table (categories 0..11) and an AC table holding only end-of-block.
const DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_VALS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_BITS = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const AC_VALS = [0x00];

/** Canonical Huffman codes: symbol -> [code, length]. */
function huffCodes(bits, vals) {
  const codes = new Map();
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    for (let i = 0; i < bits[len - 1]; i++) codes.set(vals[k++], [code++, len]);
    code <<= 1;
  }
  return codes;
}

const clamp = (v) => Math.max(0, Math.min(255, Math.round(v)));

/** JFIF's RGB -> YCbCr, rounded. */
function ycbcr([r, g, b]) {
  return [
    clamp(0.299 * r + 0.587 * g + 0.114 * b),
    clamp(-0.168736 * r - 0.331264 * g + 0.5 * b + 128),
    clamp(0.5 * r - 0.418688 * g - 0.081312 * b + 128),
  ];
}

/** JFIF's YCbCr -> RGB, rounded: what a decoder should give for a flat block. */
function rgbOf([y, cb, cr]) {
  return [
    clamp(y + 1.402 * (cr - 128)),
    clamp(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)),
    clamp(y + 1.772 * (cb - 128)),
  ];
}

/**
 * A JPEG rect at (x, y) of w x h pixels whose 8x8 block (bx, by) has colour `colour(bx, by)`
 * ([r, g, b]). `grey`: one component (r is the level). Returns {x, y, w, h, enc, data, rgb},
 * `rgb` being the picture a decoder gives (exact for grey; within 2 levels for colour).
 */
export function jpegBlocks(x, y, w, h, colour, { grey = false } = {}) {
  const nf = grey ? 1 : 3;
  const bw = Math.ceil(w / 8);
  const bh = Math.ceil(h / 8);
  const samples = []; // per block: one value per component
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const c = colour(bx, by);
      samples.push(grey ? [c[0]] : ycbcr(c));
    }
  }
  const out = [];
  const u16 = (v) => out.push(v >> 8, v & 255);
  out.push(0xff, 0xd8);
  out.push(0xff, 0xe0); u16(16); out.push(0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0);
  out.push(0xff, 0xdb); u16(67); out.push(0, ...new Array(64).fill(1));
  out.push(0xff, 0xc0); u16(8 + 3 * nf); out.push(8); u16(h); u16(w); out.push(nf);
  for (let c = 1; c <= nf; c++) out.push(c, 0x11, 0);
  out.push(0xff, 0xc4); u16(2 + 17 + DC_VALS.length + 17 + AC_VALS.length);
  out.push(0x00, ...DC_BITS, ...DC_VALS, 0x10, ...AC_BITS, ...AC_VALS);
  out.push(0xff, 0xda); u16(6 + 2 * nf); out.push(nf);
  for (let c = 1; c <= nf; c++) out.push(c, 0x00);
  out.push(0, 63, 0);
  // Entropy-coded data, 0xFF bytes stuffed with 0x00, the last byte padded with ones.
  const dc = huffCodes(DC_BITS, DC_VALS);
  const eob = huffCodes(AC_BITS, AC_VALS).get(0);
  let acc = 0;
  let nbits = 0;
  const put = (code, len) => {
    for (let i = len - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >> i) & 1);
      if (++nbits === 8) {
        out.push(acc);
        if (acc === 0xff) out.push(0);
        acc = 0;
        nbits = 0;
      }
    }
  };
  const pred = new Array(nf).fill(0);
  for (const s of samples) {
    for (let c = 0; c < nf; c++) {
      const dcv = 8 * (s[c] - 128); // a flat block's DC coefficient, quantised by 1
      const diff = dcv - pred[c];
      pred[c] = dcv;
      const mag = Math.abs(diff);
      const cat = mag === 0 ? 0 : 32 - Math.clz32(mag);
      put(...dc.get(cat));
      if (cat > 0) put(diff >= 0 ? diff : diff + (1 << cat) - 1, cat);
      put(...eob);
    }
  }
  if (nbits > 0) put((1 << (8 - nbits)) - 1, 8 - nbits);
  out.push(0xff, 0xd9);
  const rgb = Buffer.alloc(w * h * 3);
  for (let py = 0; py < h; py++) {
    for (let px = 0; px < w; px++) {
      const s = samples[(py >> 3) * bw + (px >> 3)];
      const c = grey ? [s[0], s[0], s[0]] : rgbOf(s);
      rgb.set(c, (py * w + px) * 3);
    }
  }
  return { x, y, w, h, enc: ENC_JPEG, data: Buffer.from(out), rgb };
}

/** `data` without the segment of marker `m` (e.g. 0xc4: the Huffman tables). */
export function withoutSegment(data, m) {
  const at = data.indexOf(Buffer.from([0xff, m]));
  if (at < 0) return data;
  const len = data.readUInt16BE(at + 2);
  return Buffer.concat([data.subarray(0, at), data.subarray(at + 2 + len)]);
}
