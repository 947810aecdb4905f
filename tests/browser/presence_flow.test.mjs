// Seed 002's whole flow, end to end, twice: with a real C visitor (tests/c/visitor_driver.c over
// libglance) and with the Rust SDK itself (glance-visitor-driver, the same commands), and a
// browser agent (GLANCE.Agent and GLANCE.Presence.Agent from agent.js) in
// headless Chromium, through a real glance-server. Login without visitor id and a manual
// random-key session; init again with the visitor id; presence; the agent invokes the terms;
// displayed and accepted reach the agent; the presence-started session is looked up and seen;
// the decline path; blur between two apps; the limits; reconnect after the service restarts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  BIN, TARGET, startServer, stopServer, launchBrowser, newPage, spawnChild, stopChild, lines,
  waitForLine, waitUntil,
} from './helpers.mjs';
import { signLoginKey } from '../../sdk/js/glance-loginkey.mjs';

const T = 20000;
const API_KEY = 'presence-flow-api-key';
const DRIVERS = {
  C: path.join(TARGET, 'ffi-tests', 'visitor_driver'),
  Rust: BIN('glance-visitor-driver'),
};
const missing = Object.values(DRIVERS).filter((d) => !fs.existsSync(d)).map((d) => `${d} is missing (tests/browser/run.sh builds it)`)[0];

let srv;
let browser;
let crm;
let page;
const drivers = [];

function config(origin) {
  return `
[auth]
jwt_secret = "presence-flow-jwt-secret-0123456789abc"

[[group]]
id = 7
api_key = "${API_KEY}"
allowed_origins = ["${origin}"]
`;
}

/** A visitor (C or Rust): send(cmd) writes a command line; its events are JSON lines. */
function driver(kind) {
  const d = lines(spawnChild(DRIVERS[kind], [], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, GLANCE_SYNTHETIC_DISPLAY: '320x200', RUST_LOG: 'warn' },
  }));
  d.send = (cmd) => d.stdin.write(`${cmd}\n`);
  d.seen = 0; // events already consumed by `next`
  d.next = (name, pred = () => true) => {
    const from = d.seen;
    let idx = 0;
    return waitForLine(d, (j) => {
      idx++;
      if (idx <= from || j.event !== name || !pred(j)) return false;
      d.seen = idx;
      return true;
    }, T, `${name} from the C visitor`);
  };
  drivers.push(d);
  return d;
}

async function init(d, visitorId) {
  d.send(`init 7 ${srv.ready.session_url} ${srv.ready.ca_cert}${visitorId ? ` ${visitorId}` : ''}`);
  await d.next('EventVisitorInitialized');
  d.send('defaultui 0'); // the application's own terms UI, as in seed 002
}

/** The agent page's log of presence events (set up by `watch`). */
const presenceEvents = () => page.evaluate(() => window.presence);
async function agentSees(name, pred = () => true) {
  let hit;
  await waitUntil(async () => {
    hit = (await presenceEvents()).find((e) => e.name === name && pred(e.data));
    return hit;
  }, T, `${name} at the agent`);
  return hit.data;
}

before(async () => {
  if (missing) return;
  crm = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!DOCTYPE html><html><head><meta charset="utf-8"><script src="${crm.agentJs}"></script></head><body>CRM</body></html>`);
  });
  await new Promise((r) => crm.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${crm.address().port}`;
  srv = await startServer(config(origin));
  crm.agentJs = srv.ready.agent_js;
  browser = await launchBrowser();
  page = await newPage(browser);
  await page.goto(`${origin}/`, { timeout: T });
  await page.waitForFunction(() => window.GLANCE && window.GLANCE.Presence && window.GLANCE.Presence.Agent, null, { timeout: T });
  const loginkey = await signLoginKey({ apiKey: API_KEY, partnerId: 7, partnerUserId: 'agent-ann', expiresIn: 600 });
  await page.evaluate((k) => GLANCE.Agent.authenticate({ partnerid: 7, partneruserid: 'agent-ann', loginkey: k }), loginkey);
});

