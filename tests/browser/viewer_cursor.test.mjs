// The visitor's pointer in the agent viewer: an overlay canvas above the picture, never in its
// pixels. Through the real glance-server with the fake visitor: the overlay shows the shape
// with its hot spot on the cursor's picture pixel, follows moves and window resizes, hides
// when the cursor is off the display or the session is paused, and a viewer that joins late
// gets shape and position. Against a scripted server: malformed cursor messages and shapes
// close the connection, and the shape cache keeps the last 64 shapes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  TARGET, startServer, stopServer, launchBrowser, newPage, viewerUrl, waitForViewer,
  waitForCanvas, waitUntil, serveViewer, openScripted,
} from './helpers.mjs';
import {
  FakeVisitor, FLAG_KEY, FLAG_FINAL, zlibRgb, pattern, boxShape, encodeShape, encodeUpdate, solid,
} from './fake_visitor.mjs';

const T = 15000;
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

/** The overlay as the page shows it, relative to the picture canvas's box. */
function overlay(page) {
  return page.evaluate(() => {
    const v = window.glanceViewer;
    const c = document.getElementById('cursor');
    const s = document.getElementById('screen').getBoundingClientRect();
    const r = c.getBoundingClientRect();
    const px = c.width && c.height ? [...c.getContext('2d').getImageData(0, 0, c.width, c.height).data] : [];
    return {
      cursor: v.cursor, shown: v.cursorShown, shapes: v.cursorShapes, state: v.state,
      screen: { width: s.width, height: s.height },
      box: { left: r.left - s.left, top: r.top - s.top, width: r.width, height: r.height },
      size: [c.width, c.height], pixels: px,
    };
  });
}

/** Where the overlay must be: the picture drawn with object-fit: contain, hot spot on (x, y). */
function expectedBox(ov, pw, ph, x, y, shape) {
  const scale = Math.min(ov.screen.width / pw, ov.screen.height / ph);
  const offX = (ov.screen.width - pw * scale) / 2;
  const offY = (ov.screen.height - ph * scale) / 2;
  return {
    left: offX + (x - shape.hotX) * scale,
    top: offY + (y - shape.hotY) * scale,
    width: shape.width * scale,
    height: shape.height * scale,
  };
}

const boxClose = (got, want) => ['left', 'top', 'width', 'height'].every((k) => Math.abs(got[k] - want[k]) < 0.6);

/**
 * Waits until the overlay shows `shape` with its hot spot on picture pixel (x, y) of a
 * pw x ph picture (after a resize the overlay follows on the next layout), then checks its
 * size and pixels.
 */
async function expectOverlay(page, pw, ph, x, y, shape, what) {
  let ov;
  try {
    await waitUntil(async () => {
      ov = await overlay(page);
      return ov.shown && ov.cursor && ov.cursor.x === x && ov.cursor.y === y && ov.cursor.shape === shape.id
        && boxClose(ov.box, expectedBox(ov, pw, ph, x, y, shape));
    }, T, what);
  } catch (e) {
    e.message += `; overlay ${JSON.stringify({ ...ov, pixels: undefined })}, want box ${ov && JSON.stringify(expectedBox(ov, pw, ph, x, y, shape))}; page log:\n${page.logs.join('\n')}`;
    throw e;
  }
  assert.deepEqual(ov.size, [shape.width, shape.height], `${what}: the overlay's size`);
  assert.deepEqual(ov.pixels, [...shape.rgba], `${what}: the overlay shows the shape's pixels`);
  return ov;
}

async function waitHidden(page, what) {
  await waitUntil(async () => !(await overlay(page)).shown, T, what);
}

