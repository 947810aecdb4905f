// Shared pieces of the remote-control browser tests (viewer_rc.test.mjs, rc_typing.test.mjs):
// a configured glance-server whose group allows remote control and has an observer role,
// agent tokens from login keys, the C visitor (tests/c/visitor_driver.c over libglance), and
// the viewer opened with an agent's token.

import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import {
  BIN, TARGET, LOOPBACK_LIMITS, spawnChild, lines, waitForLine, newPage, waitForViewer,
} from './helpers.mjs';
import { signLoginKey } from '../../sdk/js/glance-loginkey.mjs';

export const GROUP = 7;
export const API_KEY = 'rc-browser-api-key';
export const C_DRIVER = path.join(TARGET, 'ffi-tests', 'visitor_driver');
/** Why these tests cannot run (a missing build product), or undefined. */
export const missing = [BIN('glance-server'), C_DRIVER]
  .filter((f) => !fs.existsSync(f)).map((f) => `${f} is missing (tests/browser/run.sh builds it)`)[0];

/** The server's config: group 7 allows remote control; `olga` is an observer. */
export const CONFIG = `
[auth]
jwt_secret = "rc-browser-jwt-secret-0123456789abcdef"

[limits]
${LOOPBACK_LIMITS}

[[group]]
id = ${GROUP}
api_key = "${API_KEY}"
rc_allowed = true

[group.roles.observer]
view = true
remoteAssist = false

[group.users]
olga = "observer"
`;

/** POST /api/auth/token with a fresh login key for `user`: {token, username, remoteAssist, ...}. */
export async function agentToken(ready, user) {
  const loginkey = await signLoginKey({ apiKey: API_KEY, partnerId: GROUP, partnerUserId: user, expiresIn: 600 });
  const body = JSON.stringify({ partnerid: GROUP, partneruserid: user, loginkey });
  const url = new URL('/api/auth/token', ready.session_url);
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: 'POST', ca: ready.caPem, headers: { 'content-type': 'application/json' }, timeout: 10000,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text))
        : reject(new Error(`token for ${user}: ${res.statusCode} ${text}`))));
    });
    req.on('timeout', () => req.destroy(new Error('token request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The C visitor. `env` replaces variables of the test's environment (a value of undefined
 * removes it). d.send(cmd) writes a command line; d.next(name, pred) waits for the next event
 * named so (after the ones already consumed); d.result(cmd) for a command's result;
 * d.info() for GetSessionInfo.
 */
export function cVisitor(env, timeoutMs = 20000) {
  const merged = { ...process.env, RUST_LOG: 'warn', ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const d = lines(spawnChild(C_DRIVER, [], { stdio: ['pipe', 'pipe', 'pipe'], env: merged }));
  d.send = (cmd) => d.stdin.write(`${cmd}\n`);
  const consumed = new Set();
  const nextLine = (pred, what) => {
    let idx = -1;
    return waitForLine(d, (j) => {
      idx++;
      if (consumed.has(idx) || !pred(j)) return false;
      consumed.add(idx);
      return true;
    }, timeoutMs, what);
  };
  d.next = (name, pred = () => true) => nextLine((j) => j.event === name && pred(j), `${name} at the C visitor`);
  d.result = (cmd) => nextLine((j) => j.cmd === cmd && 'result' in j, `the result of ${cmd}`);
  d.info = async () => {
    d.send('info');
    return (await nextLine((j) => j.info, 'session info')).info;
  };
  /** Events named `name` seen so far (consumed or not). */
  d.seen = (name) => d.lines.map((l) => { try { return JSON.parse(l); } catch { return null; } })
    .filter((j) => j && j.event === name);
  return d;
}

/** init + start KEY at the C visitor, sharing the whole primary monitor ("main": the
 * driver has no window of its own to share); resolves when the session runs. */
export async function startVisitor(d, ready, key) {
  d.send(`init ${GROUP} ${ready.session_url} ${ready.ca_cert}`);
  await d.next('EventVisitorInitialized');
  d.send(`startmain ${key}`);
  await d.next('EventConnectedToSession');
}

/** Opens the viewer for `key` with `token` (as agent.js does: in the fragment). */
export async function openViewer(browser, ready, key, token, viewport) {
  const page = await newPage(browser, viewport);
  const u = new URL(ready.agent_url);
  u.searchParams.set('key', key);
  u.searchParams.set('group', String(GROUP));
  u.hash = `token=${encodeURIComponent(token)}`;
  await page.goto(u.toString(), { timeout: 20000 });
  await waitForViewer(page, (s) => s.state === 'joined' && s.frames > 0, 20000, 'the viewer joined with a picture');
  return page;
}

/** The viewer's remote-control badge and button as shown. */
export function rcView(page) {
  return page.evaluate(() => {
    const b = document.getElementById('rc');
    const a = document.getElementById('askrc');
    const shown = (el) => !el.hidden && el.getClientRects().length > 0;
    return {
      badge: b.dataset.rc, text: b.textContent, badgeShown: shown(b),
      askShown: shown(a), askDisabled: a.disabled, ...window.glanceViewer.rc,
    };
  });
}
