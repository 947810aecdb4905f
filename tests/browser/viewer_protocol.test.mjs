// The viewer's side of the agent protocol against a scripted server (Playwright's WebSocket
// routing; no glance-server): the handshake, ping/pong, REFRESH_ONLY skipping, control
// messages as text and as kind-1 binary, every end and join-failure status, and protocol
// errors. Covers what the real server cannot easily be made to do.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, newPage, openScripted, serveViewer, waitForViewer, waitUntil, hookPixels } from './helpers.mjs';
import { FLAG_KEY, FLAG_REFRESH_ONLY, FLAG_FINAL, encodeUpdate, solid } from './fake_visitor.mjs';

const T = 10000;
let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/**
 * Opens the viewer for `key` with a scripted server. Returns {page, server} where
 * server.received holds the viewer's messages and server.send/sendUpdate/close talk back.
 */
async function open(key = 'k1') {
  const { page, server } = await openScripted(browser, key, T);
  server.sendUpdate = (flags, seq, w, h, rects) => server.sendKind(2, encodeUpdate(flags, seq, w, h, rects));
  return { page, server };
}

/** Handshake up to `joined` for an 8x8 display. */
async function join(key = 'k1', joined = {}) {
  const { page, server } = await open(key);
  const hello = await server.next('hello');
  assert.deepEqual([hello.role, hello.min_version, hello.max_version], ['agent', 1, 1]);
  server.send({ type: 'welcome', version: 1, server: 'scripted' });
  const j = await server.next('join');
  assert.deepEqual(j, { type: 'join', key, token: 'test-token', group_id: 1 });
  server.send({
    type: 'joined', call_id: 7, key, ssnid: 's', group_id: 1, width: 8, height: 8, paused: false,
    guests: 1, visitor_version: 'v', display_name: 'main', ...joined,
  });
  return { page, server };
}

const RED = [255, 0, 0];
const BLUE = [0, 0, 255];
const GREEN = [0, 255, 0];
async function pixel(page, x, y) {
  const px = await hookPixels(page);
  const i = (y * 8 + x) * 4;
  return [px[i], px[i + 1], px[i + 2]];
}

test('handshake, ping, guest counts, pause, and control messages as kind-1 binary', { timeout: 30000 }, async () => {
  const { page, server } = await join();
  await waitForViewer(page, (s) => s.state === 'joined' && s.guests === 1, T, 'joined');
  server.send({ type: 'ping', t: 123456789 });
  assert.deepEqual(await server.next('pong'), { type: 'pong', t: 123456789 });
  server.send({ type: 'guest_count', count: 3 });
  await waitForViewer(page, (s) => s.guests === 3, T, 'three guests');
  assert.match(await page.textContent('#guests'), /3 agents watching/);
  server.ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify({ type: 'guest_count', count: 5 }))]));
  await waitForViewer(page, (s) => s.guests === 5, T, 'five guests (binary control)');
  server.send({ type: 'paused', paused: true });
  await waitForViewer(page, (s) => s.state === 'paused', T, 'paused');
  assert.equal(await page.isVisible('#paused'), true);
  server.send({ type: 'paused', paused: false });
  await waitForViewer(page, (s) => s.state === 'joined', T, 'resumed');
  assert.equal(await page.isVisible('#paused'), false);
  await page.close();
});

