// A Windows visitor under Wine, end to end (issue 11): tests/c/windows_share.c, built with
// MinGW against glance.dll, shares the Xvfb screen Wine runs on (GDI capture) through a real
// Linux glance-server to the agent viewer in headless Chromium. The viewer's canvas must
// equal the X server's root window pixel for pixel (read with xwd, whatever is on it: Wine's
// windows, xterms, the bare root), once on a still screen, and again after an xterm has
// printed and scrolled during the session. The visitor's display list must be what Wine
// sees (GLANCE_XCI_MONITORS), and ShowDisplay to each monitor by name must work: no error
// event, GetSessionInfo names it, and the canvas shows that monitor. With EnableRC on, the
// agent's mouse moves in the viewer put the X pointer on the same pixels (SendInput under
// Wine), and nothing moves it after EnableRC(false).
//
// Run by scripts/cross-windows.sh, which builds the exe and sets:
//   GLANCE_WINE_SHARE_EXE  windows_share.exe (glance.dll beside it)
//   GLANCE_WINE            the wine64 loader
//   GLANCE_XCI_MONITORS    what Wine must report: "NAME@X,Y,WxH;..." primary first
//   DISPLAY                the Xvfb screen
//   GLANCE_WINE_REQUIRED   fail (not skip) when something is missing
// Skipped (not failed) without them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  TARGET, startServer, stopServer, launchBrowser, newPage, viewerUrl, waitForViewer,
  spawnChild, stopChild, lines, canvasPixels, pixelDiff, waitUntil,
} from './helpers.mjs';

const T = 30000;
const EXE = process.env.GLANCE_WINE_SHARE_EXE;
const WINE = process.env.GLANCE_WINE || '/usr/lib/wine/wine64';
const missing = (!EXE || !fs.existsSync(EXE) || !process.env.DISPLAY || !process.env.GLANCE_XCI_MONITORS)
  && 'needs GLANCE_WINE_SHARE_EXE, GLANCE_XCI_MONITORS and DISPLAY (scripts/cross-windows.sh sets them)';
// The script sets GLANCE_WINE_REQUIRED: there a missing piece is a failure, not a skip.
if (missing && process.env.GLANCE_WINE_REQUIRED) {
  throw new Error(`wine_share.test.mjs ${missing}; GLANCE_WINE_SHARE_EXE=${EXE}`);
}

/** "NAME@X,Y,WxH;..." to [{name, x, y, width, height}]. */
function expectedMonitors() {
  return (process.env.GLANCE_XCI_MONITORS || '').split(';').filter(Boolean).map((m) => {
    const [name, geo] = m.split('@');
    const [x, y, wh] = geo.split(',');
    const [width, height] = wh.split('x').map(Number);
    return { name, x: Number(x), y: Number(y), width, height };
  });
}

/**
 * The X root window as RGBA (alpha 255), read with `xwd -root` (ZPixmap, 24/32 bits a
 * pixel), cut to (x, y, w, h) when given.
 */
export function xRoot(rect) {
  const r = spawnSync('xwd', ['-root', '-silent'], { maxBuffer: 64 << 20, timeout: 20000 });
  if (r.status !== 0) throw new Error(`xwd failed (${r.status}): ${r.stderr}`);
  const b = r.stdout;
  const f = (i) => b.readUInt32BE(i * 4);
  const [headerSize, , format, , width, height, , byteOrder, , , , bpp, bpl] =
    Array.from({ length: 13 }, (_, i) => f(i));
  const [redMask, greenMask, blueMask] = [f(14), f(15), f(16)];
  const ncolors = f(19);
  if (format !== 2 || bpp !== 32) throw new Error(`xwd: format ${format}, ${bpp} bits a pixel`);
  const data = headerSize + ncolors * 12;
  const { x = 0, y = 0, w = width, h = height } = rect || {};
  const shift = (m) => 31 - Math.clz32(m & -m);
  const [rs, gs, bs] = [shift(redMask), shift(greenMask), shift(blueMask)];
  const out = Buffer.alloc(w * h * 4);
  for (let row = 0; row < h; row++) {
    for (let col = 0; col < w; col++) {
      const at = data + (y + row) * bpl + (x + col) * 4;
      const p = byteOrder === 0 ? b.readUInt32LE(at) : b.readUInt32BE(at);
      const o = (row * w + col) * 4;
      out[o] = (p & redMask) >>> rs;
      out[o + 1] = (p & greenMask) >>> gs;
      out[o + 2] = (p & blueMask) >>> bs;
      out[o + 3] = 255;
    }
  }
  return { width: w, height: h, rgba: out, screen: { width, height } };
}

