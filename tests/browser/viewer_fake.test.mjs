// The agent viewer in headless Chromium against the real glance-server, with the fake visitor
// of fake_visitor.mjs: it knows the exact picture it sent, so the canvas must equal it pixel
// for pixel after key frames, deltas of every encoding, pause/resume and a display-size
// change; and the page must show the paused screen, the guest count and the end message.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  TARGET, startServer, stopServer, launchBrowser, newPage, viewerUrl, waitForViewer,
  waitForCanvas, hookPixels, pixelDiff,
} from './helpers.mjs';
import {
  FakeVisitor, FLAG_FINAL, solid, zlibRgb, copy, pattern, encodeUpdate,
} from './fake_visitor.mjs';

const T = 15000; // bound of every single wait
let srv;
let browser;
const visitors = [];

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  for (const v of visitors) v.close();
  await browser?.close();
  await stopServer(srv);
});

async function visitor(width = 320, height = 200) {
  const v = await FakeVisitor.start({
    sessionUrl: srv.ready.session_url, caCert: srv.ready.caPem, groupId: srv.ready.group_id,
    token: srv.ready.api_key ?? '', width, height,
  });
  visitors.push(v);
  return v;
}

/** Opens the viewer for `key` and waits until it has joined. */
async function openViewer(key, state = 'joined', viewport) {
  const page = await newPage(browser, viewport);
  await page.goto(viewerUrl(srv.ready.agent_url, key), { timeout: T });
  await waitForViewer(page, (s) => s.state === state, T, `viewer state ${state}`);
  return page;
}

async function expectPicture(page, v, what) {
  const { width, height, rgba } = v.model;
  await waitForCanvas(page, rgba, width, height, T, what);
  assert.equal(pixelDiff(await hookPixels(page), rgba, width, height), null, `${what}: glanceViewer.pixels()`);
}

