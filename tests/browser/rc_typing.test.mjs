// Issue 12, "Done when" #1: under Xvfb, an agent in headless Chromium clicks into an xterm
// shown in the viewer and types a shell command that creates a file; the file exists. Typing
// before EnableRC, after EnableRC(false), while paused, or from an observer creates nothing.
// The visitor is a C program over libglance (tests/c/visitor_driver.c) sharing the real X
// screen (no GLANCE_SYNTHETIC_DISPLAY): its X11 backend captures it and injects through XTEST.
//
// Each negative case types twice: through the viewer with Chromium's real keyboard (which the
// viewer itself does not forward), and as raw `input` messages on an agent WebSocket of its
// own (so the service's and the visitor's gates are what stop them); nothing may appear
// within NEGATIVE_WAIT_MS. Needs Xvfb and xterm (scripts/setup.sh installs them): without
// them the test is skipped with the reason.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, stopServer, launchBrowser, spawnChild, stopChild, waitUntil, canvasPixels,
} from './helpers.mjs';
import {
  CONFIG, missing as missingBuild, agentToken, cVisitor, startVisitor, openViewer, rcView,
} from './rc_common.mjs';

const T = 20000;
/** How long a negative case waits for a file that must not appear. */
const NEGATIVE_WAIT_MS = 1500;
const SCREEN = { width: 640, height: 400 };
const KEY = 'rc-typing';

const hasCmd = (c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0;
const missingX = ['Xvfb', 'xterm'].filter((c) => !hasCmd(c));
const skip = missingBuild
  || (missingX.length ? `${missingX.join(' and ')} not installed (scripts/setup.sh installs them)` : false);
if (skip) console.log(`# rc_typing skipped: ${skip}`);

let xvfb;
let display;
let xterm;
let dir;
let srv;
let browser;
let visitor;
let alice;
let olga;
let page;

/** Starts Xvfb on a display number it picks itself (-displayfd): resolves with ":N". */
function startXvfb() {
  const child = spawnChild('Xvfb', ['-displayfd', '3', '-screen', '0', `${SCREEN.width}x${SCREEN.height}x24`, '-nolisten', 'tcp'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display number within 10 s: ${child.stderrText}`)), 10000);
    child.stdio[3].setEncoding('utf8');
    child.stdio[3].on('data', (d) => {
      text += d;
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve({ child, display: `:${text.trim()}` });
      }
    });
    child.exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited (${code}): ${child.stderrText}`));
    });
  });
}

before(async () => {
  if (skip) return;
  ({ child: xvfb, display } = await startXvfb());
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glance-rc-typing-'));
  // A white xterm at the top-left running sh in the temporary directory. Without a window
  // manager the keyboard focus follows the pointer, so a click into it gives it the keys.
  xterm = spawnChild('xterm', ['-geometry', '70x16+0+0', '-bg', 'white', '-fg', 'black', '-e', 'sh'], {
    cwd: dir,
    env: { PATH: process.env.PATH, DISPLAY: display, HOME: dir, SHELL: '/bin/sh', TERM: 'xterm' },
  });
  srv = await startServer(CONFIG);
  [alice, olga] = [await agentToken(srv.ready, 'alice'), await agentToken(srv.ready, 'olga')];
  assert.deepEqual([alice.remoteAssist, olga.remoteAssist], [true, false]);
  visitor = cVisitor({ GLANCE_SYNTHETIC_DISPLAY: undefined, DISPLAY: display });
  await startVisitor(visitor, srv.ready, KEY);
  browser = await launchBrowser();
  page = await openViewer(browser, srv.ready, KEY, alice.token, { width: 900, height: 600 });
  assert.deepEqual(await page.evaluate(() => [window.glanceViewer.width, window.glanceViewer.height]),
    [SCREEN.width, SCREEN.height]);
  // The xterm is on the screen the viewer shows (its white background at (40, 40)).
  await waitUntil(async () => {
    const px = await canvasPixels(page);
    const i = (40 * px.width + 40) * 4;
    return px.rgba[i] > 240 && px.rgba[i + 1] > 240 && px.rgba[i + 2] > 240;
  }, T, 'the xterm in the viewer');
});