/** Waits (bounded) until the canvas equals the X root (or `rect` of it); returns the diff history. */
async function waitForCanvasEqualsX(page, rect, timeoutMs, what) {
  let diff = 'never compared';
  let compared = 0;
  try {
    await waitUntil(async () => {
      const want = xRoot(rect);
      const c = await canvasPixels(page);
      compared++;
      diff = c.width !== want.width || c.height !== want.height
        ? `canvas is ${c.width}x${c.height}, X ${want.width}x${want.height}`
        : pixelDiff(c.rgba, want.rgba, want.width, want.height);
      return diff === null;
    }, timeoutMs, what, 200);
  } catch (e) {
    e.message += `: ${diff} (after ${compared} comparisons); page log:\n${page.logs.join('\n')}`;
    throw e;
  }
  return compared;
}

/** The Wine visitor: a child with stdin for commands and its stdout lines. */
function startVisitor(srv) {
  const child = spawnChild(WINE, [EXE, String(srv.ready.group_id), srv.ready.session_url,
    `Z:${srv.ready.ca_cert}`, '-'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, WINEDEBUG: process.env.WINEDEBUG || '-all' },
  });
  lines(child);
  return child;
}

/** Waits for a stdout line matching `re`; returns the match. */
function waitForText(child, re, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => reject(new Error(
      `timed out after ${timeoutMs} ms waiting for ${what}; stdout:\n${child.lines.join('\n')}\nstderr:\n${child.stderrText}`)),
    timeoutMs);
    const check = () => {
      for (; seen < child.lines.length; seen++) {
        const m = re.exec(child.lines[seen]);
        if (m) {
          clearTimeout(timer);
          return resolve(m);
        }
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        clearTimeout(timer);
        return reject(new Error(`${what}: the visitor exited (${child.exitCode ?? child.signalCode}); stdout:\n${child.lines.join('\n')}\nstderr:\n${child.stderrText}`));
      }
      child.lineWaiters.push(check);
    };
    check();
  });
}

const ERROR_EVENTS = /^event (EventInvalidParameter|EventInvalidState|EventStartSessionFailed|EventException|EventDeviceDisconnected|EventRCDisabled)\b/;

function errorEvents(child) {
  return child.lines.filter((l) => ERROR_EVENTS.test(l));
}

/** Sends a command and waits for its DONE line; returns {rc, shown}. */
async function command(child, cmd) {
  child.stdin.write(`${cmd}\n`);
  const m = await waitForText(child, new RegExp(`^DONE ${cmd.replace(/[\\.]/g, '\\$&')} rc=(-?\\d+) shown=(.*) rcon=(\\d)$`), T, `DONE ${cmd}`);
  return { rc: Number(m[1]), shown: m[2], rcOn: m[3] === '1' };
}

/** Ends the visitor's session through stdin; it must print SHARE OK and exit 0. */
async function endVisitor(child) {
  child.stdin.end('end\n');
  await waitForText(child, /^SHARE OK/, T, 'SHARE OK');
  const r = await Promise.race([child.exited, new Promise((res) => setTimeout(() => res(null), T))]);
  assert.ok(r, 'the visitor exits after SHARE OK');
  assert.equal(r.code, 0, child.stderrText);
}

let srv;
let browser;
let tmp;

