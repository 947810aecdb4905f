// GLANCE.Agent (seed 001) in headless Chromium against a real glance-server and real visitors
// (glance-share): a CRM page served from a whitelisted origin and one from another origin
// load /agent/agent.js; login keys come from the Rust signer (glance-loginkey) and the JS
// signer (sdk/js/glance-loginkey.mjs). Every function and event of seed 001's agent side,
// the reachable sessionEnded statuses, and the refusals: a tampered or wrong-key login key, an
// expired token, an origin off the whitelist, key guessing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import {
  BIN, ROOT, startServer, stopServer, launchBrowser, newPage, spawnChild, stopChild, lines,
  waitForLine, waitUntil,
} from './helpers.mjs';
import { signLoginKey } from '../../sdk/js/glance-loginkey.mjs';
import { FakeVisitor, solid } from './fake_visitor.mjs';

const T = 20000;
const API_KEY = 'crm-group-api-key-7';
const SECRET = 'browser-test-jwt-secret-0123456789abcdef';
const SHARE = BIN('glance-share');
const SIGNER = BIN('glance-loginkey');
const missing = (!fs.existsSync(SHARE) && `${SHARE} is missing`) || (!fs.existsSync(SIGNER) && `${SIGNER} is missing`);

let srv;
let browser;
let crmOk; // whitelisted origin
let crmEvil; // not whitelisted
const visitors = [];

/**
 * A tiny CRM page server: /crm.html loads agent.js (from `server.agentJs`, set once
 * glance-server runs) and logs every event.
 */