test('REFRESH_ONLY frames are skipped in step and applied after a gap', { timeout: 30000 }, async () => {
  const { page, server } = await join();
  server.sendUpdate(FLAG_KEY | FLAG_FINAL, 1, 8, 8, [solid(0, 0, 8, 8, RED)]);
  await waitForViewer(page, (s) => s.frames === 1, T, 'the key frame');
  // In step: the next seq is a refresh for others: skipped, even over two messages.
  server.sendUpdate(FLAG_KEY | FLAG_REFRESH_ONLY, 2, 8, 8, [solid(0, 0, 8, 4, BLUE)]);
  server.sendUpdate(FLAG_KEY | FLAG_REFRESH_ONLY | FLAG_FINAL, 2, 8, 8, [solid(0, 4, 8, 4, BLUE)]);
  server.sendUpdate(FLAG_FINAL, 3, 8, 8, [solid(0, 0, 1, 1, GREEN)]);
  let s = await waitForViewer(page, (x) => x.seq === 3, T, 'seq 3');
  assert.equal(s.frames, 2, 'the refresh frame was not applied');
  assert.deepEqual(await pixel(page, 0, 0), GREEN);
  assert.deepEqual(await pixel(page, 5, 5), RED);
  // A refresh after a gap in seq (frames 4 and 5 were dropped for us): it is for us.
  server.sendUpdate(FLAG_KEY | FLAG_REFRESH_ONLY | FLAG_FINAL, 6, 8, 8, [solid(0, 0, 8, 8, BLUE)]);
  s = await waitForViewer(page, (x) => x.seq === 6, T, 'seq 6');
  assert.equal(s.frames, 3);
  assert.deepEqual(await pixel(page, 5, 5), BLUE);
  // A gap in seq: something was missed, so the next refresh is for us.
  server.sendUpdate(FLAG_FINAL, 7, 8, 8, [solid(0, 0, 8, 8, RED)]);
  server.sendUpdate(FLAG_FINAL, 9, 8, 8, [solid(1, 0, 1, 1, GREEN)]);
  server.sendUpdate(FLAG_KEY | FLAG_REFRESH_ONLY | FLAG_FINAL, 10, 8, 8, [solid(0, 0, 8, 8, BLUE)]);
  s = await waitForViewer(page, (x) => x.seq === 10, T, 'seq 10');
  assert.equal(s.frames, 6);
  assert.deepEqual(await pixel(page, 5, 5), BLUE);
  // A frame left open (no FINAL) and then another seq: also a miss; the refresh applies.
  server.sendUpdate(FLAG_KEY | FLAG_FINAL, 11, 8, 8, [solid(0, 0, 8, 8, RED)]);
  server.sendUpdate(0, 12, 8, 8, [solid(0, 0, 2, 2, GREEN)]);
  server.sendUpdate(FLAG_KEY | FLAG_REFRESH_ONLY | FLAG_FINAL, 13, 8, 8, [solid(0, 0, 8, 8, BLUE)]);
  s = await waitForViewer(page, (x) => x.seq === 13, T, 'seq 13');
  assert.equal(s.frames, 8);
  assert.deepEqual(await pixel(page, 5, 5), BLUE);
  // The canvas shows only completed frames: a frame without FINAL is not drawn yet.
  server.sendUpdate(FLAG_FINAL, 14, 8, 8, [solid(0, 0, 8, 8, RED)]);
  server.sendUpdate(0, 15, 8, 8, [solid(0, 0, 8, 8, GREEN)]);
  await waitForViewer(page, (x) => x.seq === 15, T, 'seq 15');
  const canvas = await page.evaluate(() => [...document.getElementById('screen').getContext('2d').getImageData(3, 3, 1, 1).data]);
  assert.deepEqual(canvas, [...RED, 255], 'the canvas still shows frame 14');
  server.sendUpdate(FLAG_FINAL, 15, 8, 8, []);
  await waitForViewer(page, (x) => x.frames === 10, T, 'frame 15 complete');
  const canvas2 = await page.evaluate(() => [...document.getElementById('screen').getContext('2d').getImageData(3, 3, 1, 1).data]);
  assert.deepEqual(canvas2, [...GREEN, 255]);
  await page.close();
});

const END_TEXT = {
  23: /ended by an agent/,
  24: /visitor ended the session/,
  25: /timed out/,
  26: /killed/,
  27: /connection to the visitor was lost/,
  29: /because of an error/,
  36: /replaced by a newer session/,
};
for (const [status, text] of Object.entries(END_TEXT)) {
  test(`session_ended with status ${status} names the reason`, { timeout: 20000 }, async () => {
    const { page, server } = await join();
    // The server's message is shown when it adds something to the viewer's own words.
    const message = status === '29' ? 'The relay ran out of memory' : status === '25' ? 'the session timed out' : '';
    server.send({ type: 'session_ended', reason: 'other_side', status: Number(status), iserror: false, message });
    const s = await waitForViewer(page, (x) => x.state === 'ended', T, 'ended');
    assert.equal(s.endStatus, Number(status));
    assert.match(await page.textContent('#notice-text'), text);
    assert.match(await page.textContent('#notice-text'), new RegExp(`\\(status ${status}\\)$`));
    if (status === '29') assert.match(await page.textContent('#notice-text'), /ran out of memory/);
    if (status === '25') assert.doesNotMatch(await page.textContent('#notice-text'), /timed out.*timed out/);
    assert.equal(await page.textContent('#conn'), 'Session ended');
    server.ws.close();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await waitForViewer(page, () => true, T, 'state')).state, 'ended', 'the close after the end is expected');
    await page.close();
  });
}