before(async () => {
  if (missing) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glance-wine-share-'));
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopServer(srv);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function openViewer(key) {
  const page = await newPage(browser, { width: 1400, height: 1000 });
  await page.goto(viewerUrl(srv.ready.agent_url, key), { timeout: T });
  await waitForViewer(page, (s) => s.state === 'joined' && s.frames > 0, T, 'joined with a frame');
  return page;
}

test('the displays Wine reports, ShowDisplay by name, and a still screen pixel for pixel', { skip: missing, timeout: 180000 }, async () => {
  const want = expectedMonitors();
  const v = startVisitor(srv);
  try {
    const count = Number((await waitForText(v, /^COUNT (-?\d+)$/, T, 'COUNT'))[1]);
    const main = Number((await waitForText(v, /^MAIN (-?\d+)$/, T, 'MAIN'))[1]);
    const listed = [];
    for (let i = 0; i < count; i++) {
      const m = await waitForText(v, new RegExp(`^DISPLAY ${i} (\\d+) (.*)$`), T, `DISPLAY ${i}`);
      listed.push({ type: Number(m[1]), name: m[2] });
    }
    console.log(`Wine reports ${count} display(s), main ${main}: ${listed.map((d) => `${d.name} (type ${d.type})`).join(', ')}`);
    assert.equal(count, want.length, `GetDisplayCount: Wine should report ${JSON.stringify(want)}`);
    assert.deepEqual(listed.map((d) => d.name).sort(), want.map((d) => d.name).sort(), 'GetDisplayName');
    assert.ok(listed.every((d) => d.type === 0), 'GetDisplayType: every one a monitor (0)');
    assert.equal(listed[main].name, want[0].name, 'GetMainMonitor: the primary one');

    const key = (await waitForText(v, /^SHARING (\S+)$/, T, 'SHARING'))[1];
    const page = await openViewer(key);
    const primary = { x: want[0].x, y: want[0].y, w: want[0].width, h: want[0].height };
    // the comparison means something only if the screen shows something (the script's xterm)
    const root = xRoot(primary).rgba;
    const colours = new Set();
    for (let i = 0; i < root.length && colours.size < 3; i += 4 * 97) colours.add(root.readUInt32LE(i));
    assert.ok(colours.size >= 2, 'the X screen is one flat colour: nothing to compare');
    const t0 = Date.now();
    const n = await waitForCanvasEqualsX(page, primary, T, 'the canvas to equal the X screen');
    console.log(`still screen: canvas == X root ${primary.w}x${primary.h} after ${Date.now() - t0} ms (${n} comparisons)`);

    // ShowDisplay to each monitor by name, the main one first (a no-op switch), then back.
    for (const m of [...want, want[0]]) {
      const r = await command(v, `show ${m.name}`);
      assert.deepEqual([r.rc, r.shown], [0, m.name], `ShowDisplay(${m.name})`);
      const rect = { x: m.x, y: m.y, w: m.width, h: m.height };
      await waitForCanvasEqualsX(page, rect, T, `the canvas to show ${m.name}`);
      const s = await waitForViewer(page, (x) => x.width === m.width && x.height === m.height, T, `${m.name}'s size`);
      assert.deepEqual([s.width, s.height], [m.width, m.height]);
      console.log(`ShowDisplay(${m.name}): canvas == X root at ${m.x},${m.y} ${m.width}x${m.height}`);
    }
    // an unknown name is refused with EventInvalidParameter, and sharing goes on
    const bad = await command(v, 'show \\\\.\\DISPLAY99');
    assert.notEqual(bad.rc, 0, 'ShowDisplay of a monitor that does not exist');
    assert.equal(bad.shown, want[0].name);
    assert.ok(v.lines.some((l) => /^event EventInvalidParameter/.test(l)), v.lines.join('\n'));
    const errors = errorEvents(v).filter((l) => !/DISPLAY99/.test(l));
    assert.deepEqual(errors, [], 'no other error event');
    await waitForCanvasEqualsX(page, primary, T, 'the canvas after the refused ShowDisplay');
    await endVisitor(v);
    await waitForViewer(page, (x) => x.state === 'ended', T, 'ended');
    await page.close();
  } finally {
    await stopChild(v);
  }
});

test('while an xterm prints and scrolls the canvas follows, and is pixel-exact once it stops', { skip: missing, timeout: 180000 }, async () => {
  const want = expectedMonitors()[0];
  const rect = { x: want.x, y: want.y, w: want.width, h: want.height };
  const marker = path.join(tmp, 'printed');
  const v = startVisitor(srv);
  let xterm;
  try {
    const key = (await waitForText(v, /^SHARING (\S+)$/, T, 'SHARING'))[1];
    const page = await openViewer(key);
    await waitForCanvasEqualsX(page, rect, T, 'the canvas before the xterm');
    const before = await waitForViewer(page, () => true, T, 'state');
    // 120 lines over ~6 s in a 80x24 xterm: it scrolls the whole time.
    xterm = spawnChild('xterm', ['-geometry', '80x24+420+260', '-bg', 'black', '-fg', 'green', '-e', 'sh', '-c',
      `i=0; while [ $i -lt 120 ]; do echo "glance under wine, line $i: the quick brown fox"; i=$((i+1)); sleep 0.05; done; touch '${marker}'; sleep 3600`]);
    // During the printing the viewer keeps receiving frames.
    await waitUntil(() => fs.existsSync(marker) || xterm.exitCode !== null, 60000, 'the xterm to finish printing', 100);
    assert.ok(fs.existsSync(marker), `xterm: ${xterm.stderrText}`);
    const during = await waitForViewer(page, () => true, T, 'state');
    assert.ok(during.frames > before.frames + 10,
      `frames while the xterm printed: ${before.frames} -> ${during.frames}`);
    const t0 = Date.now();
    const n = await waitForCanvasEqualsX(page, rect, T, 'the canvas after the xterm stopped');
    console.log(`changing screen: ${during.frames - before.frames} frames while printing; canvas == X root ${Date.now() - t0} ms after it stopped (${n} comparisons)`);
    // and it stays equal: the same again a second later
    await new Promise((r) => setTimeout(r, 1000));
    const still = xRoot(rect);
    const c = await canvasPixels(page);
    assert.equal(pixelDiff(c.rgba, still.rgba, still.width, still.height), null, 'a second later');
    // the xterm goes away: the canvas shows the screen without it
    await stopChild(xterm);
    await waitForCanvasEqualsX(page, rect, T, 'the canvas after the xterm closed');
    await page.screenshot({ path: path.join(TARGET, 'agent-viewer-wine.png') });
    assert.deepEqual(errorEvents(v), []);
    await endVisitor(v);
    await page.close();
  } finally {
    await stopChild(xterm);
    await stopChild(v);
  }
});

test('remote control from the viewer moves the X pointer through SendInput', { skip: missing, timeout: 120000 }, async () => {
  const v = startVisitor(srv);
  try {
    const key = (await waitForText(v, /^SHARING (\S+)$/, T, 'SHARING'))[1];
    const page = await openViewer(key);
    const target = async (x, y) => page.evaluate(([px, py]) => {
      const c = document.getElementById('screen');
      const r = c.getBoundingClientRect();
      const s = Math.min(r.width / c.width, r.height / c.height);
      return { x: r.left + (r.width - c.width * s) / 2 + (px + 0.5) * s, y: r.top + (r.height - c.height * s) / 2 + (py + 0.5) * s };
    }, [x, y]);
    const xPointer = () => {
      const r = spawnSync('xdotool', ['getmouselocation', '--shell'], { encoding: 'utf8', timeout: 10000 });
      const m = /X=(\d+)\s+Y=(\d+)/.exec(r.stdout || '');
      return m && [Number(m[1]), Number(m[2])];
    };
    const r = await command(v, 'rc on');
    assert.deepEqual([r.rc, r.rcOn], [0, true], 'EnableRC(true)');
    await waitUntil(() => page.evaluate(() => window.glanceViewer.rc.active), T, 'remote control active in the viewer');
    for (const [x, y] of [[640, 400], [1001, 601], [17, 23]]) {
      const p = await target(x, y);
      await page.mouse.move(p.x - 2, p.y);
      await page.mouse.move(p.x, p.y);
      await waitUntil(() => { const q = xPointer(); return q && q[0] === x && q[1] === y; }, 10000,
        `the X pointer at ${x},${y} (it is at ${xPointer()})`);
    }
    const p = await target(300, 300);
    await page.mouse.move(p.x, p.y);
    await page.mouse.down();
    await page.mouse.up();
    await waitUntil(() => { const q = xPointer(); return q && q[0] === 300 && q[1] === 300; }, 10000, 'the X pointer at 300,300');
    console.log('remote control: the agent\'s moves put the X pointer on 640,400 1001,601 17,23 300,300');
    const off = await command(v, 'rc off');
    assert.deepEqual([off.rc, off.rcOn], [0, false], 'EnableRC(false)');
    await new Promise((res) => setTimeout(res, 500));
    const q = await target(900, 700);
    await page.mouse.move(q.x, q.y);
    await new Promise((res) => setTimeout(res, 1500));
    assert.deepEqual(xPointer(), [300, 300], 'nothing injected after EnableRC(false)');
    assert.deepEqual(errorEvents(v), []);
    await endVisitor(v);
    await page.close();
  } finally {
    await stopChild(v);
  }
});