test('the overlay follows cursor messages, beside the picture', { timeout: 120000 }, async () => {
  const v = await FakeVisitor.start({
    sessionUrl: srv.ready.session_url, caCert: srv.ready.caPem, groupId: srv.ready.group_id,
    token: srv.ready.api_key ?? '', width: 320, height: 200,
  });
  visitors.push(v);
  v.sendKeyFrame(320, 200, [zlibRgb(0, 0, 320, 200, pattern(320, 200, 5))]);
  const page = await newPage(browser, { width: 1000, height: 700 });
  await page.goto(viewerUrl(srv.ready.agent_url, v.key), { timeout: T });
  await waitForViewer(page, (s) => s.state === 'joined' && s.frames >= 1, T, 'joined with a picture');
  assert.equal((await overlay(page)).shown, false, 'no cursor before any message');

  const arrow = boxShape(7, 8, 12, 2, 3, [200, 0, 0]);
  v.sendCursorShape(arrow);
  v.sendCursor(100, 50, true, 7);
  let ov = await expectOverlay(page, 320, 200, 100, 50, arrow, 'the first position');
  assert.deepEqual(ov.cursor, { x: 100, y: 50, visible: true, shape: 7 });
  // The picture's pixels are untouched by the pointer.
  await waitForCanvas(page, v.model.rgba, 320, 200, T, 'the picture without the pointer');

  // Moves, including over changing pixels.
  v.sendCursor(200, 150, true, 7);
  await expectOverlay(page, 320, 200, 200, 150, arrow, 'a move');
  await page.screenshot({ path: path.join(TARGET, 'agent-viewer-cursor.png') });
  v.sendFrame([[solid(190, 140, 40, 30, [0, 90, 0])]], 0);
  v.sendCursor(319, 199, true, 7);
  await expectOverlay(page, 320, 200, 319, 199, arrow, 'the bottom-right pixel');
  await waitForCanvas(page, v.model.rgba, 320, 200, T, 'the changed picture without the pointer');
  assert.ok(await page.evaluate(() => document.scrollingElement.scrollHeight <= innerHeight),
    'a pointer at the edge adds no scroll bars');

  // The page changes size: the overlay follows the picture's new scale.
  await page.setViewportSize({ width: 640, height: 480 });
  await waitUntil(async () => (await overlay(page)).screen.width < 700, T, 'the smaller page');
  await expectOverlay(page, 320, 200, 319, 199, arrow, 'after a resize');

  // Off the display: hidden.
  v.sendCursor(0, 0, false, 7);
  await waitHidden(page, 'hidden off the display');
  assert.deepEqual((await overlay(page)).cursor, { x: 0, y: 0, visible: false, shape: 7 });

  // Another shape.
  const beam = boxShape(9, 5, 16, 2, 8, [0, 0, 200]);
  v.sendCursorShape(beam);
  v.sendCursor(10, 20, true, 9);
  ov = await expectOverlay(page, 320, 200, 10, 20, beam, 'the second shape');
  assert.deepEqual(ov.shapes, [7, 9]);

  // A viewer joining late gets the shape and the position.
  const late = await newPage(browser, { width: 800, height: 600 });
  await late.goto(viewerUrl(srv.ready.agent_url, v.key), { timeout: T });
  await waitForViewer(late, (s) => s.state === 'joined' && s.frames >= 1, T, 'the late viewer');
  ov = await expectOverlay(late, 320, 200, 10, 20, beam, 'the late viewer');
  assert.deepEqual(ov.shapes, [9], 'only the current shape');

  // Paused: hidden; after resume it shows again with the next position.
  v.pause(true);
  await waitForViewer(page, (s) => s.state === 'paused', T, 'paused');
  await waitHidden(page, 'hidden while paused');
  v.pause(false);
  await waitForViewer(page, (s) => s.state === 'joined', T, 'resumed');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await overlay(page)).shown, false, 'no stale position after a pause');
  v.sendCursorShape(beam);
  v.sendCursor(30, 40, true, 9);
  await expectOverlay(page, 320, 200, 30, 40, beam, 'after resume');
  await expectOverlay(late, 320, 200, 30, 40, beam, 'after resume, late viewer');

  // A new display size: the overlay scales with the new picture.
  v.sendKeyFrame(160, 100, [solid(0, 0, 160, 100, [40, 40, 40])]);
  v.sendCursor(80, 50, true, 9);
  await expectOverlay(page, 160, 100, 80, 50, beam, 'a smaller display');
  // A position outside the picture (as may come just before a smaller key frame): not drawn.
  v.sendCursor(200, 90, true, 9);
  await waitHidden(page, 'hidden outside the picture');
  assert.equal(page.logs.filter((l) => l.startsWith('pageerror')).length, 0, page.logs.join('\n'));
  await late.close();
  await page.close();
});

// ----- a scripted server: the viewer's own checks ------------------------------------------

async function scripted() {
  const { page, server } = await openScripted(browser, 'k1', T);
  server.sendShape = (payload) => server.sendKind(3, payload);
  await server.next('hello');
  server.send({ type: 'welcome', version: 1, server: 'scripted' });
  await server.next('join');
  return { page, server };
}