test('the canvas follows key frames, deltas of every encoding, pause/resume, a size change and the end', { timeout: 120000 }, async () => {
  const v = await visitor(320, 200);
  assert.match(v.key, /^[0-9]+$/, 'a random key is digits only');
  // The first key frame goes out before any agent is there; the viewer gets a refresh.
  v.sendKeyFrame(320, 200, [zlibRgb(0, 0, 320, 200, pattern(320, 200, 1)), solid(20, 20, 100, 40, [0, 120, 255])]);
  const page = await openViewer(v.key);
  await v.waitFor((m) => m.type === 'guest_count' && m.count === 1, T);
  await expectPicture(page, v, 'the key frame');
  let s = await waitForViewer(page, (x) => x.guests === 1, T, 'guest count 1');
  assert.deepEqual([s.key, s.width, s.height], [v.key, 320, 200]);
  assert.match(await page.textContent('#key'), new RegExp(v.key));
  assert.match(await page.textContent('#guests'), /1 agent watching/);

  // Deltas: solid, zlib, overlapping copies (a scroll), then a frame over two messages.
  const frames0 = s.frames;
  v.sendFrame([[solid(0, 0, 320, 10, [255, 0, 0]), solid(300, 190, 20, 10, [1, 2, 3])]], 0);
  v.sendFrame([[zlibRgb(50, 60, 70, 33, pattern(70, 33, 2))]], 0);
  v.sendFrame([[copy(0, 16, 320, 184, 0, 0), copy(10, 0, 310, 50, 0, 5)]], 0);
  await expectPicture(page, v, 'after solid, zlib and copy deltas');
  v.sendFrame([[zlibRgb(200, 100, 64, 64, pattern(64, 64, 3))], [copy(0, 0, 64, 64, 200, 100), solid(64, 0, 1, 200, [9, 9, 9])]], 0);
  await expectPicture(page, v, 'after a frame split over two messages');
  s = await waitForViewer(page, (x) => x.frames === frames0 + 4, T, 'four more frames');

  // A second agent: gets its own key frame (REFRESH_ONLY), the first one stays exact.
  const page2 = await openViewer(v.key);
  await expectPicture(page2, v, 'the second viewer');
  await waitForViewer(page, (x) => x.guests === 2, T, 'guest count 2 in the first viewer');
  v.sendFrame([[solid(100, 100, 30, 30, [0, 255, 0])]], 0);
  await expectPicture(page, v, 'first viewer after the second joined');
  await expectPicture(page2, v, 'second viewer after a delta');
  await page2.close();
  await waitForViewer(page, (x) => x.guests === 1, T, 'guest count back to 1');

  // Pause: the white paused screen; resume: the picture again (a key frame for everyone).
  v.pause(true);
  await waitForViewer(page, (x) => x.state === 'paused', T, 'paused');
  assert.equal(await page.isVisible('#paused'), true);
  assert.match(await page.textContent('#paused'), /The visitor has paused screen sharing/);
  assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('paused')).backgroundColor), 'rgb(255, 255, 255)');
  await page.screenshot({ path: path.join(TARGET, 'agent-viewer-paused.png') });
  v.model.apply(solid(0, 0, 50, 50, [77, 66, 55])); // the screen changes meanwhile
  v.pause(false);
  await waitForViewer(page, (x) => x.state === 'joined', T, 'resumed');
  assert.equal(await page.isVisible('#paused'), false);
  await expectPicture(page, v, 'after resume');

  // A new display size: a KEY frame of another size; the canvas follows at native size.
  v.sendKeyFrame(400, 240, [zlibRgb(0, 0, 400, 240, pattern(400, 240, 4)), solid(0, 230, 400, 10, [10, 200, 10])]);
  await expectPicture(page, v, 'after the display size changed');
  s = await waitForViewer(page, (x) => x.width === 400 && x.height === 240, T, 'new size');
  assert.equal(await page.textContent('#size'), '400×240');

  // Scaled to fit the window, keeping the aspect ratio, across window resizes.
  for (const vp of [{ width: 1000, height: 700 }, { width: 500, height: 900 }, { width: 1400, height: 400 }]) {
    await page.setViewportSize(vp);
    const box = await page.evaluate(() => {
      const c = document.getElementById('screen');
      const r = c.getBoundingClientRect();
      const stage = document.getElementById('stage').getBoundingClientRect();
      // The painted content: object-fit contain inside the element box.
      const scale = Math.min(r.width / c.width, r.height / c.height);
      return { fit: getComputedStyle(c).objectFit, w: c.width * scale, h: c.height * scale, bw: r.width, bh: r.height, sw: stage.width, sh: stage.height };
    });
    assert.equal(box.fit, 'contain');
    assert.ok(Math.abs(box.bw - box.sw) < 1 && Math.abs(box.bh - box.sh) < 1, `canvas fills the stage ${JSON.stringify(box)}`);
    assert.ok(Math.abs(box.w - box.sw) < 1 || Math.abs(box.h - box.sh) < 1, `content touches two sides ${JSON.stringify(box)}`);
  }
  await page.setViewportSize({ width: 1000, height: 700 });
  await page.screenshot({ path: path.join(TARGET, 'agent-viewer-fake.png') });

  // The visitor ends the session: a clear end message naming the reason.
  const ended = await v.end();
  assert.equal(ended.reason, 'this_side');
  s = await waitForViewer(page, (x) => x.state === 'ended', T, 'ended');
  assert.equal(s.endStatus, 24);
  assert.equal(await page.isVisible('#notice'), true);
  assert.match(await page.textContent('#notice'), /The visitor ended the session/);
  await page.screenshot({ path: path.join(TARGET, 'agent-viewer-ended.png') });
  await page.close();
});

test('a viewer that joins while paused shows the paused screen, then the picture', { timeout: 60000 }, async () => {
  const v = await visitor(64, 48);
  v.sendKeyFrame(64, 48, [zlibRgb(0, 0, 64, 48, pattern(64, 48, 7))]);
  v.pause(true);
  const page = await openViewer(v.key, 'paused');
  assert.equal(await page.isVisible('#paused'), true);
  v.pause(false);
  await waitForViewer(page, (x) => x.state === 'joined', T, 'resumed');
  await expectPicture(page, v, 'after resume');
  await page.close();
});