const JOIN_TEXT = { 18: /not authorized/, 19: /no session with this key/, 35: /session is full/ };
for (const [status, text] of Object.entries(JOIN_TEXT)) {
  test(`join_failed with status ${status} says why`, { timeout: 20000 }, async () => {
    const { page, server } = await open();
    await server.next('hello');
    server.send({ type: 'welcome', version: 1, server: 'scripted' });
    await server.next('join');
    server.send({ type: 'join_failed', status: Number(status), reason: 'x' });
    const s = await waitForViewer(page, (x) => x.state === 'error', T, 'error');
    assert.equal(s.endStatus, Number(status));
    assert.match(await page.textContent('#notice-text'), text);
    await page.close();
  });
}

test('protocol errors close the connection: unknown message type, update before joining', { timeout: 30000 }, async () => {
  for (const misbehave of [
    (server) => server.send({ type: 'surprise' }),
    (server) => server.sendUpdate(FLAG_KEY | FLAG_FINAL, 1, 8, 8, [solid(0, 0, 8, 8, RED)]),
    (server) => server.ws.send('not json'),
    (server) => server.ws.send(Buffer.from([9, 1, 2])),
  ]) {
    const { page, server } = await open();
    await server.next('hello');
    server.send({ type: 'welcome', version: 1, server: 'scripted' });
    await server.next('join');
    misbehave(server);
    const err = await server.next('error');
    assert.ok(['unexpected', 'malformed'].includes(err.code), JSON.stringify(err));
    await waitForViewer(page, (x) => x.state === 'error', T, 'error');
    await waitUntil(() => server.closed, T, 'the viewer to close the socket');
    await page.close();
  }
});

test('a lost connection rejoins the session; when rejoining fails, status 34', { timeout: 40000 }, async () => {
  const { page, server } = await join();
  await waitForViewer(page, (s) => s.state === 'joined', T, 'joined');
  // Dropped: the viewer says so and joins again with the same key and token.
  server.ws.close();
  const r = await waitForViewer(page, (x) => x.state === 'reconnecting', T, 'reconnecting');
  assert.match(r.message, /connection to the server was lost/);
  await waitUntil(() => server.connections === 2, T, 'a second connection');
  await server.next('hello');
  server.send({ type: 'welcome', version: 1, server: 'scripted' });
  const j = await server.next('join');
  assert.deepEqual(j, { type: 'join', key: 'k1', token: 'test-token', group_id: 1 });
  server.send({
    type: 'joined', call_id: 7, key: 'k1', ssnid: 's', group_id: 1, width: 8, height: 8, paused: false,
    guests: 1, visitor_version: 'v', display_name: 'main',
  });
  await waitForViewer(page, (x) => x.state === 'joined', T, 'joined again');
  // Dropped again, and the server stays away: after its attempts the viewer gives up (34).
  server.refuse = true;
  server.ws.close();
  const s = await waitForViewer(page, (x) => x.state === 'error', 20000, 'error');
  assert.equal(s.endStatus, 34);
  const names = await page.evaluate(() => window.glanceViewer.events.map((e) => e.name));
  assert.equal(names.filter((n) => n === 'conndrop').length, 2, names.join());
  assert.ok(names.includes('sessionEnded'), names.join());
  await page.close();
});

