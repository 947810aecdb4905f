// The viewer's remote-control badge and its "Ask for control" button, end to end: a C visitor
// (tests/c/visitor_driver.c over libglance, on the synthetic display), a real glance-server
// whose group allows remote control, and the viewer in headless Chromium. The badge follows
// the visitor's EnableRC (off, on, off again); the button is shown only while control is off
// and the agent's role may take it, and its click reaches the visitor's application as
// EventMessageReceived (message=requestRC, with the sender's user name and privilege), which
// the application answers with EnableRC. Bad agent messages are dropped by the service with a
// log line, without closing the agent's socket. An observer sees "not allowed for your role" and no
// button.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  TARGET, startServer, stopServer, launchBrowser, stopChild, waitUntil,
} from './helpers.mjs';
import {
  CONFIG, missing, agentToken, cVisitor, startVisitor, openViewer, rcView,
} from './rc_common.mjs';

const T = 20000;
let srv;
let browser;
let visitor;

before(async () => {
  if (missing) return;
  srv = await startServer(CONFIG);
  browser = await launchBrowser();
  visitor = cVisitor({ GLANCE_SYNTHETIC_DISPLAY: '320x200' });
});

after(async () => {
  try { visitor?.send('quit'); } catch { /* gone */ }
  await stopChild(visitor);
  await browser?.close();
  await stopServer(srv);
});

const until = (page, pred, what) => waitUntil(async () => {
  const v = await rcView(page);
  return pred(v) ? v : null;
}, T, what);

test('the badge follows EnableRC and "Ask for control" reaches the visitor as EventMessageReceived', { skip: missing, timeout: 90000 }, async () => {
  await startVisitor(visitor, srv.ready, 'rc-badge');
  const alice = await agentToken(srv.ready, 'alice');
  assert.equal(alice.remoteAssist, true);
  const page = await openViewer(browser, srv.ready, 'rc-badge', alice.token);

  // Off: the badge says so and the agent may ask.
  let v = await until(page, (s) => s.badge === 'off', 'badge off');
  assert.deepEqual([v.text, v.badgeShown, v.askShown, v.askDisabled], ['Remote control: off', true, true, false]);
  await page.screenshot({ path: path.join(TARGET, 'agent-viewer-rc-off.png') });

  // The click is a message to the visitor's application, with who sent it.
  await page.click('#askrc');
  const m = await visitor.next('EventMessageReceived');
  assert.deepEqual(m.props, { message: 'requestRC', agent: alice.username, remoteAssist: 'true' });
  v = await rcView(page);
  assert.equal(v.asked, 1);
  assert.equal(v.askDisabled, true, 'the button rests after a click');

  // The application answers by enabling remote control: the badge turns on, the button goes.
  visitor.send('enablerc 1');
  assert.equal((await visitor.result('enablerc')).result, 0);
  v = await until(page, (s) => s.badge === 'on', 'badge on');
  assert.deepEqual([v.text, v.badgeShown, v.askShown, v.enabled, v.active], ['Remote control: on', true, false, true, true]);
  await page.screenshot({ path: path.join(TARGET, 'agent-viewer-rc-on.png') });
  assert.equal((await visitor.info()).rc_enabled, true);

  // Off again.
  visitor.send('enablerc 0');
  v = await until(page, (s) => s.badge === 'off', 'badge off again');
  assert.deepEqual([v.text, v.askShown, v.active], ['Remote control: off', true, false]);
  assert.equal((await visitor.info()).rc_enabled, false);
  // Asking again once the button has rested (3 s) is a second message.
  await until(page, (s) => !s.askDisabled, 'the button usable again');
  await page.click('#askrc');
  const m2 = await visitor.next('EventMessageReceived');
  assert.equal(m2.props.message, 'requestRC');
  assert.equal(visitor.seen('EventMessageReceived').length, 2);

  // Malformed, oversized and spoofing messages on an agent socket of its own are dropped by
  // the service with a log line; the socket stays open and its next good message arrives.
  const bad = [
    { type: 'agent_message', name: 'x', properties: { n: 1 } },
    { type: 'agent_message', name: 'has space' },
    { type: 'agent_message', name: 'x', properties: { agent: 'mallory' } },
    { type: 'agent_message', name: 'x', properties: { big: 'v'.repeat(2000) } },
  ].map((m) => JSON.stringify(m));
  const raw = await page.evaluate(([tok, msgs]) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://${location.host}/ws/agent`);
    const got = [];
    const timer = setTimeout(() => reject(new Error(`raw agent: ${JSON.stringify(got)}`)), 10000);
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', role: 'agent', min_version: 1, max_version: 1 }));
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      const m = JSON.parse(ev.data);
      got.push(m.type);
      if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'join', key: 'rc-badge', token: tok, group_id: 7 }));
      if (m.type === 'joined') {
        for (const b of msgs) ws.send(b);
        ws.send(JSON.stringify({ type: 'agent_message', name: 'marker', properties: { after: 'bad' } }));
        setTimeout(() => {
          clearTimeout(timer);
          const open = ws.readyState === WebSocket.OPEN;
          ws.send(JSON.stringify({ type: 'leave' }));
          resolve({ open, got });
        }, 500);
      }
    };
  }), [alice.token, bad]);
  assert.equal(raw.open, true, `the socket stays open: ${JSON.stringify(raw.got)}`);
  assert.ok(!raw.got.includes('error'), JSON.stringify(raw.got));
  const marker = await visitor.next('EventMessageReceived');
  assert.deepEqual(marker.props, { message: 'marker', after: 'bad', agent: alice.username, remoteAssist: 'true' });
  assert.equal(visitor.seen('EventMessageReceived').length, 3, 'only the marker of the raw socket arrived');
  const dropped = srv.child.stderrText.split('\n').filter((l) => l.includes('agent_message dropped'));
  assert.equal(dropped.length, bad.length, srv.child.stderrText.slice(-3000));
  await page.close();
  // The last agent left this (non-persistent) session: it ends.
  await visitor.next('EventSessionEnded');
});

test('an observer sees "not allowed for your role" and no "Ask for control"', { skip: missing, timeout: 60000 }, async () => {
  const olga = await agentToken(srv.ready, 'olga');
  assert.equal(olga.remoteAssist, false);
  visitor.send('start rc-observer');
  await visitor.next('EventConnectedToSession');
  const page = await openViewer(browser, srv.ready, 'rc-observer', olga.token);
  let v = await until(page, (s) => s.badge === 'forbidden', 'badge forbidden');
  assert.deepEqual([v.text, v.badgeShown, v.askShown], ['Remote control: not allowed for your role', true, false]);
  visitor.send('enablerc 1');
  await visitor.result('enablerc');
  await waitUntil(async () => (await rcView(page)).enabled, T, 'the observer heard rc on');
  v = await rcView(page);
  assert.deepEqual([v.badge, v.askShown, v.active], ['forbidden', false, false]);
  visitor.send('enablerc 0');
  await visitor.result('enablerc');
  await page.close();
});
