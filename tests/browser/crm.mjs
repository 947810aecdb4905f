// The agent side's test scaffolding: CRM pages served over http from two loopback origins (one
// on the group's allowed_origins, one not), a configured glance-server for them, the two login
// key signers (Rust `glance-loginkey`, JS `sdk/js/glance-loginkey.mjs`), and an HS256 minting
// helper for tokens the tests forge or let expire.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, ROOT, LOOPBACK_LIMITS, startServer } from './helpers.mjs';
import { signLoginKey } from '../../sdk/js/glance-loginkey.mjs';

export { signLoginKey };

export const JWT_SECRET = 'browser-test-jwt-secret-0123456789abcdef';
export const GROUP = 7; // the CRM's group: CRM A is on its allowed_origins
export const OTHER_GROUP = 8; // another group (wrong-group tokens)
export const API_KEYS = { [GROUP]: 'group-seven-api-key-for-tests', [OTHER_GROUP]: 'group-eight-api-key-for-tests' };
/** Misses one agent may make before its lookups are throttled (auth.lookup_burst; refilled at one a minute). */
export const LOOKUP_BURST = 40;

/** The config file of the test server: groups 7 and 8, roles, the CRM origin whitelisted. */
export function serverConfig(allowedOrigin) {
  return `
[auth]
jwt_secret = "${JWT_SECRET}"
lookup_burst = ${LOOKUP_BURST}
lookup_per_minute = 1
ip_lookup_burst = 100000
ip_lookup_per_minute = 100000
token_burst = 100000
token_per_minute = 100000

# Every test visitor, agent and browser of the suite comes from 127.0.0.1: the per-address
# budgets are raised (tests/attack checks the defaults).
[limits]
${LOOPBACK_LIMITS.trim()}

[[group]]
id = ${GROUP}
api_key = "${API_KEYS[GROUP]}"
allowed_origins = ["${allowedOrigin}"]
default_role = "agent"

[group.roles.observer]
view = true
remoteAssist = false

[group.roles.nobody]
view = false
remoteAssist = false

[group.users]
watcher = "observer"
banned = "nobody"

[[group]]
id = ${OTHER_GROUP}
api_key = "${API_KEYS[OTHER_GROUP]}"
require_visitor_token = true
allowed_origins = ["${allowedOrigin}"]
`;
}

/** A login key from the Rust signer (`glance-loginkey`). */
export function rustLoginKey(apiKey, partnerId, partnerUserId, expiresIn = 600) {
  const r = spawnSync(BIN('glance-loginkey'), ['--partner-id', String(partnerId),
    '--partner-user-id', partnerUserId, '--expires-in', String(expiresIn)],
  { encoding: 'utf8', timeout: 10000, env: { ...process.env, GLANCE_API_KEY: apiKey } });
  if (r.status !== 0) throw new Error(`glance-loginkey failed: ${r.stderr || r.error}`);
  return r.stdout.trim();
}

/** A login key for `user` of `group` (JS signer), valid for 10 minutes unless `expires` is given. */
export function loginKey(user, group = GROUP, expires = undefined) {
  return signLoginKey({ apiKey: API_KEYS[group], partnerId: group, partnerUserId: user, expires, expiresIn: 600 });
}

/** An HS256 JWT of `claims` signed with `secret`. */
export function mintJwt(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${crypto.createHmac('sha256', secret).update(head).digest('base64url')}`;
}

/** Claims of an agent token for `user` of `group`, `ttl` seconds from `iat` (now). */
export function agentClaims(user, group = GROUP, { ttl = 600, iatOffset = 0, aud = 'glance-agent', key } = {}) {
  const now = Math.floor(Date.now() / 1000) + iatOffset;
  return {
    iss: 'glance-server', aud, sub: user, grp: group, pid: group, role: 'agent', ra: true,
    name: '', iat: now, exp: now + ttl, ...(key ? { key } : {}),
  };
}

/**
 * The test CRM page: loads agent.js from `server` and records every event in
 * `window.events` ({name, data, t}; functions in the data become "[function]", and the last
 * lookupWaiting `cancel` and viewerOpened `close` are kept in window.cancels / window.closers).
 */
function crmPage(server) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Test CRM</title>
<script src="${server}/agent/agent.js"></script>
</head><body><h1>Test CRM</h1>
<script>
  window.events = [];
  window.cancels = [];
  window.closers = [];
  window.named = [];
  GLANCE.Agent.addEventListenerAll(function (name, data) {
    const copy = {};
    for (const [k, v] of Object.entries(data || {})) {
      copy[k] = typeof v === 'function' ? '[function]' : v;
    }
    if (name === 'lookupWaiting') window.cancels.push(data.cancel);
    if (name === 'viewerOpened') window.closers.push(data.close);
    window.events.push({ name, data: copy, t: Date.now() });
  });
  // Named listeners get (eventname, eventdata) too.
  for (const n of ['sessionEnded', 'lookupFound']) {
    GLANCE.Agent.addEventListener(n, function (name, data) { window.named.push([name, data.service]); });
  }
</script></body></html>`;
}

/** docs/AGENT.md's complete HTML example, pointed at `server`. */
export function docExample(server) {
  const md = fs.readFileSync(path.join(ROOT, 'docs/AGENT.md'), 'utf8');
  const m = /<!-- example: crm\.html -->\s*```html\n([\s\S]*?)```/.exec(md);
  if (!m) throw new Error('docs/AGENT.md has no "<!-- example: crm.html -->" html block');
  return m[1].replaceAll('https://glance.example.com', server);
}

/**
 * One CRM origin: an http server on 127.0.0.1 serving `/crm.html?server=...` (the test page),
 * `/example.html?server=...` (the documentation's example) and `/glance/loginkey` (the CRM
 * back end signing a login key for its signed-in agent, as docs/AGENT.md describes).
 */
export async function startCrm() {
  const srv = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const server = url.searchParams.get('server') || '';
    const html = (body) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (url.pathname === '/crm.html') return html(crmPage(server));
    if (url.pathname === '/example.html') return html(docExample(server));
    if (url.pathname === '/glance/loginkey') {
      const user = 'alice';
      const key = await signLoginKey({ apiKey: API_KEYS[GROUP], partnerId: GROUP, partnerUserId: user, expiresIn: 300 });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      return res.end(JSON.stringify({ partnerid: GROUP, partneruserid: user, loginkey: key }));
    }
    res.writeHead(404);
    return res.end('not found');
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${srv.address().port}`;
  return { origin, close: () => new Promise((r) => srv.close(r)) };
}

/** Starts the two CRM origins and a configured glance-server whitelisting the first. */
export async function startAgentWorld() {
  const crmA = await startCrm();
  const crmB = await startCrm();
  const srv = await startServer(serverConfig(crmA.origin));
  return { crmA, crmB, srv, server: srv.ready.session_url };
}