function crmServer() {
  const page = (agentJs) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>CRM</title>
<script src="${agentJs}"></script>
<script>
  window.events = [];
  GLANCE.Agent.addEventListenerAll((name, data) => {
    const d = {};
    for (const [k, v] of Object.entries(data || {})) d[k] = typeof v === 'function' ? '[function]' : v;
    window.events.push({ name, data: d });
  });
</script></head><body><button id="join">Join</button></body></html>`;
  const s = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page(s.agentJs));
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}
const originOf = (s) => `http://127.0.0.1:${s.address().port}`;

function config(okOrigin) {
  return `
[auth]
jwt_secret = "${SECRET}"
lookup_burst = 20
lookup_per_minute = 1

[[group]]
id = 7
api_key = "${API_KEY}"
allowed_origins = ["${okOrigin}"]
max_guests = 1
`;
}

/** An HS256 token signed with the server's secret (to make an expired one). */
function mintJwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

function rustLoginKey(user, expiresIn = 600) {
  const r = spawnSync(SIGNER, ['--partner-id', '7', '--partner-user-id', user, '--expires-in', String(expiresIn)],
    { env: { ...process.env, GLANCE_API_KEY: API_KEY }, encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** Starts a real visitor sharing a synthetic screen with `key`; resolves once connected. */
async function share(key, extra = []) {
  const v = lines(spawnChild(SHARE, [
    '--service-url', srv.ready.session_url, '--ca-cert', srv.ready.ca_cert, '--group', '7',
    '--synthetic', '320x200', '--key', key, '--persist', ...extra,
  ]));
  visitors.push(v);
  await waitForLine(v, (j) => j.event === 'EventConnectedToSession', T, `visitor ${key} connected`);
  return v;
}

async function crmPage(origin = originOf(crmOk)) {
  const page = await newPage(browser);
  page.on('dialog', (d) => d.accept());
  await page.goto(`${origin}/crm.html`, { timeout: T });
  await page.waitForFunction(() => window.GLANCE && window.GLANCE.Agent, null, { timeout: T });
  return page;
}

const events = (page) => page.evaluate(() => window.events);
async function waitEvent(page, name, pred = () => true, what = name) {
  let found;
  await waitUntil(async () => {
    found = (await events(page)).find((e) => e.name === name && pred(e.data));
    return found;
  }, T, what);
  return found.data;
}

async function authenticate(page, user, loginkey) {
  return page.evaluate(([u, k]) => GLANCE.Agent.authenticate({ partnerid: 7, partneruserid: u, loginkey: k })
    .then((a) => ({ ok: true, a }), (e) => ({ ok: false, reason: e.reason, message: e.message })), [user, loginkey]);
}

before(async () => {
  if (missing) return;
  crmOk = await crmServer();
  crmEvil = await crmServer();
  srv = await startServer(config(originOf(crmOk)));
  crmOk.agentJs = srv.ready.agent_js;
  crmEvil.agentJs = srv.ready.agent_js;
  browser = await launchBrowser();
});

after(async () => {
  for (const v of visitors) await stopChild(v);
  await browser?.close();
  crmOk?.close();
  crmEvil?.close();
  await stopServer(srv);
});

test('login keys from the Rust and the JS signer authorize; tampered or wrong-key ones do not', { skip: missing, timeout: 60000 }, async () => {
  const page = await crmPage();
  const rust = rustLoginKey('alice');
  const js = await signLoginKey({ apiKey: API_KEY, partnerId: 7, partnerUserId: 'alice', expiresIn: 600 });
  assert.match(rust, /^\$1\$\d+\$[A-Za-z0-9_-]{43}$/);
  for (const key of [rust, js]) {
    const r = await authenticate(page, 'alice', key);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.a.username, 'alice.7.glance');
    assert.equal(r.a.groupid, 7);
  }
  // The same expiry signed by both gives the same key.
  const exp = Math.floor(Date.now() / 1000) + 300;
  const sameJs = await signLoginKey({ apiKey: API_KEY, partnerId: 7, partnerUserId: 'alice', expires: exp });
  assert.equal(sameJs.split('$')[2], String(exp));
  const last = js.at(-2) === 'A' ? 'B' : 'A';
  const tampered = js.slice(0, -2) + last + js.at(-1);
  const wrongKey = await signLoginKey({ apiKey: 'not-the-api-key', partnerId: 7, partnerUserId: 'alice', expiresIn: 600 });
  const otherUser = rustLoginKey('bob');
  const expired = await signLoginKey({ apiKey: API_KEY, partnerId: 7, partnerUserId: 'alice', expires: Math.floor(Date.now() / 1000) - 5 });
  for (const key of [tampered, wrongKey, otherUser, expired]) {
    const r = await authenticate(page, 'alice', key);
    assert.deepEqual([r.ok, r.reason], [false, 'unauthorized'], key);
  }
  // A lookup with refused credentials: lookupFailed, FAIL_UNAUTHORIZED, no detail.
  await authenticate(page, 'alice', tampered);
  const res = await page.evaluate(() => GLANCE.Agent.lookupSession('whatever', false).then(() => 'resolved', (e) => e.reason));
  assert.equal(res, 'unauthorized');
  const failed = await waitEvent(page, 'lookupFailed');
  assert.deepEqual([failed.service, failed.reason, failed.status], ['agent', 'unauthorized', 18]);
  await page.close();
});

test('lookupSession: one attempt without wait, waiting with lookupWaiting, timeout, cancel', { skip: missing, timeout: 90000 }, async () => {
  await share('crm-1');
  const page = await crmPage();
  await authenticate(page, 'waiter', rustLoginKey('waiter'));
  await page.evaluate(() => { GLANCE.Agent.lookupInterval = 300; });
  // Without wait: {} when absent, the join URL when present.
  assert.deepEqual(await page.evaluate(() => GLANCE.Agent.lookupSession('absent-1', false)), {});
  const found = await page.evaluate(() => GLANCE.Agent.lookupSession('crm-1', false));
  assert.equal(found.ssnkey, 'crm-1');
  assert.match(found.agentjoinurl, /\/agent\?key=crm-1&group=7#ticket=/);
  await waitEvent(page, 'lookupFound', (d) => d.ssnkey === 'crm-1' && d.service === 'agent');
  // With wait: lookupWaiting (with a cancel function) until the session starts.
  await page.evaluate(() => {
    window.late = GLANCE.Agent.lookupSession('late-1', true).then((r) => r, (e) => ({ error: e.reason }));
  });
  await waitEvent(page, 'lookupWaiting', (d) => d.ssnkey === 'late-1' && d.cancel === '[function]');
  await share('late-1');
  const late = await page.evaluate(() => window.late);
  assert.match(late.agentjoinurl, /key=late-1/);
  const waits = (await events(page)).filter((e) => e.name === 'lookupWaiting' && e.data.ssnkey === 'late-1');
  assert.ok(waits.length >= 2, `${waits.length} lookupWaiting`);
  // The 45 s timeout, shortened: lookupFailed with reason "timedout".
  await page.evaluate(() => { GLANCE.Agent.lookupTimeout = 1500; });
  const t = await page.evaluate(() => GLANCE.Agent.lookupSession('never-1').then(() => 'resolved', (e) => e.reason));
  assert.equal(t, 'timedout');
  await waitEvent(page, 'lookupFailed', (d) => d.reason === 'timedout' && d.ssnkey === 'never-1');
  // cancelLookup, and the cancel function of lookupWaiting.
  await page.evaluate(() => { GLANCE.Agent.lookupTimeout = 45000; });
  const c1 = await page.evaluate(() => {
    const p = GLANCE.Agent.lookupSession('never-2').then(() => 'resolved', (e) => e.reason);
    setTimeout(() => GLANCE.Agent.cancelLookup(), 400);
    return p;
  });
  assert.equal(c1, 'canceled');
  await waitEvent(page, 'lookupCanceled', (d) => d.ssnkey === 'never-2');
  const c2 = await page.evaluate(() => new Promise((resolve) => {
    GLANCE.Agent.addEventListener('lookupWaiting', (n, d) => { if (d.ssnkey === 'never-3') d.cancel(); });
    GLANCE.Agent.lookupSession('never-3').then(() => resolve('resolved'), (e) => resolve(e.reason));
  }));
  assert.equal(c2, 'canceled');
  await page.close();
});

test('joinSession: the viewer window and its events; resize; stats; viewerClosed', { skip: missing, timeout: 90000 }, async () => {
  await share('crm-2');
  const page = await crmPage();
  await authenticate(page, 'carol', rustLoginKey('carol'));
  const [popup] = await Promise.all([
    page.waitForEvent('popup', { timeout: T }),
    page.evaluate(() => { window.joined = GLANCE.Agent.joinSession('crm-2', { windowName: 'v1' }).then(() => 'ok', (e) => e.reason); }),
  ]);
  assert.equal(await page.evaluate(() => window.joined), 'ok');
  await waitEvent(page, 'viewerOpened', (d) => d.ssnkey === 'crm-2');
  const c = await waitEvent(page, 'connecting');
  assert.equal(c.service, 'screenshare');
  assert.equal(c.ssnkey, 'crm-2');
  assert.ok(c.ssnid && Number.isInteger(c.maincid) && c.maincid > 0, JSON.stringify(c));
  assert.match(c.visitorversion, /glance/);
  assert.equal(c.agentusername, 'carol.7.glance');
  assert.deepEqual([c.agentinfo.partnerid, c.agentinfo.partneruserid], [7, 'carol']);
  await waitEvent(page, 'connected');
  const s1 = await waitEvent(page, 'screen');
  assert.deepEqual(s1.display, { width: 320, height: 200 });
  assert.ok(s1.view.width > 0 && s1.view.height > 0, JSON.stringify(s1));
  await popup.setViewportSize({ width: 500, height: 400 });
  const s2 = await waitEvent(page, 'screen', (d) => d.view.width !== s1.view.width, 'a screen event after the resize');
  assert.deepEqual(s2.display, s1.display);
  const st = await waitEvent(page, 'stats');
  assert.ok('bytespersec' in st && 'framespersec' in st, JSON.stringify(st));
  await popup.close();
  await waitEvent(page, 'viewerClosed', (d) => d.ssnkey === 'crm-2');
  await page.close();
});

test('sessionEnded: ended by the agent (23), by the visitor (24), full (35), replaced (36), no session (19), unauthorized (18)', { skip: missing, timeout: 120000 }, async () => {
  const page = await crmPage();
  await authenticate(page, 'dave', rustLoginKey('dave'));
  const open = async (fn, arg) => {
    const [popup] = await Promise.all([page.waitForEvent('popup', { timeout: T }), page.evaluate(fn, arg)]);
    popup.on('dialog', (d) => d.accept());
    return popup;
  };
  const ended = (status) => waitEvent(page, 'sessionEnded', (d) => d.status === status, `sessionEnded ${status}`);

  // 23: the agent ends it with the viewer's button.
  await share('end-23');
  const p23 = await open(() => GLANCE.Agent.joinSession('end-23'));
  await p23.waitForFunction(() => window.glanceViewer && window.glanceViewer.state === 'joined', null, { timeout: T });
  await p23.click('#end');
  const e23 = await ended(23);
  assert.equal(e23.iserror, false);

  // 24: the visitor ends it.
  const v24 = await share('end-24');
  const p24 = await open(() => GLANCE.Agent.joinSession('end-24'));
  await p24.waitForFunction(() => window.glanceViewer && window.glanceViewer.state === 'joined', null, { timeout: T });
  v24.kill('SIGINT');
  assert.equal((await ended(24)).iserror, false);

  // 35: the group allows one agent per session.
  await share('full-35');
  const first = await open(() => GLANCE.Agent.joinSession('full-35'));
  await first.waitForFunction(() => window.glanceViewer && window.glanceViewer.state === 'joined', null, { timeout: T });
  await open(() => GLANCE.Agent.joinSession('full-35'));
  assert.equal((await ended(35)).iserror, true);

  // 36: a new session with the same key replaces the one being viewed.
  await share('repl-36');
  const p36 = await open(() => GLANCE.Agent.joinSession('repl-36'));
  await p36.waitForFunction(() => window.glanceViewer && window.glanceViewer.state === 'joined', null, { timeout: T });
  await share('repl-36');
  await ended(36);

  // 19: openViewer skips the lookup; there is no such session.
  await open(() => GLANCE.Agent.openViewer('absent-19'));
  await ended(19);

  // 18: a forged ticket, and an expired token, in the join URL.
  const now = Math.floor(Date.now() / 1000);
  const expired = mintJwt({ iss: 'glance-server', aud: 'glance-agent', sub: 'dave', grp: 7, pid: 7,
    role: 'agent', ra: true, name: '', iat: now - 7200, exp: now - 60 });
  const forged = `${expired.split('.').slice(0, 2).join('.')}.${'A'.repeat(43)}`;
  await share('auth-18');
  for (const tok of [expired, forged]) {
    const url = `${srv.ready.session_url}/agent?key=auth-18&group=7#token=${tok}`;
    const p = await open((u) => GLANCE.Agent.openAgentJoinURL(u), url);
    await p.waitForFunction(() => window.glanceViewer && window.glanceViewer.endStatus === 18, null, { timeout: T });
    assert.equal(await p.evaluate(() => window.glanceViewer.frames), 0, 'no pixels without authorization');
  }
  const e18 = await ended(18);
  assert.equal(e18.iserror, true);
  await page.close();
});

test('pause reaches the viewer; popups blocked fire popupblocked', { skip: missing, timeout: 60000 }, async () => {
  await share('paused-1', ['--paused']);
  const page = await crmPage();
  await authenticate(page, 'erin', rustLoginKey('erin'));
  const [popup] = await Promise.all([
    page.waitForEvent('popup', { timeout: T }),
    page.evaluate(() => GLANCE.Agent.joinSession('paused-1')),
  ]);
  await popup.waitForFunction(() => window.glanceViewer && window.glanceViewer.state === 'paused', null, { timeout: T });
  await waitEvent(page, 'paused', (d) => d.paused === true);
  // A blocked popup: window.open returns null.
  const r = await page.evaluate(() => {
    window.open = () => null;
    return GLANCE.Agent.joinSession('paused-1').then(() => 'opened', (e) => e.reason);
  });
  assert.equal(r, 'popupblocked');
  await waitEvent(page, 'popupblocked', (d) => d.service === 'agent');
  await page.close();
});

test('a page of an origin off the whitelist gets nothing; guessing keys is throttled', { skip: missing, timeout: 60000 }, async () => {
  const evil = await crmPage(originOf(crmEvil));
  const r = await authenticate(evil, 'alice', rustLoginKey('alice'));
  assert.deepEqual([r.ok, r.reason], [false, 'unauthorized']);
  const lk = await evil.evaluate(() => GLANCE.Agent.lookupSession('crm-1', false).then(() => 'resolved', (e) => e.reason));
  assert.equal(lk, 'unauthorized');
  await evil.close();

  const page = await crmPage();
  await authenticate(page, 'guesser', rustLoginKey('guesser'));
  const reasons = await page.evaluate(async () => {
    const out = [];
    for (let i = 0; i < 24; i++) {
      out.push(await GLANCE.Agent.lookupSession(`guess-${i}`, false).then((x) => (x.ssnkey ? 'found' : 'none'), (e) => e.reason));
    }
    return out;
  });
  assert.deepEqual(reasons.slice(0, 20), Array(20).fill('none'));
  assert.deepEqual(reasons.slice(20), Array(4).fill('throttled'));
  // Even an existing key is refused while throttled.
  const real = await page.evaluate(() => GLANCE.Agent.lookupSession('crm-1', false).then(() => 'found', (e) => e.reason));
  assert.equal(real, 'throttled');
  await page.close();
});

test('remote control: the viewer forwards mouse, wheel and keys once the visitor enables it', { skip: missing, timeout: 60000 }, async () => {
  const v = await FakeVisitor.start({
    sessionUrl: srv.ready.session_url, caCert: srv.ready.caPem, groupId: 7, width: 320, height: 200, key: 'rc-1',
  });
  try {
    const page = await crmPage();
    await authenticate(page, 'frank', rustLoginKey('frank'));
    const [popup] = await Promise.all([
      page.waitForEvent('popup', { timeout: T }),
      page.evaluate(() => GLANCE.Agent.joinSession('rc-1', { wait: false })),
    ]);
    await v.waitFor((m) => m.type === 'refresh_request', T);
    v.sendKeyFrame(320, 200, [solid(0, 0, 320, 200, [40, 80, 120])]);
    await popup.waitForFunction(() => window.glanceViewer && window.glanceViewer.frames > 0, null, { timeout: T });
    const box = await popup.locator('#screen').boundingBox();
    const at = (fx, fy) => [box.x + box.width * fx, box.y + box.height * fy];
    // Before the visitor allows it, nothing is sent.
    await popup.mouse.click(...at(0.5, 0.5));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(v.messages.filter((m) => m.type === 'input').length, 0);
    // Allowed: a click, a wheel turn and a key reach the visitor, in picture pixels.
    v.sendControl({ type: 'rc', enabled: true });
    await waitEvent(page, 'rc', (d) => d.enabled === true && d.remoteAssist === true);
    await popup.mouse.click(...at(0.25, 0.5));
    const down = await v.waitFor((m) => m.type === 'input' && m.input.kind === 'pointer' && m.input.buttons === 1, T);
    assert.ok(Math.abs(down.input.x - 80) <= 2 && Math.abs(down.input.y - 100) <= 2, JSON.stringify(down));
    await popup.mouse.wheel(0, 120);
    const wheel = await v.waitFor((m) => m.type === 'input' && m.input.kind === 'wheel', T);
    assert.ok(wheel.input.dy > 0, JSON.stringify(wheel));
    await popup.keyboard.press('a');
    const key = await v.waitFor((m) => m.type === 'input' && m.input.kind === 'key' && m.input.down, T);
    assert.deepEqual([key.input.code, key.input.key], ['KeyA', 'a']);
    await popup.close();
    await page.close();
  } finally {
    v.close();
  }
});
