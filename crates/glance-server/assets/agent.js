// GLANCE.Agent: the Browser Agent API (seed 001) for agent-side web applications (a CRM page).
// Served by glance-server at /agent/agent.js; docs/AGENT.md shows how to integrate it.
//
//   authenticate({loginkey, partnerid, partneruserid})  login key -> authorization token
//   lookupSession(key, wait)                             GET /api/agent/lookup (polls with wait)
//   joinSession(key, params)                             lookupSession + openAgentJoinURL
//   openAgentJoinURL(url, params)                        opens the viewer window at url
//   openViewer(key, params)                              opens the viewer for key (no lookup)
//   cancelLookup(), addEventListener(name, fn), addEventListenerAll(fn)
//
// Agent events (service "agent") are fired here; screenshare events (service "screenshare")
// come from the viewer window, which posts them to this page's origin (and to no other).
// Plain JavaScript, no build step, no dependencies.
(function () {
  'use strict';

  if (typeof window === 'undefined') return;
  const GLANCE = (window.GLANCE = window.GLANCE || {});
  if (GLANCE.Agent && GLANCE.Agent.implementation === 'glance-rs') return; // loaded twice

  const VERSION = '0.1.0';
  const KEY_RE = /^[A-Za-z0-9._-]{1,63}$/;
  /** "800x800 window with no title or menu bar" (seed 001). */
  const DEFAULT_FEATURES = 'popup=yes,width=800,height=800,menubar=no,toolbar=no,location=no,status=no';
  /** A token is renewed this long before it expires. */
  const TOKEN_MARGIN_SECS = 60;
  /** How often open viewer windows are checked for having been closed. */
  const CLOSED_POLL_MS = 250;
  /** Events a viewer window may report. */
  const SCREENSHARE_EVENTS = new Set([
    'connecting', 'connected', 'screen', 'stats', 'conndrop', 'sessionEnded', 'paused', 'rc', 'agents',
  ]);
  /** Seed-001 statuses of sessionEnded used here. */
  const FAIL_UNAUTHORIZED = 18;
  const FAIL_NO_SESSION = 19;
  const FAIL_UNKNOWN = 21;
  const CANT_CONNECT = 32;

  /** The origin this script was loaded from: the default service address. */
  const scriptOrigin = (() => {
    try {
      const src = document.currentScript && document.currentScript.src;
      return src ? new URL(src).origin : '';
    } catch (e) {
      return '';
    }
  })();

  // ----- events ------------------------------------------------------------------------------

  const listeners = new Map(); // event name -> [handler]
  const allListeners = [];

  function call(handler, name, data) {
    try {
      handler(name, data);
    } catch (e) {
      // One broken handler must not keep the others from hearing the event.
      setTimeout(() => { throw e; });
    }
  }

  /** Calls the handlers of `name`, then the handlers of every event: handler(name, data). */
  function fire(name, data) {
    for (const h of (listeners.get(name) || []).slice()) call(h, name, data);
    for (const h of allListeners.slice()) call(h, name, data);
  }

  function addEventListener(name, handler) {
    if (typeof name !== 'string' || typeof handler !== 'function') {
      throw new TypeError('GLANCE.Agent.addEventListener(eventName, handler)');
    }
    if (!listeners.has(name)) listeners.set(name, []);
    listeners.get(name).push(handler);
  }

  function addEventListenerAll(handler) {
    if (typeof handler !== 'function') throw new TypeError('GLANCE.Agent.addEventListenerAll(handler)');
    allListeners.push(handler);
  }

  /** Removes a handler added with either function (not in seed 001; for pages that reuse one). */
  function removeEventListener(name, handler) {
    if (typeof name === 'function') {
      const i = allListeners.indexOf(name);
      if (i >= 0) allListeners.splice(i, 1);
      return;
    }
    const list = listeners.get(name) || [];
    const i = list.indexOf(handler);
    if (i >= 0) list.splice(i, 1);
  }

  // ----- errors ------------------------------------------------------------------------------

  /** An Error with a `reason`, the same word the matching event carries. */
  function agentError(reason, message) {
    const e = new Error(`GLANCE.Agent: ${message}`);
    e.reason = reason;
    return e;
  }

  function httpError(status) {
    if (status === 401 || status === 403) {
      return agentError('unauthorized', 'the Glance service refused the credentials');
    }
    if (status === 429) return agentError('throttled', 'too many requests; try again later');
    if (status === 400) return agentError('badrequest', 'the Glance service refused the request as malformed');
    return agentError('error', `the Glance service answered HTTP ${status}`);
  }

  /**
   * A failed fetch: either the service cannot be reached, or it answered without letting this
   * page read the answer (CORS: this page's origin is not on the group's allowed_origins).
   * An opaque request tells the two apart.
   */
  async function networkError(server) {
    try {
      await fetch(`${server}/healthz`, { mode: 'no-cors', credentials: 'omit', cache: 'no-store' });
    } catch (e) {
      return agentError('error', `the Glance service at ${server} could not be reached`);
    }
    return agentError('unauthorized', 'the Glance service refused this page (is its origin allowed for the group?)');
  }

  // ----- credentials -------------------------------------------------------------------------

  let credentials = null; // {partnerid, partneruserid, loginkey}
  let account = null; // the answer of POST /api/auth/token for `credentials`
  let accountPromise = null; // the exchange in progress

  function server() {
    return String(api.webserver || scriptOrigin || 'https://www.glance.net').replace(/\/+$/, '');
  }

  function validAccount() {
    return account && account.expires - TOKEN_MARGIN_SECS > Date.now() / 1000 ? account : null;
  }

  /** The authorization token for the credentials: cached until shortly before it expires. */
  function getAccount(renew = false) {
    if (!credentials) {
      return Promise.reject(agentError('notauthenticated', 'call GLANCE.Agent.authenticate first'));
    }
    if (!renew && validAccount()) return Promise.resolve(account);
    if (!renew && accountPromise) return accountPromise;
    const creds = credentials;
    const base = server();
    const p = (async () => {
      let r;
      try {
        r = await fetch(`${base}/api/auth/token`, {
          method: 'POST',
          mode: 'cors',
          credentials: 'omit',
          cache: 'no-store',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(creds),
        });
      } catch (e) {
        throw await networkError(base);
      }
      if (r.status !== 200) throw httpError(r.status);
      const j = await r.json().catch(() => null);
      if (!j || typeof j.token !== 'string' || typeof j.expires !== 'number') {
        throw agentError('error', 'the Glance service sent a malformed token answer');
      }
      if (creds === credentials) account = j;
      return j;
    })();
    accountPromise = p;
    const settle = () => {
      if (accountPromise === p) accountPromise = null;
    };
    p.then(settle, settle);
    return p;
  }

  /**
   * Stores the agent's credentials and exchanges the login key for an authorization token
   * (in the background: the returned Promise resolves with {username, partnerid,
   * partneruserid, groupid, role, remoteAssist, expires} or rejects with an Error whose
   * `reason` is "unauthorized", "throttled" or "error"; nothing needs to wait for it).
   */
  function authenticate(c) {
    if (!c || typeof c !== 'object') {
      throw new TypeError('GLANCE.Agent.authenticate({loginkey, partnerid, partneruserid})');
    }
    const pid = typeof c.partnerid === 'string' && /^\s*\d{1,10}\s*$/.test(c.partnerid)
      ? Number(c.partnerid) : c.partnerid;
    if (!Number.isInteger(pid) || pid < 0 || pid > 0xFFFFFFFF) {
      throw new TypeError('GLANCE.Agent.authenticate: partnerid must be the numeric partner (group) id');
    }
    if (typeof c.partneruserid !== 'string' || c.partneruserid === '') {
      throw new TypeError('GLANCE.Agent.authenticate: partneruserid must be a non-empty string');
    }
    if (typeof c.loginkey !== 'string' || c.loginkey === '') {
      throw new TypeError('GLANCE.Agent.authenticate: loginkey must be a non-empty string');
    }
    credentials = { partnerid: pid, partneruserid: c.partneruserid, loginkey: c.loginkey.trim() };
    account = null;
    accountPromise = null;
    const p = getAccount().then((a) => ({
      username: a.username,
      partnerid: a.partnerid,
      partneruserid: a.partneruserid,
      groupid: a.groupid,
      role: a.role,
      remoteAssist: a.remoteAssist,
      expires: a.expires,
    }));
    p.catch(() => {}); // callers need not handle it; the next lookup reports the failure
    return p;
  }

  // ----- lookups -----------------------------------------------------------------------------

  const lookups = []; // in progress, oldest first

  /** One GET /api/agent/lookup. A 401 with a cached token renews the token once. */
  async function lookupOnce(lk, renew = false) {
    const acct = await getAccount(renew);
    if (lk.done) throw agentError('canceled', 'the lookup was canceled');
    const base = server();
    lk.abort = typeof AbortController === 'function' ? new AbortController() : null;
    let r;
    try {
      r = await fetch(`${base}/api/agent/lookup?key=${encodeURIComponent(lk.ssnkey)}`, {
        mode: 'cors',
        credentials: 'omit',
        cache: 'no-store',
        headers: { Authorization: `Bearer ${acct.token}` },
        signal: lk.abort ? lk.abort.signal : undefined,
      });
    } catch (e) {
      if (lk.done) throw agentError('canceled', 'the lookup was canceled');
      r = await networkError(base);
    }
    // Refused: the token may come from a server process that has restarted since (a server
    // that cannot tell the token's group refuses a page's request without CORS headers, so
    // this is also the "unauthorized" of a failed fetch). Get a new token, once.
    if (!renew && (r.status === 401 || r.reason === 'unauthorized')) {
      if (account === acct) account = null;
      return lookupOnce(lk, true);
    }
    if (r instanceof Error) throw r;
    if (r.status !== 200) throw httpError(r.status);
    const j = await r.json().catch(() => null);
    if (!j || typeof j.found !== 'boolean') throw agentError('error', 'the Glance service sent a malformed lookup answer');
    return j;
  }

  /** The delay before the next attempt: the seed's 3 s for the first 15 s, then 5 s. */
  function nextInterval(plannedAt) {
    const fixed = Number(api.lookupInterval);
    if (api.lookupInterval != null && Number.isFinite(fixed) && fixed > 0) return fixed;
    return plannedAt < 15000 ? 3000 : 5000;
  }

  /**
   * Looks up session `key`. Resolves with the lookupFound data ({ssnkey, groupid,
   * agentjoinurl, service}), or `{}` when `wait` is false and there is no such session.
   * With `wait` (the default) it tries for GLANCE.Agent.lookupTimeout ms (45 s), firing
   * lookupWaiting before every attempt. Rejects (an Error with a `reason`) on errors, the
   * timeout ("timedout", after lookupFailed) and cancelation ("canceled", after lookupCanceled).
   */
  function lookupSession(key, wait = true) {
    const ssnkey = String(key == null ? '' : key).trim();
    wait = wait === undefined ? true : Boolean(wait);
    let resolve;
    let reject;
    const promise = new Promise((a, b) => {
      resolve = a;
      reject = b;
    });
    const lk = { ssnkey, done: false, abort: null, timer: null };
    const finish = (ok, value) => {
      if (lk.done) return;
      lk.done = true;
      clearTimeout(lk.timer);
      const i = lookups.indexOf(lk);
      if (i >= 0) lookups.splice(i, 1);
      if (lk.abort) lk.abort.abort();
      if (ok) resolve(value);
      else reject(value);
    };
    const failed = (err) => {
      const data = { service: 'agent', ssnkey, reason: err.reason };
      if (err.reason === 'unauthorized' || err.reason === 'notauthenticated') data.status = FAIL_UNAUTHORIZED;
      fire('lookupFailed', data);
      finish(false, err);
    };
    lk.cancel = () => {
      if (lk.done) return false;
      fire('lookupCanceled', { service: 'agent', ssnkey });
      finish(false, agentError('canceled', 'the lookup was canceled'));
      return true;
    };
    lookups.push(lk);

    const timeout = Number(api.lookupTimeout) >= 0 ? Number(api.lookupTimeout) : 45000;
    const start = Date.now();
    let plannedAt = 0; // when the current attempt was due, in ms from the start

    const scheduleNext = () => {
      const next = plannedAt + nextInterval(plannedAt);
      if (next > timeout) {
        failed(agentError('timedout', `no session ${ssnkey} started within ${Math.round(timeout / 1000)} s`));
        return;
      }
      plannedAt = next;
      lk.timer = setTimeout(attempt, Math.max(0, start + next - Date.now()));
    };

    async function attempt() {
      if (lk.done) return;
      if (wait) {
        fire('lookupWaiting', { service: 'agent', ssnkey, cancel: lk.cancel });
        if (lk.done) return; // a handler canceled it
      }
      let res;
      try {
        res = await lookupOnce(lk);
      } catch (err) {
        if (lk.done) return;
        // While waiting, an unreachable service is one missed attempt, not the end.
        if (wait && err.reason === 'error') return scheduleNext();
        return failed(err);
      }
      if (lk.done) return;
      if (res.found) {
        const data = {
          service: 'agent',
          ssnkey: String(res.ssnkey || ssnkey),
          groupid: res.groupid,
          agentjoinurl: String(res.agentjoinurl || ''),
        };
        fire('lookupFound', data);
        finish(true, { ...data });
        return;
      }
      if (!wait) {
        finish(true, {});
        return;
      }
      scheduleNext();
    }

    if (!KEY_RE.test(ssnkey)) {
      Promise.resolve().then(() => failed(agentError('invalidkey', 'a session key is 1 to 63 letters, digits, ".", "-" or "_"')));
    } else {
      Promise.resolve().then(attempt);
    }
    return promise;
  }

  /** Cancels the most recent lookup in progress (lookupCanceled). Returns whether there was one. */
  function cancelLookup() {
    const lk = lookups[lookups.length - 1];
    return lk ? lk.cancel() : false;
  }

  // ----- viewer windows ----------------------------------------------------------------------

  const viewers = new Map(); // WindowProxy -> {origin, ssnkey}
  let closedTimer = null;

  function watchClosed() {
    for (const [win, v] of viewers) {
      if (win.closed) {
        viewers.delete(win);
        fire('viewerClosed', { service: 'agent', ssnkey: v.ssnkey });
      }
    }
    if (viewers.size === 0) {
      clearInterval(closedTimer);
      closedTimer = null;
    }
  }

  window.addEventListener('message', (ev) => {
    const v = viewers.get(ev.source);
    if (!v || ev.origin !== v.origin) return;
    const m = ev.data;
    if (!m || typeof m !== 'object' || m.glance !== 'agent-viewer' || !SCREENSHARE_EVENTS.has(m.name)) return;
    const data = m.data && typeof m.data === 'object' ? { ...m.data } : {};
    data.service = 'screenshare';
    fire(m.name, data);
  });

  /** Opens `url` (a URL) in the viewer window; the Promise resolves with the Window. */
  function openWindow(url, params, ssnkey) {
    const p = params && typeof params === 'object' ? params : {};
    const fragment = new URLSearchParams(url.hash.slice(1));
    fragment.set('opener', window.location.origin);
    url.hash = fragment.toString();
    let win = null;
    try {
      win = window.open(url.href, p.windowName || '_blank', p.windowFeatures == null ? DEFAULT_FEATURES : String(p.windowFeatures));
    } catch (e) {
      win = null;
    }
    if (!win) {
      fire('popupblocked', { service: 'agent', ssnkey });
      return Promise.reject(agentError('popupblocked', 'the browser blocked the viewer window'));
    }
    viewers.set(win, { origin: url.origin, ssnkey });
    if (!closedTimer) closedTimer = setInterval(watchClosed, CLOSED_POLL_MS);
    fire('viewerOpened', { service: 'agent', ssnkey, close: () => win.close() });
    return Promise.resolve(win);
  }

  /**
   * Opens the viewer at `url` (typically a lookup's agentjoinurl, which carries its own join
   * ticket). Resolves with the viewer Window; rejects (after popupblocked) when the browser
   * blocks it.
   */
  function openAgentJoinURL(url, params) {
    let u;
    try {
      u = new URL(String(url), window.location.href);
    } catch (e) {
      return Promise.reject(agentError('invalidurl', 'openAgentJoinURL needs a URL'));
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      return Promise.reject(agentError('invalidurl', 'openAgentJoinURL needs an http(s) URL'));
    }
    return openWindow(u, params, u.searchParams.get('key') || '');
  }

  /** A sessionEnded for a viewer that could not be opened (and the Error to reject with). */
  function notOpened(ssnkey, err) {
    const status = err.reason === 'unauthorized' || err.reason === 'notauthenticated' ? FAIL_UNAUTHORIZED
      : err.reason === 'error' ? CANT_CONNECT
        : err.reason === 'notfound' ? FAIL_NO_SESSION : FAIL_UNKNOWN;
    fire('sessionEnded', { service: 'screenshare', ssnkey, status, iserror: true, reason: err.reason });
    return err;
  }

  /**
   * Opens the viewer for session `key` without a lookup. With credentials (authenticate) the
   * viewer gets this agent's token; without, the viewer asks the agent to sign in (or, on a
   * development server, uses the development token).
   */
  function openViewer(key, params) {
    const ssnkey = String(key == null ? '' : key).trim();
    if (!KEY_RE.test(ssnkey)) {
      return Promise.reject(agentError('invalidkey', 'a session key is 1 to 63 letters, digits, ".", "-" or "_"'));
    }
    const open = (acct) => {
      const u = new URL(`${server()}/agent`);
      u.searchParams.set('key', ssnkey);
      if (acct) {
        u.searchParams.set('group', String(acct.groupid));
        u.hash = new URLSearchParams({ token: acct.token }).toString();
      }
      return openWindow(u, params, ssnkey);
    };
    if (!credentials) return open(null);
    // A cached token opens the window at once, inside the click that asked for it (popup
    // blockers allow windows only there); otherwise the token is fetched first.
    const cached = validAccount();
    if (cached) return open(cached);
    return getAccount().then(open, (err) => Promise.reject(notOpened(ssnkey, err)));
  }

  /**
   * Looks up session `key` (waiting for it to start unless params.wait is false) and opens
   * the viewer on lookupFound. Resolves with the viewer Window.
   */
  function joinSession(key, params) {
    const p = params && typeof params === 'object' ? params : {};
    return lookupSession(key, p.wait === undefined ? true : Boolean(p.wait)).then((found) => {
      if (!found || !found.agentjoinurl) {
        const ssnkey = String(key == null ? '' : key).trim();
        fire('lookupFailed', { service: 'agent', ssnkey, reason: 'notfound' });
        throw agentError('notfound', `there is no session ${ssnkey}`);
      }
      return openAgentJoinURL(found.agentjoinurl, p);
    });
  }

  const api = {
    /** The Glance service address: by default the origin this script was loaded from. */
    webserver: scriptOrigin || 'https://www.glance.net',
    /** How long lookupSession(key, true) waits for a session, in ms (seed 001: 45 s). */
    lookupTimeout: 45000,
    /** Fixed ms between lookups, or null for the seed's schedule (3 s for 15 s, then 5 s). */
    lookupInterval: null,
    authenticate,
    joinSession,
    openViewer,
    openAgentJoinURL,
    lookupSession,
    cancelLookup,
    addEventListener,
    addEventListenerAll,
    removeEventListener,
    /**
     * The authorization of authenticate(): Promise of {token, groupid, expires}. Not in seed
     * 001; GLANCE.Presence.Agent uses it when GLANCE.Authorization holds no token.
     */
    authorization: () => getAccount().then((a) => ({ token: a.token, groupid: a.groupid, expires: a.expires })),
    version: VERSION,
    implementation: 'glance-rs',
  };
  GLANCE.Agent = api;
})();
