// Shared pieces of the browser tests: the server process, headless Chromium, bounded waits and
// pixel comparisons. Every wait is bounded; every process started here is killed at the end.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TARGET = process.env.CARGO_TARGET_DIR
  ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
export const BIN = (name) => path.join(TARGET, 'debug', name);
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const children = new Set();
function killAll() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  });
}

/** Spawns a process that is killed when the test process exits. stderr is kept for reports. */
export function spawnChild(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.add(child);
  child.stderrText = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    child.stderrText = (child.stderrText + d).slice(-20000);
    if (process.env.GLANCE_TEST_VERBOSE) process.stderr.write(`[${path.basename(cmd)}] ${d}`);
  });
  child.exited = new Promise((resolve) => child.on('exit', (code, sig) => {
    children.delete(child);
    resolve({ code, sig });
  }));
  return child;
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(t);
}

/** Resolves with the first line of a child's stdout (bounded), then keeps reading lines into `child.lines`. */
export function lines(child) {
  child.lines = [];
  child.lineWaiters = [];
  const rl = readline.createInterface({ input: child.stdout });
  rl.on('line', (l) => {
    child.lines.push(l);
    if (process.env.GLANCE_TEST_VERBOSE) process.stderr.write(`[stdout] ${l}\n`);
    for (const w of child.lineWaiters.splice(0)) w();
  });
  child.exited.then(() => { for (const w of child.lineWaiters.splice(0)) w(); });
  return child;
}

/** Waits until some stdout line (JSON) satisfies `pred`; returns the parsed object. */
export function waitForLine(child, pred, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => reject(new Error(
      `timed out after ${timeoutMs} ms waiting for ${what}; stdout so far:\n${child.lines.join('\n')}\nstderr:\n${child.stderrText}`)),
    timeoutMs);
    const check = () => {
      for (; seen < child.lines.length; seen++) {
        let j;
        try { j = JSON.parse(child.lines[seen]); } catch { continue; }
        if (pred(j)) {
          clearTimeout(timer);
          return resolve(j);
        }
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        clearTimeout(timer);
        return reject(new Error(`${what}: process exited (${child.exitCode ?? child.signalCode}); stderr:\n${child.stderrText}`));
      }
      child.lineWaiters.push(check);
    };
    check();
  });
}

/** Per-client budgets for a test server all of whose clients share 127.0.0.1. */
export const LOOPBACK_LIMITS = `
connections_per_address = 10000
accepts_per_address_burst = 100000
accepts_per_address_per_second = 100000
starts_per_address_burst = 100000
starts_per_address_per_minute = 100000
address_min_sessions = 100000
`;

/** A loopback port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts glance-server on a free loopback port, with `configToml` as its config file when
 * given; resolves with {child, ready, stateDir, args}. opts.fixedPorts: both listeners on
 * ports chosen up front, so that restartServer can bring it back on the same ones.
 */
export async function startServer(configToml, opts = {}) {
  const exe = BIN('glance-server');
  if (!fs.existsSync(exe)) throw new Error(`${exe} is missing: run cargo build -p glance-server`);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glance-browser-'));
  const extra = [];
  if (configToml) {
    const cfg = path.join(stateDir, 'config.toml');
    fs.writeFileSync(cfg, configToml);
    extra.push('--config', cfg);
  } else {
    // Every test client comes from 127.0.0.1: raise the per-address budgets (tests/attack
    // checks the defaults). A config file's own [limits] table does this for configured
    // servers.
    const limits = path.join(stateDir, 'limits.toml');
    fs.writeFileSync(limits, LOOPBACK_LIMITS);
    extra.push('--limits', limits);
  }
  const listen = opts.fixedPorts
    ? ['--listen', `127.0.0.1:${await freePort()}`, '--direct-listen', `127.0.0.1:${await freePort()}`]
    : ['--listen', '127.0.0.1:0'];
  const args = [...listen, '--state-dir', stateDir, ...extra];
  return { ...(await spawnServer(args)), stateDir, args };
}