after(async () => {
  try { visitor?.send('quit'); } catch { /* gone */ }
  await stopChild(visitor);
  await browser?.close();
  await stopServer(srv);
  await stopChild(xterm);
  await stopChild(xvfb);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Page coordinates of the centre of picture pixel (x, y) of the viewer's canvas. */
function pagePoint(p, x, y) {
  return p.evaluate(([px, py]) => {
    const c = document.getElementById('screen');
    const r = c.getBoundingClientRect();
    const s = Math.min(r.width / c.width, r.height / c.height);
    return { x: r.left + (r.width - c.width * s) / 2 + (px + 0.5) * s, y: r.top + (r.height - c.height * s) / 2 + (py + 0.5) * s };
  }, [x, y]);
}

/** Clicks into the xterm through the viewer and types `cmd` + Enter with Chromium's keyboard. */
async function typeInViewer(p, cmd) {
  const at = await pagePoint(p, 120, 60);
  await p.mouse.click(at.x, at.y);
  for (const ch of cmd) {
    if (ch === '_') {
      // '_' is Shift+Minus on the physical (US) keyboard the injection maps codes to.
      await p.keyboard.down('Shift');
      await p.keyboard.press('Minus');
      await p.keyboard.up('Shift');
    } else {
      await p.keyboard.press(ch === ' ' ? 'Space' : ch);
    }
  }
  await p.keyboard.press('Enter');
}

/** The DOM code of a character of a command (letters, digits, space, '_'). */
function codeOf(ch) {
  if (/[a-z]/.test(ch)) return `Key${ch.toUpperCase()}`;
  if (/[0-9]/.test(ch)) return `Digit${ch}`;
  if (ch === ' ') return 'Space';
  throw new Error(`no code for ${ch}`);
}

/**
 * An agent WebSocket of its own (in the viewer's page, with `token`) that joins and sends a
 * click into the xterm and the keys of `cmd` + Enter as raw `input` messages, whatever the
 * viewer would allow. Resolves with the messages the service sent it.
 */
function typeRaw(p, token, cmd) {
  const keys = [];
  const key = (code, k, down) => keys.push({ kind: 'key', code, key: k, down });
  for (const ch of cmd) {
    if (ch === '_') {
      key('ShiftLeft', 'Shift', true);
      key('Minus', '_', true);
      key('Minus', '_', false);
      key('ShiftLeft', 'Shift', false);
    } else {
      key(codeOf(ch), ch, true);
      key(codeOf(ch), ch, false);
    }
  }
  key('Enter', 'Enter', true);
  key('Enter', 'Enter', false);
  return p.evaluate(([tok, sessionKey, inputs]) => new Promise((resolve, reject) => {
    const got = [];
    const ws = new WebSocket(`wss://${location.host}/ws/agent`);
    const timer = setTimeout(() => { ws.close(); reject(new Error(`raw agent: no joined; got ${JSON.stringify(got)}`)); }, 10000);
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', role: 'agent', min_version: 1, max_version: 1, client: 'rc_typing raw' }));
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      const m = JSON.parse(ev.data);
      got.push(m.type);
      if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'join', key: sessionKey, token: tok, group_id: 7 }));
      if (m.type === 'joined') {
        clearTimeout(timer);
        for (const b of [0, 1, 0]) ws.send(JSON.stringify({ type: 'input', input: { kind: 'pointer', x: 120, y: 60, buttons: b } }));
        for (const i of inputs) ws.send(JSON.stringify({ type: 'input', input: i }));
        // Leave once the service has had the messages (a ping-free moment later).
        setTimeout(() => { ws.send(JSON.stringify({ type: 'leave' })); ws.close(); resolve({ got, joined: m }); }, 300);
      }
      if (m.type === 'join_failed' || m.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`raw agent: ${ev.data}`));
      }
    };
  }), [token, KEY, keys]);
}