test('while rejoining, join_failed 19 (a restarted service without the session yet) is one failed attempt', { timeout: 40000 }, async () => {
  const { page, server } = await join();
  await waitForViewer(page, (s) => s.state === 'joined', T, 'joined');
  server.ws.close();
  await waitForViewer(page, (x) => x.state === 'reconnecting', T, 'reconnecting');
  // Two attempts find the service but not the session (its visitor has not started it again).
  for (let n = 2; n <= 3; n++) {
    await waitUntil(() => server.connections === n, T, `connection ${n}`);
    await server.next('hello');
    server.send({ type: 'welcome', version: 1, server: 'scripted' });
    await server.next('join');
    server.send({ type: 'join_failed', status: 19, reason: 'no such session' });
    server.ws.close();
  }
  // The third finds it: the viewer is back in, not ended.
  await waitUntil(() => server.connections === 4, T, 'connection 4');
  await server.next('hello');
  server.send({ type: 'welcome', version: 1, server: 'scripted' });
  await server.next('join');
  server.send({
    type: 'joined', call_id: 8, key: 'k1', ssnid: 's2', group_id: 1, width: 8, height: 8, paused: false,
    guests: 1, visitor_version: 'v', display_name: 'main',
  });
  const s = await waitForViewer(page, (x) => x.state === 'joined', T, 'joined again');
  assert.equal(s.endStatus, null);
  // Dropped again, and every attempt finds no session: the viewer ends with 19, not 34.
  server.ws.close();
  for (let n = 5; n <= 9; n++) {
    await waitUntil(() => server.connections === n, 15000, `connection ${n}`);
    await server.next('hello');
    server.send({ type: 'welcome', version: 1, server: 'scripted' });
    await server.next('join');
    server.send({ type: 'join_failed', status: 19, reason: 'no such session' });
    server.ws.close();
  }
  const e = await waitForViewer(page, (x) => x.state === 'error', 15000, 'error');
  assert.equal(e.endStatus, 19);
  await page.close();
});

test('a dropped connection is rejoined: the picture comes back', { timeout: 30000 }, async () => {
  const { page, server } = await join();
  server.sendUpdate(FLAG_KEY | FLAG_FINAL, 1, 8, 8, [solid(0, 0, 8, 8, RED)]);
  await waitForViewer(page, (s) => s.frames === 1, T, 'the key frame');
  const first = server.ws;
  server.received.length = 0;
  first.close();
  await waitUntil(() => server.ws !== first, T, 'a new connection');
  await server.next('hello');
  server.send({ type: 'welcome', version: 1, server: 'scripted' });
  const j = await server.next('join');
  assert.deepEqual(j, { type: 'join', key: 'k1', token: 'test-token', group_id: 1 });
  server.send({
    type: 'joined', call_id: 7, key: 'k1', ssnid: 's', group_id: 1, width: 8, height: 8, paused: false,
    guests: 1, visitor_version: 'v', display_name: 'main',
  });
  server.sendUpdate(FLAG_KEY | FLAG_REFRESH_ONLY | FLAG_FINAL, 40, 8, 8, [solid(0, 0, 8, 8, BLUE)]);
  await waitForViewer(page, (s) => s.state === 'joined' && s.seq === 40, T, 'rejoined');
  assert.deepEqual(await pixel(page, 3, 3), BLUE);
  const names = (await page.evaluate(() => window.glanceViewer.events)).map((e) => e.name);
  assert.deepEqual(names.filter((n) => ['connecting', 'connected', 'conndrop'].includes(n)),
    ['connecting', 'connected', 'conndrop', 'connected']);
  await page.close();
});

test('a server that shuts down (error "shutdown") ends the session with 27; other errors with 29', { timeout: 30000 }, async () => {
  for (const [code, status] of [['shutdown', 27], ['timeout', 29]]) {
    const { page, server } = await join();
    await waitForViewer(page, (s) => s.state === 'joined', T, 'joined');
    server.send({ type: 'error', code, message: `scripted ${code}` });
    const s = await waitForViewer(page, (x) => x.state === 'error', T, 'error');
    assert.equal(s.endStatus, status, code);
    await page.close();
  }
});

test('a server that speaks another version ends with status 17, one that never answers the socket with 32', { timeout: 30000 }, async () => {
  let { page, server } = await open();
  await server.next('hello');
  server.send({ type: 'welcome', version: 2, server: 'scripted' });
  let s = await waitForViewer(page, (x) => x.state === 'error', T, 'error');
  assert.equal(s.endStatus, 17);
  assert.match(s.message, /unsupported version 2/);
  await page.close();
  ({ page, server } = await open());
  await server.next('hello');
  server.ws.close();
  s = await waitForViewer(page, (x) => x.state === 'error', T, 'error');
  assert.equal(s.endStatus, 32);
  assert.match(s.message, /could not connect to the service/);
  const events = await page.evaluate(() => window.glanceViewer.events);
  assert.deepEqual(events.map((e) => e.name), ['conndrop', 'sessionEnded']);
  assert.equal(events[1].data.iserror, true);
  await page.close();
});