async function spawnServer(args) {
  const child = lines(spawnChild(BIN('glance-server'), args,
    { env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' } }));
  const ready = await waitForLine(child, (j) => j.agent_url && j.session_url, 20000, 'the server ready line');
  ready.caPem = fs.readFileSync(ready.ca_cert, 'utf8');
  return { child, ready };
}

/** kill -9 a server started with fixedPorts and start it again (same ports, same state). */
export async function restartServer(srv) {
  srv.child.kill('SIGKILL');
  await srv.child.exited;
  const { child, ready } = await spawnServer(srv.args);
  srv.child = child;
  srv.ready = ready;
  return srv;
}

export async function stopServer(srv) {
  if (!srv) return;
  await stopChild(srv.child);
  fs.rmSync(srv.stateDir, { recursive: true, force: true });
}

/**
 * Launches headless Debian Chromium. opts.popupBlocking: keep Chromium's popup blocker on
 * (Playwright turns it off by default), as an agent's browser has it.
 */
export function launchBrowser(opts = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30000,
    ignoreDefaultArgs: opts.popupBlocking ? ['--disable-popup-blocking'] : [],
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // The server's certificate comes from its own development CA; this is a loopback test.
      '--ignore-certificate-errors'],
  });
}

/** A new page that fails the test on page errors; console output is collected. */
export async function newPage(browser, viewport = { width: 1000, height: 700 }) {
  const context = await browser.newContext({ viewport, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.logs = [];
  page.on('console', (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  return page;
}

/** The viewer URL for a session key. */
export function viewerUrl(agentUrl, key) {
  const u = new URL(agentUrl);
  u.searchParams.set('key', key);
  return u.toString();
}

/** Polls `fn` (async) until it returns a truthy value; bounded. */
export async function waitUntil(fn, timeoutMs, what, intervalMs = 50) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The viewer's test hook state (without pixels). */
export function viewerState(page) {
  return page.evaluate(() => {
    const v = window.glanceViewer;
    return v && {
      state: v.state, key: v.key, guests: v.guests, width: v.width, height: v.height,
      frames: v.frames, seq: v.seq, endStatus: v.endStatus, message: v.message,
    };
  });
}

/** Waits until the viewer state satisfies `pred`; the error names the last state seen. */
export async function waitForViewer(page, pred, timeoutMs, what) {
  let last;
  try {
    return await waitUntil(async () => {
      last = await viewerState(page);
      return last && pred(last) ? last : null;
    }, timeoutMs, what);
  } catch (e) {
    e.message += `; last viewer state ${JSON.stringify(last)}; page log:\n${page.logs.join('\n')}`;
    throw e;
  }
}

/** The canvas pixels, read with getImageData: {width, height, rgba: Buffer}. */
export async function canvasPixels(page) {
  const r = await page.evaluate(() => {
    const c = document.getElementById('screen');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
    return { width: c.width, height: c.height, b64: btoa(s) };
  });
  return { width: r.width, height: r.height, rgba: Buffer.from(r.b64, 'base64') };
}

/** The viewer's own picture (window.glanceViewer.pixels()). */
export async function hookPixels(page) {
  return Buffer.from(await page.evaluate(() => window.glanceViewer.pixels()), 'base64');
}

/** BGRX (4 bytes a pixel, 4th ignored) to RGBA with alpha 255. */
export function bgrxToRgba(bgrx) {
  const out = Buffer.alloc(bgrx.length);
  for (let i = 0; i < bgrx.length; i += 4) {
    out[i] = bgrx[i + 2]; out[i + 1] = bgrx[i + 1]; out[i + 2] = bgrx[i]; out[i + 3] = 255;
  }
  return out;
}

/** null when equal (RGB compared, alpha must be 255), else a description of the difference. */
export function pixelDiff(got, want, width, height) {
  if (got.length !== want.length) return `sizes differ: ${got.length} vs ${want.length} bytes`;
  let count = 0;
  let first = null;
  for (let i = 0; i < got.length; i += 4) {
    if (got[i] !== want[i] || got[i + 1] !== want[i + 1] || got[i + 2] !== want[i + 2] || got[i + 3] !== 255) {
      if (!first) {
        const p = i / 4;
        first = `(${p % width},${Math.floor(p / width)}) got ${[...got.subarray(i, i + 4)]} want ${[...want.subarray(i, i + 3)]}`;
      }
      count++;
    }
  }
  return count ? `${count} of ${width * height} pixels differ, first at ${first}` : null;
}

/** Waits (bounded) until the canvas equals `want` (RGBA of width x height). */
export async function waitForCanvas(page, want, width, height, timeoutMs, what) {
  let diff = 'never read';
  try {
    await waitUntil(async () => {
      const c = await canvasPixels(page);
      diff = c.width !== width || c.height !== height
        ? `canvas is ${c.width}x${c.height}, want ${width}x${height}`
        : pixelDiff(c.rgba, want, width, height);
      return diff === null;
    }, timeoutMs, what, 100);
  } catch (e) {
    e.message += `: ${diff}; viewer ${JSON.stringify(await viewerState(page))}; page log:\n${page.logs.join('\n')}`;
    throw e;
  }
}

/**
 * Serves the viewer from the source tree on a made-up origin, as glance-server would (the
 * placeholders filled in with `test-token` and group 1), for tests that need no server.
 */
export async function serveViewer(page, origin = 'https://glance.test') {
  const assets = process.env.GLANCE_VIEWER_ASSETS || path.join(ROOT, 'crates/glance-server/assets');
  await page.route(`${origin}/**`, (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === '/agent/viewer.js') {
      return route.fulfill({ contentType: 'text/javascript', body: fs.readFileSync(path.join(assets, 'viewer.js')) });
    }
    if (url.pathname === '/agent') {
      const html = fs.readFileSync(path.join(assets, 'viewer.html'), 'utf8')
        .replaceAll('__GLANCE_DEV_TOKEN__', 'test-token').replaceAll('__GLANCE_GROUP_ID__', '1');
      return route.fulfill({ contentType: 'text/html', body: html });
    }
    return route.fulfill({ status: 404, body: 'not found' });
  });
  return `${origin}/agent`;
}

/**
 * Opens the viewer for `key` against a scripted WebSocket server (no glance-server). Returns
 * {page, server}: server.received holds the viewer's messages (JSON, or {binary}), server.send
 * sends a control message, server.sendKind(kind, payload) a binary message, server.next(type)
 * takes the next message of that type (bounded wait).
 */
export async function openScripted(browser, key, timeoutMs) {
  const page = await newPage(browser);
  const url = await serveViewer(page);
  // refuseNew: later connections (the viewer reconnecting) are closed at once.
  const server = { received: [], ws: null, closed: false, connections: 0, refuseNew: false };
  let connected;
  const ready = new Promise((r) => { connected = r; });
  await page.routeWebSocket('wss://glance.test/ws/agent', (ws) => {
    // `refuse`: new connections are closed at once (a server that went away).
    if (server.refuse) {
      ws.close();
      return;
    }
    server.ws = ws;
    server.connections = (server.connections || 0) + 1;
    server.closed = false;
    ws.onMessage((m) => server.received.push(typeof m === 'string' ? JSON.parse(m) : { binary: m }));
    ws.onClose(() => { server.closed = true; });
    connected();
  });
  server.send = (m) => server.ws.send(JSON.stringify(m));
  server.sendKind = (kind, payload) => server.ws.send(Buffer.concat([Buffer.from([kind]), payload]));
  server.next = async (type) => {
    const m = await waitUntil(() => server.received.find((x) => x.type === type), timeoutMs, `a ${type} from the viewer`);
    server.received.splice(server.received.indexOf(m), 1);
    return m;
  };
  await page.goto(`${url}?key=${key}`, { timeout: timeoutMs });
  await ready;
  return { page, server };
}
