// The viewer's frame decoder, fed directly with known update sequences (vectors.mjs) inside
// headless Chromium. Needs no server: the page and script are served from the source tree.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, newPage, pixelDiff, serveViewer } from './helpers.mjs';
import { vectors } from './vectors.mjs';

let browser;
let page;

before(async () => {
  browser = await launchBrowser();
  page = await newPage(browser);
  // Without ?key= the page only shows its key form and opens no connection.
  const url = await serveViewer(page);
  await page.goto(url, { timeout: 15000 });
  assert.equal(await page.isVisible('#keyform'), true, 'without a key the page asks for one');
});

after(async () => {
  await browser?.close();
});

/** Applies `messages` (Buffers) in order with the page's decoder. */
function decode(messages) {
  return page.evaluate(async (b64s) => {
    const { parseUpdate, Picture, UpdateError } = window.glanceViewer.decoder;
    const pic = new Picture();
    for (let i = 0; i < b64s.length; i++) {
      const bytes = Uint8Array.from(atob(b64s[i]), (c) => c.charCodeAt(0));
      try {
        await pic.apply(parseUpdate(bytes));
      } catch (e) {
        return { error: `${e instanceof UpdateError ? 'UpdateError' : e.name}: ${e.message}`, at: i };
      }
    }
    const d = pic.image.data;
    let s = '';
    for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
    return { width: pic.width, height: pic.height, frames: pic.frames, rgba: btoa(s) };
  }, messages.map((m) => m.toString('base64')));
}

for (const v of vectors) {
  test(`decoder: ${v.ok ? 'accepts' : 'refuses'} ${v.name}`, { timeout: 20000 }, async () => {
    const r = await decode(v.messages);
    if (v.ok) {
      assert.equal(r.error, undefined, `refused: ${r.error}`);
      assert.deepEqual([r.width, r.height, r.frames], [v.width, v.height, v.frames]);
      const got = Buffer.from(r.rgba, 'base64');
      if (v.tolerance) {
        // Lossy rects (JPEG): every channel within `tolerance` levels, alpha 255.
        let worst = 0;
        for (let i = 0; i < got.length; i += 4) {
          assert.equal(got[i + 3], 255);
          for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(got[i + c] - v.rgba[i + c]));
        }
        assert.ok(worst <= v.tolerance, `a channel is ${worst} levels off`);
      } else {
        assert.equal(pixelDiff(got, v.rgba, v.width, v.height), null);
      }
    } else {
      assert.match(r.error ?? 'accepted', /^UpdateError: /);
      assert.equal(r.at, v.messages.length - 1, 'refused at the last message');
    }
  });
}