after(async () => {
  for (const d of drivers) {
    try { d.send('quit'); } catch { /* gone */ }
    await stopChild(d);
  }
  await browser?.close();
  crm?.close();
  await stopServer(srv);
});

async function flow(kind, visitorId) {
  // Before login: no visitor id; a manual session with a random key the agent looks up.
  const a = driver(kind);
  await init(a);
  a.send('start GLANCE_KEYTYPE_RANDOM');
  const manual = await a.next('EventConnectedToSession');
  const key = manual.props.sessionkey;
  assert.match(key, /^\d+$/);
  const found = await page.evaluate((k) => GLANCE.Agent.lookupSession(k, false), key);
  assert.equal(found.ssnkey, key);
  a.send('end');
  await a.next('EventSessionEnded');
  a.send('connect');
  await a.next('EventInvalidState'); // no visitor id yet

  // After login: init again with the visitor id, then presence.
  await init(a, visitorId);
  a.send('connect');
  await a.next('EventPresenceConnected');
  await page.evaluate((id) => {
    if (window.pa) window.pa.disconnect();
    window.presence = [];
    const pa = new GLANCE.Presence.Agent({ visitorid: id });
    for (const ev of ['onvisitorconn', 'onvisitorsock', 'onpresence', 'onterms', 'onvisitorsessionstart',
      'onvisitorsessionend', 'onvisibility', 'onsignal', 'onconfirm', 'onerror']) {
      pa[ev] = (data) => window.presence.push({ name: ev, data });
    }
    pa.connect();
    window.pa = pa;
  }, visitorId);
  await agentSees('onvisitorconn', (d) => d.connected === true);
  a.send('presence url=app://orders c_cart=2');
  const p = await agentSees('onpresence');
  assert.deepEqual(p, { url: 'app://orders', c_cart: '2' });
  const looked = await page.evaluate(() => new Promise((resolve) => window.pa.lookupVisitor({
    onsuccess: resolve, onfail: (r) => resolve({ failed: r }),
  })));
  assert.equal(looked.visitorid, visitorId);
  assert.equal(looked.presence.url, 'app://orders');

  // The agent invokes; the app shows its terms; displayed and accepted reach the agent.
  const invoke = () => page.evaluate((id) => new Promise((resolve) => window.pa.invokeVisitor({
    func: 'GLANCE.PresenceVisitor.showTerms',
    args: { sessionkey: id, onetermsurl: 'https://terms.example/flow' },
    onsuccess: () => resolve('ok'), onfail: resolve,
  })), visitorId);
  assert.equal(await invoke(), 'ok');
  const terms = await a.next('EventPresenceShowTerms');
  assert.deepEqual([terms.props.sessionkey, terms.props.onetermsurl], [visitorId, 'https://terms.example/flow']);
  a.send('signal terms status=displayed');
  await agentSees('onterms', (d) => d.status === 'displayed');
  a.send('signal terms status=accepted');
  await agentSees('onterms', (d) => d.status === 'accepted');
  a.send('startpresence');
  const started = await a.next('EventConnectedToSession');
  assert.equal(started.props.sessionkey, visitorId);
  await agentSees('onvisitorsessionstart', (d) => d.sessionkey === visitorId);

  // The agent finds the session and sees the screen.
  const [popup] = await Promise.all([
    page.waitForEvent('popup', { timeout: T }),
    page.evaluate((id) => GLANCE.Agent.joinSession(id, { wait: false }), visitorId),
  ]);
  await popup.waitForFunction(() => window.glanceViewer && window.glanceViewer.frames > 0, null, { timeout: T });
  assert.deepEqual(await popup.evaluate(() => [window.glanceViewer.width, window.glanceViewer.height]), [320, 200]);
  await popup.close();
  a.send('end');
  await a.next('EventSessionEnded');
  await agentSees('onvisitorsessionend');

  // The decline path.
  assert.equal(await invoke(), 'ok');
  await a.next('EventPresenceShowTerms');
  a.send('signal terms status=declined');
  await agentSees('onterms', (d) => d.status === 'declined');

  // Two apps with one visitor id (issue 18): the first holds it while in the foreground; the
  // second is blurred from the start and cannot take it by acting.
  const b = driver(kind);
  await init(b, visitorId);
  b.send('connect');
  await b.next('EventPresenceConnected');
  await b.next('EventPresenceBlur');
  b.send('presence url=app://b');
  const signal = (to) => page.evaluate((t) => new Promise((resolve) => window.pa.signalVisitor({
    data: { to: t }, onsuccess: () => resolve('ok'), onfail: resolve,
  })), to);
  const confirm = () => page.evaluate(() => new Promise((resolve) => window.pa.confirmVisitor({
    onsuccess: (code) => resolve(code), onfail: (r) => resolve({ failed: r }),
  })));
  assert.equal(await signal('a0'), 'ok');
  assert.equal((await a.next('EventPresenceSignal')).props.to, 'a0');
  // In the background the first lets the second take the id when it acts; the agent's
  // confirmation (confirmVisitor) checks that it is the caller's app before invoking.
  a.send('visible 0');
  await agentSees('onvisibility', (d) => d.visibility === 'hidden');
  b.send('presence url=app://b2');
  await a.next('EventPresenceBlur');
  const code = await confirm();
  assert.equal(typeof code, 'string', `confirmVisitor: ${JSON.stringify(code)}`);
  const ask = await b.next('EventPresenceSignal', (j) => j.props.mtype === 'confirm');
  assert.ok(ask.props.choices.split(',').includes(code), JSON.stringify(ask));
  assert.equal(await signal('b'), 'unconfirmed');
  b.send(`signal confirm choice=${code}`);
  await agentSees('onconfirm', (d) => d.status === 'confirmed');
  assert.equal(await signal('b'), 'ok');
  assert.equal((await b.next('EventPresenceSignal', (j) => j.props.to === 'b')).props.to, 'b');
  // And back: the second in the background, the first acts and is confirmed again.
  await page.evaluate(() => { window.presence = window.presence.filter((e) => e.name !== 'onconfirm'); });
  b.send('visible 0');
  a.send('presence url=app://back');
  await b.next('EventPresenceBlur');
  const code2 = await confirm();
  await a.next('EventPresenceSignal', (j) => j.props.mtype === 'confirm');
  a.send(`signal confirm choice=${code2}`);
  await agentSees('onconfirm', (d) => d.status === 'confirmed');
  await waitUntil(async () => {
    const r = await signal('a');
    return r === 'ok';
  }, T, 'a signal to the refocused app');
  assert.equal((await a.next('EventPresenceSignal', (j) => j.props.to === 'a')).props.to, 'a');

  // The limits: refused in the SDK with EventInvalidParameter; nothing reaches the agent.
  a.send('presence cart=1');
  await a.next('EventInvalidParameter', (j) => /c_/.test(j.message));
  const many = Array.from({ length: 21 }, (_, i) => `c_${i}=v`).join(' ');
  a.send(`presence ${many}`);
  await a.next('EventInvalidParameter', (j) => /20/.test(j.message));
  b.send('disconnect');
  await b.next('EventPresenceDisconnected');

  // The service restarts on the same address: the SDK reconnects by itself.
  const port = new URL(srv.ready.session_url).port;
  const cfg = path.join(srv.stateDir, 'config.toml');
  await stopChild(srv.child);
  await a.next('EventPresenceConnectFail');
  const child = lines(spawnChild(BIN('glance-server'), ['--listen', `127.0.0.1:${port}`, '--state-dir', srv.stateDir, '--config', cfg]));
  await waitForLine(child, (j) => j.session_url, T, 'the restarted server');
  srv.child = child;
  await a.next('EventPresenceConnected');
}

for (const kind of ['C', 'Rust']) {
  test(`seed 002 from login to a One-Click session, with a ${kind} visitor and a browser agent`, { skip: missing, timeout: 180000 }, async () => {
    await flow(kind, `flow-${kind.toLowerCase()}`);
  });
}