function joined(server) {
  server.send({
    type: 'joined', call_id: 7, key: 'k1', ssnid: 's', group_id: 1, width: 8, height: 8, paused: false,
    guests: 1, visitor_version: 'v', display_name: 'main',
  });
  server.ws.send(Buffer.concat([Buffer.from([2]), encodeUpdate(FLAG_KEY | FLAG_FINAL, 1, 8, 8, [solid(0, 0, 8, 8, [1, 2, 3])])]));
}

test('malformed cursor messages and shapes close the connection', { timeout: 60000 }, async () => {
  const good = encodeShape(boxShape(1, 4, 4, 1, 1, [9, 9, 9]));
  const wide = Buffer.from(good);
  wide.writeUInt16BE(257, 4);
  const hot = Buffer.from(good);
  hot.writeUInt16BE(4, 8);
  const cases = [
    ['a shape before joining', false, (s) => s.sendShape(good), 'unexpected'],
    ['a shape over 256 wide', true, (s) => s.sendShape(wide), 'malformed'],
    ['a shape one byte short', true, (s) => s.sendShape(good.subarray(0, good.length - 1)), 'malformed'],
    ['a hot spot outside', true, (s) => s.sendShape(hot), 'malformed'],
    ['a truncated header', true, (s) => s.sendShape(good.subarray(0, 11)), 'malformed'],
    ['a negative x', true, (s) => s.send({ type: 'cursor', x: -1, y: 0, visible: true, shape: 1 }), 'malformed'],
    ['a fractional y', true, (s) => s.send({ type: 'cursor', x: 1, y: 0.5, visible: true, shape: 1 }), 'malformed'],
    ['visible not a boolean', true, (s) => s.send({ type: 'cursor', x: 1, y: 1, visible: 'yes', shape: 1 }), 'malformed'],
    ['no shape', true, (s) => s.send({ type: 'cursor', x: 1, y: 1, visible: true }), 'malformed'],
  ];
  for (const [what, join, misbehave, code] of cases) {
    const { page, server } = await scripted();
    if (join) {
      joined(server);
      await waitForViewer(page, (x) => x.state === 'joined' && x.frames === 1, T, `${what}: joined`);
    }
    misbehave(server);
    const err = await server.next('error');
    assert.equal(err.code, code, `${what}: ${JSON.stringify(err)}`);
    await waitForViewer(page, (x) => x.state === 'error', T, `${what}: error`);
    await waitUntil(() => server.closed, T, `${what}: the viewer to close the socket`);
    await page.close();
  }
});

test('the shape cache keeps the last 64 shapes; an unknown shape shows nothing', { timeout: 30000 }, async () => {
  const { page, server } = await scripted();
  joined(server);
  await waitForViewer(page, (x) => x.state === 'joined' && x.frames === 1, T, 'joined');
  // A position whose shape never came: remembered, not drawn, not an error.
  server.send({ type: 'cursor', x: 2, y: 3, visible: true, shape: 500 });
  await waitUntil(async () => (await overlay(page)).cursor?.shape === 500, T, 'the position');
  assert.equal((await overlay(page)).shown, false);
  for (let id = 1; id <= 70; id++) server.sendShape(encodeShape(boxShape(id, 3, 3, 1, 1, [id, 0, 0])));
  const ov = await waitUntil(async () => {
    const o = await overlay(page);
    return o.shapes.length === 64 && o.shapes.at(-1) === 70 ? o : null;
  }, T, '64 shapes');
  assert.equal(ov.shapes[0], 7, 'the oldest six went');
  // Received again: the newest now, so it stays while others go.
  server.sendShape(encodeShape(boxShape(7, 3, 3, 1, 1, [7, 0, 0])));
  server.sendShape(encodeShape(boxShape(71, 3, 3, 1, 1, [71, 0, 0])));
  const ov2 = await waitUntil(async () => {
    const o = await overlay(page);
    return o.shapes.at(-1) === 71 ? o : null;
  }, T, 'shape 71');
  assert.deepEqual([ov2.shapes.length, ov2.shapes[0], ov2.shapes.at(-2)], [64, 9, 7]);
  server.send({ type: 'cursor', x: 4, y: 4, visible: true, shape: 70 });
  await waitUntil(async () => (await overlay(page)).shown, T, 'shown with a cached shape');
  assert.equal((await overlay(page)).pixels[0], 70, 'shape 70 drawn');
  await page.close();
});