test('the agent ends the session from the viewer', { timeout: 60000 }, async () => {
  const v = await visitor(64, 48);
  v.sendKeyFrame(64, 48, [solid(0, 0, 64, 48, [40, 50, 60])]);
  const page = await openViewer(v.key);
  await expectPicture(page, v, 'the key frame');
  page.once('dialog', (d) => d.accept());
  await page.click('#end');
  const ended = await v.waitFor((m) => m.type === 'session_ended', T);
  assert.equal(ended.reason, 'other_side');
  const s = await waitForViewer(page, (x) => x.state === 'ended', T, 'ended');
  assert.equal(s.endStatus, 23);
  assert.match(await page.textContent('#notice'), /ended by an agent/);
  await page.close();
});

test('joining a session that does not exist shows why', { timeout: 30000 }, async () => {
  const page = await openViewer('no-such-session', 'error');
  const s = await waitForViewer(page, (x) => x.endStatus !== null, T, 'a status');
  assert.equal(s.endStatus, 19);
  assert.match(await page.textContent('#notice'), /no session with this key/);
  await page.close();
});

test('without a key the page asks for one', { timeout: 30000 }, async () => {
  const page = await newPage(browser);
  await page.goto(srv.ready.agent_url, { timeout: T });
  assert.equal(await page.isVisible('#keyform'), true);
  const v = await visitor(32, 32);
  v.sendKeyFrame(32, 32, [solid(0, 0, 32, 32, [1, 2, 3])]);
  await page.fill('#keyinput', v.key);
  await Promise.all([page.waitForURL(/[?&]key=/, { timeout: T }), page.click('#keyform button')]);
  await waitForViewer(page, (x) => x.state === 'joined', T, 'joined through the form');
  await expectPicture(page, v, 'picture after the form');
  await page.close();
});

test('a malformed update closes the connection with an error', { timeout: 30000 }, async () => {
  const v = await visitor(16, 16);
  v.sendKeyFrame(16, 16, [solid(0, 0, 16, 16, [5, 5, 5])]);
  const page = await openViewer(v.key);
  await expectPicture(page, v, 'the key frame');
  // Well-formed on the outside (the server routes on the header), but the zlib data inflates
  // to 47 bytes where a 4x4 rect needs 48.
  const bad = encodeUpdate(FLAG_FINAL, v.seq + 1, 16, 16, [
    { x: 0, y: 0, w: 4, h: 4, enc: 1, data: (await import('node:zlib')).deflateSync(Buffer.alloc(47)) }]);
  v.sendRawUpdate(bad);
  const s = await waitForViewer(page, (x) => x.state === 'error', T, 'error state');
  assert.match(s.message, /malformed screen update/);
  assert.equal(await page.isVisible('#notice'), true);
  await page.close();
});

test('a full-HD key frame over several messages, then a scroll', { timeout: 60000 }, async (t) => {
  const [w, h] = [1920, 1080];
  const v = await visitor(w, h);
  const bands = [];
  for (let y = 0; y < h; y += 32) bands.push(zlibRgb(0, y, w, Math.min(32, h - y), pattern(w, Math.min(32, h - y), y + 11)));
  const page = await openViewer(v.key);
  const t0 = Date.now();
  const seq = v.sendKeyFrame(w, h, bands, 1024 * 1024); // about 1 MiB a message
  await expectPicture(page, v, 'the full-HD key frame');
  const s = await waitForViewer(page, (x) => x.seq >= seq, T, 'the key frame seq');
  assert.deepEqual([s.width, s.height], [w, h]);
  const keyMs = Date.now() - t0;
  const t1 = Date.now();
  v.sendFrame([[copy(0, 0, w, h - 40, 0, 40), zlibRgb(0, h - 40, w, 40, pattern(w, 40, 99))]], 0);
  await expectPicture(page, v, 'after a scroll');
  t.diagnostic(`full-HD key frame shown in ${keyMs} ms, a scroll in ${Date.now() - t1} ms (pixel checks included)`);
  await page.close();
});

// Keep the screenshot path visible in the test output.
test('screenshots were written', () => {
  assert.ok(fs.existsSync(path.join(TARGET, 'agent-viewer-fake.png')));
});