const exists = (name) => fs.existsSync(path.join(dir, name));
const files = () => fs.readdirSync(dir).sort();

async function appears(name) {
  await waitUntil(() => exists(name), 10000, `${name} in ${dir} (files: ${files().join(', ')})`);
}

/** Nothing named `names` appears within NEGATIVE_WAIT_MS. */
async function nothingAppears(names) {
  const end = Date.now() + NEGATIVE_WAIT_MS;
  while (Date.now() < end) {
    for (const n of names) assert.ok(!exists(n), `${n} was created: the input was injected`);
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const n of names) assert.ok(!exists(n), `${n} was created: the input was injected`);
}

/** One negative case: Chromium typing through the viewer and a raw agent socket. */
async function refused(p, token, tag) {
  await typeInViewer(p, `touch no_${tag}`);
  const raw = await typeRaw(p, token, `touch no_${tag}_raw`);
  await nothingAppears([`no_${tag}`, `no_${tag}_raw`]);
  return raw;
}

let n = 0;
async function typed() {
  n++;
  const before = (await rcView(page)).sent;
  await typeInViewer(page, `touch ok_${n}`);
  assert.ok((await rcView(page)).sent > before, 'the viewer sent input');
  await appears(`ok_${n}`);
}

test('before EnableRC: typing creates nothing', { skip, timeout: 60000 }, async () => {
  assert.equal((await visitor.info()).rc_enabled, false);
  assert.equal((await rcView(page)).badge, 'off');
  await refused(page, alice.token, 'before');
  assert.equal((await rcView(page)).sent, 0, 'the viewer sends no input while control is off');
});

test('after EnableRC: a click into the xterm and typed keys create the file', { skip, timeout: 60000 }, async () => {
  visitor.send('enablerc 1');
  assert.equal((await visitor.result('enablerc')).result, 0);
  await waitUntil(async () => (await rcView(page)).active, T, 'remote control active in the viewer');
  assert.equal((await visitor.info()).rc_enabled, true);
  await typed();
  // The raw socket of a privileged agent gets through too (so the negative cases' raw typing
  // is refused by the gates, not by a broken socket).
  await typeRaw(page, alice.token, 'touch ok_raw');
  await appears('ok_raw');
});

test('while paused: typing creates nothing; after resume it works again', { skip, timeout: 60000 }, async () => {
  visitor.send('pause 1');
  await visitor.result('pause');
  await waitUntil(async () => (await page.evaluate(() => window.glanceViewer.state)) === 'paused', T, 'the viewer paused');
  await refused(page, alice.token, 'paused');
  visitor.send('pause 0');
  await visitor.result('pause');
  await waitUntil(async () => (await rcView(page)).active, T, 'remote control active after resume');
  await typed();
});

test('from an observer: typing creates nothing', { skip, timeout: 60000 }, async () => {
  const obs = await openViewer(browser, srv.ready, KEY, olga.token, { width: 900, height: 600 });
  await waitUntil(async () => (await rcView(obs)).enabled, T, 'the observer heard rc on');
  const v = await rcView(obs);
  assert.deepEqual([v.badge, v.active], ['forbidden', false]);
  const raw = await refused(obs, olga.token, 'observer');
  assert.equal(raw.joined.remote_assist, false);
  assert.equal((await rcView(obs)).sent, 0);
  await obs.close();
  // The privileged agent still controls.
  await typed();
});

test('after EnableRC(false): typing creates nothing', { skip, timeout: 60000 }, async () => {
  visitor.send('enablerc 0');
  assert.equal((await visitor.result('enablerc')).result, 0);
  await waitUntil(async () => !(await rcView(page)).enabled, T, 'remote control off in the viewer');
  assert.equal((await visitor.info()).rc_enabled, false);
  await refused(page, alice.token, 'disabled');
  assert.deepEqual(files().filter((f) => f.startsWith('no_')), []);
});
