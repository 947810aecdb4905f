// GLANCE.Presence.Agent and GLANCE.Authorization (seed 003 /developer/presence/*), served as
// part of /agent/agent.js. The wire format is docs/PRESENCE.md; tokens are docs/AUTH.md.
(function () {
  'use strict';
  const G = (window.GLANCE = window.GLANCE || {});
  G.Presence = G.Presence || {};

  // ----- GLANCE.Authorization: the token every agent request carries -------------------------

  const TOKEN_KEY = 'glance.authorization';
  const auth = (G.Authorization = G.Authorization || {});

  /**
   * The service address: `explicit`, else GLANCE.Agent.webserver (agent.js, earlier in this
   * same file, sets it to the origin the script came from), read at each use so a page that
   * changes it is followed.
   */
  function serverBase(explicit) {
    const base = explicit || (G.Agent && G.Agent.webserver) || location.origin;
    return String(base).replace(/\/+$/, '').replace(/^(?!https?:\/\/)/, 'https://');
  }

  /** Stores a token (and its group) for the Presence API; kept in localStorage for reuse. */
  auth.setToken = function (token, groupid) {
    auth.token = token;
    auth.groupid = groupid ?? auth.groupid;
    try {
      localStorage.setItem(TOKEN_KEY, JSON.stringify({ token, groupid: auth.groupid }));
    } catch { /* storage may be unavailable */ }
  };

  auth.getToken = function () {
    if (auth.token) return auth.token;
    try {
      const s = JSON.parse(localStorage.getItem(TOKEN_KEY) || 'null');
      if (s && s.token) {
        auth.token = s.token;
        auth.groupid = s.groupid;
      }
    } catch { /* ignore */ }
    return auth.token || '';
  };

  /**
   * authorize({credentials: {partnerid, partneruserid, loginkey}, groupid, duration, onsuccess, onfail})
   * gets a token from the service and stores it.
   */
  auth.authorize = function (p) {
    const c = (p && p.credentials) || {};
    const body = {
      partnerid: c.partnerid ?? p.groupid,
      partneruserid: c.partneruserid,
      loginkey: c.loginkey,
      duration: p.duration ? Number(p.duration) : undefined,
    };
    fetch(`${serverBase(p.webserver)}/api/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => {
      if (!r.ok) throw new Error(r.status === 401 ? 'authorization' : `http ${r.status}`);
      const t = await r.json();
      auth.setToken(t.token, t.groupid);
      if (p.onsuccess) p.onsuccess(t);
    }).catch((e) => {
      if (p.onfail) p.onfail(e.message === 'authorization' ? 'authorization' : 'connection');
    });
  };

  /** The token to use: GLANCE.Authorization's, else GLANCE.Agent.authenticate's; or null. */
  async function currentAuth() {
    const t = auth.getToken();
    if (t) return { token: t, groupid: auth.groupid };
    if (G.Agent && typeof G.Agent.authorization === 'function') {
      try {
        return await G.Agent.authorization();
      } catch {
        return null;
      }
    }
    return null;
  }

  // ----- GLANCE.Presence.Agent ---------------------------------------------------------------

  /** new GLANCE.Presence.Agent({visitorid, groupid?, presenceserver?}) */
  function Agent(params) {
    const p = params || {};
    if (!p.visitorid && !p.uniqueid) throw new Error('GLANCE.Presence.Agent needs a visitorid');
    this.visitorid = p.visitorid || p.uniqueid;
    this.groupid = p.groupid;
    this.server = serverBase(p.presenceserver);
    this.ws = null;
  }

  Agent.prototype._request = async function (method, path, body, cb) {
    const fail = (reason) => cb && cb.onfail && cb.onfail(reason);
    const a = await currentAuth();
    if (!a) return fail('authorization');
    const group = this.groupid ?? a.groupid;
    const q = `groupid=${encodeURIComponent(group)}&visitorid=${encodeURIComponent(this.visitorid)}`;
    return fetch(`${this.server}${path}?${q}`, {
      method,
      headers: { Authorization: `Bearer ${a.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    }).then(async (r) => {
      let data = null;
      try { data = await r.json(); } catch { data = null; }
      if (r.status === 401) return fail('authorization');
      if (!r.ok) return fail((data && data.error) || `http ${r.status}`);
      if (cb && cb.onsuccess) cb.onsuccess(data);
    }).catch(() => fail('connection'));
  };

  /** lookupVisitor({onsuccess(visitordata), onfail(reason)}) */
  Agent.prototype.lookupVisitor = function (cb) {
    this._request('GET', '/lookupvisitor', null, cb);
  };

  /** signalVisitor({data, onsuccess, onfail}): a custom signal (the visitor's EventPresenceSignal). */
  Agent.prototype.signalVisitor = function (p) {
    const data = p && Object.prototype.hasOwnProperty.call(p, 'data') ? p.data : p;
    this._request('POST', '/signalvisitor', { mtype: 'signal', data }, p);
  };

  /** invokeVisitor({func, args, onsuccess, onfail}) */
  Agent.prototype.invokeVisitor = function (p) {
    this._request('POST', '/signalvisitor', { mtype: 'invoke', data: { func: p.func, args: p.args || {} } }, p);
  };

  /**
   * confirmVisitor({onsuccess(code, reply), onfail(reason)}): the confirmation step of seed 003
   * (presence_security, "Visitor Authentication"). The visitor's app is shown a few choices;
   * onsuccess gets the code to read out on the phone. Until the visitor picks it, invokes and
   * signals fail with `unconfirmed`; the outcome arrives through connect() as
   * this.onconfirm({status: "displayed"|"confirmed"|"failed"}). A wrong pick ends it: ask again.
   */
  Agent.prototype.confirmVisitor = function (p) {
    const cb = p || {};
    this._request('POST', '/signalvisitor', { mtype: 'confirm' }, {
      onsuccess: (d) => cb.onsuccess && cb.onsuccess(d && d.code, d),
      onfail: cb.onfail,
    });
  };

  /** connect(): events arrive as this.onvisitorconn, onpresence, onterms, ... (seed 003). */
  Agent.prototype.connect = function () {
    if (this.ws) return;
    const url = `${this.server.replace(/^http/, 'ws')}/ws/presence/agent`;
    const ws = new WebSocket(url);
    this.ws = ws;
    const hello = currentAuth();
    ws.onopen = () => hello.then((a) => ws.send(JSON.stringify({
      token: a ? a.token : '', groupid: this.groupid ?? (a && a.groupid), visitorid: this.visitorid,
    })));
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (!m || typeof m.event !== 'string' || !/^on[a-z]+$/.test(m.event)) return;
      const h = this[m.event];
      if (typeof h === 'function') {
        try { h.call(this, m.data); } catch (e) { console.error(e); }
      }
    };
    ws.onerror = () => {
      if (typeof this.onerror === 'function') this.onerror({ error: 'connection', detail: 'websocket error' });
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
    };
  };

  Agent.prototype.disconnect = function () {
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
  };

  G.Presence.Agent = Agent;
})();
