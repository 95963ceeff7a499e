"""Playwright side: solve the captchas of a live page, in every frame.

    await page.add_init_script(INIT_SCRIPT)      # optional, before navigation
    await page.goto(url)
    results = await solve_page(page, solver)

Also usable from scrapy-playwright as ``PageMethod(solve_page, solver=solver)``.

Widgets are found from the vendors' own live state, the way their scripts keep
it, so this works without the init script too (a page method runs after the
page loaded):

- reCAPTCHA: ``window.___grecaptcha_cfg.clients``, walked generically (the
  property names are minified and change between releases): each client's id,
  its parameters (sitekey, size, callback as a function or a global name, s,
  action) and its elements (the container, the ``g-recaptcha-response[-id]``
  textarea). Auto-rendered widgets never pass through ``grecaptcha.render``.
- hCaptcha: the checkbox iframes marked ``data-hcaptcha-widget-id`` (sitekey
  in their URL) and their ``h-captcha-response-<id>`` / ``g-recaptcha-response-<id>``
  textareas.
- Turnstile: the hidden ``cf-chl-widget-<id>_response`` inputs; the sitekey
  from the container, or from the widget's iframe URL (the iframe itself sits
  in a closed shadow root: Playwright still lists it as a frame).
- Widgets the vendor script did not render (``.g-recaptcha`` etc. with a
  sitekey): their markup.

The init script adds what only the page's calls show: the v3 action (and a
promise for each ``grecaptcha.execute()`` that :func:`solve_page` resolves),
Turnstile's cData and chlPageData, hCaptcha's rqdata, and callbacks passed as
function references to ``hcaptcha.render``/``turnstile.render`` (reCAPTCHA
keeps those in its client state, so they are reachable without it). It hooks
the vendors' objects property by property, since the real reCAPTCHA loader
creates ``window.grecaptcha`` bare and its release script adds ``render`` later.

Each widget gets its own token in its own field(s) and its own callback is
called once: by reference, or by resolving a global name to a function (never eval).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from .model import CaptchaError, Challenge, Solution


class ChallengeSolver(Protocol):
    """What solve_page solves with: a :class:`~scrapy_captcha.Solver`, or the crawl's own
    (:func:`~scrapy_captcha.crawl_solver`: its failover, budget and bookkeeping)."""

    async def solve(self, challenge: Challenge, identity: Any = None) -> Solution: ...


__all__ = ["INIT_SCRIPT", "PageResult", "solve_page", "find_widgets", "wait_for_widgets", "add_init_script"]

logger = logging.getLogger(__name__)

INIT_SCRIPT = r"""
(() => {
  if (window.__scrapyCaptcha) return;
  const state = window.__scrapyCaptcha = {widgets: [], pending: {}, seq: 0, callbacks: {}, actions: {}};
  const keep = (fn) => { if (typeof fn !== 'function') return null; const id = 'cb' + (++state.seq); state.callbacks[id] = fn; return id; };
  const record = (entry) => { entry.id = 'w' + (++state.seq); state.widgets.push(entry); return entry; };
  const hooked = new WeakMap();
  const hcaptchas = new WeakSet();

  // Wrap obj[name] now and whenever it is assigned later (the vendors define methods late).
  function hook(obj, name, wrap) {
    if (!obj || (typeof obj !== 'object' && typeof obj !== 'function')) return;
    const names = hooked.get(obj) || new Set();
    if (names.has(name)) return;
    names.add(name);
    hooked.set(obj, names);
    let wrapped = obj[name] === undefined ? undefined : wrap(obj[name]);
    try {
      Object.defineProperty(obj, name, {configurable: true, enumerable: true,
        get() { return wrapped; }, set(v) { wrapped = wrap(v); }});
    } catch (e) {}
  }
  const method = (make) => (fn) => typeof fn === 'function' && !fn.__scrapyCaptcha ? Object.assign(make(fn), {__scrapyCaptcha: true}) : fn;

  function hookRecaptcha(g, enterprise) {
    if (!g || hcaptchas.has(g) || g === window.hcaptcha) return g;  // hCaptcha's reCAPTCHA compatibility alias
    hook(g, 'render', method((render) => function (container, params) {
      const p = params || {};
      const widgetId = render.apply(this, arguments);
      record({vendor: 'recaptcha', enterprise, widgetId, sitekey: p.sitekey || null, action: p.action || null,
        size: p.size || null, s: p.s || null, callback: keep(p.callback),
        callbackName: typeof p.callback === 'string' ? p.callback : null});
      return widgetId;
    }));
    hook(g, 'execute', method((execute) => function (idOrKey, options) {
      if (typeof idOrKey === 'string' && isNaN(Number(idOrKey))) {
        // v3: the action exists only here; the page gets the solver's token through this promise.
        const entry = record({vendor: 'recaptcha', v3: true, enterprise, sitekey: idOrKey,
          action: (options && options.action) || null});
        return new Promise((resolve, reject) => { state.pending[entry.id] = {resolve, reject}; });
      }
      if (options && options.action) state.actions[String(idOrKey === undefined ? '' : idOrKey)] = options.action;
      return execute.apply(this, arguments);
    }));
    if (!enterprise) hook(g, 'enterprise', (ns) => hookRecaptcha(ns, true));
    return g;
  }

  function hookHcaptcha(h) {
    if (!h) return h;
    hcaptchas.add(h);
    hook(h, 'render', method((render) => function (container, params) {
      const p = params || {};
      const widgetId = render.apply(this, arguments);
      record({vendor: 'hcaptcha', widgetId, sitekey: p.sitekey || null, size: p.size || null,
        callback: keep(p.callback), callbackName: typeof p.callback === 'string' ? p.callback : null});
      return widgetId;
    }));
    hook(h, 'setData', method((setData) => function (widgetId, data) {
      const payload = (widgetId && typeof widgetId === 'object') ? widgetId : data;
      const id = (widgetId && typeof widgetId === 'object') ? null : widgetId;
      const entries = state.widgets.filter(w => w.vendor === 'hcaptcha');
      const entry = entries.find(w => id !== null && w.widgetId === id) || (id === null ? entries[0] : null);
      if (payload && payload.rqdata) {
        if (entry) entry.rqdata = payload.rqdata;
        else record({vendor: 'hcaptcha', widgetId: id, rqdata: payload.rqdata, dataOnly: true});
      }
      return setData.apply(this, arguments);
    }));
    return h;
  }

  function hookTurnstile(t) {
    if (!t) return t;
    hook(t, 'render', method((render) => function (container, params) {
      const p = params || {};
      const widgetId = render.apply(this, arguments);
      record({vendor: 'turnstile', widgetId, sitekey: p.sitekey || null, action: p.action || null,
        cdata: p.cData || null, chlPageData: p.chlPageData || null, callback: keep(p.callback),
        callbackName: typeof p.callback === 'string' ? p.callback : null,
        fieldName: p['response-field-name'] || null});
      return widgetId;
    }));
    return t;
  }

  for (const [name, wrap] of [['hcaptcha', hookHcaptcha], ['grecaptcha', (g) => hookRecaptcha(g, false)],
                              ['turnstile', hookTurnstile]]) {
    let value = window[name];
    try { if (value) wrap(value); } catch (e) {}
    try {
      Object.defineProperty(window, name, {configurable: true, enumerable: true,
        get() { return value; }, set(v) { value = v; try { wrap(v); } catch (e) {} }});
    } catch (e) {}
  }
})();
"""  # noqa: E501 (JavaScript, one statement a line)

# Shared by the scan and the injection (each runs in the widget's frame): where each
# widget's state, fields and callback are, from the vendors' live state and the DOM.
_LIB = r"""
  const S = window.__scrapyCaptcha || null;
  const recorded = S ? S.widgets : [];
  const RESPONSE_NAMES = ['g-recaptcha-response', 'h-captcha-response', 'cf-turnstile-response'];
  const isEl = (v) => !!v && typeof v === 'object' && v.nodeType === 1 && typeof v.querySelectorAll === 'function';
  const attr = (el, name) => (el && el.getAttribute) ? el.getAttribute(name) : null;
  const sameId = (a, b) => a !== null && a !== undefined && b !== null && b !== undefined &&
      (String(a) === String(b) || String(a) === 'cf-chl-widget-' + b || 'cf-chl-widget-' + a === String(b));
  const recordedFor = (vendor, id) => recorded.find(r => r.vendor === vendor && !r.v3 && !r.dataOnly && sameId(r.widgetId, id)) || null;
  const hashParams = (src) => {
    const out = {};
    const part = (src || '').split('#')[1] || '';
    for (const piece of ((src || '').split('#')[0].split('?')[1] || '').split('&').concat(part.split('&'))) {
      if (!piece) continue;
      const i = piece.indexOf('=');
      try { out[decodeURIComponent(i < 0 ? piece : piece.slice(0, i))] = decodeURIComponent(i < 0 ? '' : piece.slice(i + 1)); } catch (e) {}
    }
    return out;
  };
  const global = (name) => {
    // A global function's name, maybe dotted: resolved by walking properties, never eval.
    if (typeof name !== 'string' || !name.trim()) return null;
    const fn = name.trim().split('.').reduce((o, k) => (o == null ? undefined : o[k]), window);
    return typeof fn === 'function' ? fn : null;
  };

  // Breadth-first over the vendor's plain data: the first object holding a string sitekey, and the elements met.
  function walk(root, depth) {
    const out = {params: null, elements: []};
    const seen = new Set();
    let level = [root];
    for (let i = 0; i <= depth && level.length; i++) {
      const next = [];
      for (const obj of level) {
        if (!obj || typeof obj !== 'object' || seen.has(obj)) continue;
        seen.add(obj);
        if (isEl(obj)) { out.elements.push(obj); continue; }
        if (obj === window || obj.nodeType || obj.window === obj) continue;
        let keys;
        try { keys = Object.keys(obj); } catch (e) { continue; }
        try { if (!out.params && typeof obj.sitekey === 'string') out.params = obj; } catch (e) {}
        for (const k of keys.slice(0, 300)) {
          let v;
          try { v = obj[k]; } catch (e) { continue; }
          if (v && typeof v === 'object') next.push(v);
        }
      }
      level = next;
    }
    return out;
  }

  function recaptchaClients() {
    const cfg = window.___grecaptcha_cfg;
    const clients = cfg && cfg.clients;
    const out = [];
    if (!clients || typeof clients !== 'object') return out;
    for (const cid of Object.keys(clients)) {
      const info = walk(clients[cid], 5);
      if (!info.params) continue;
      const expected = Number(cid) === 0 ? 'g-recaptcha-response' : 'g-recaptcha-response-' + cid;
      let fields = [];
      for (const el of info.elements) {
        if (el.matches && el.matches('textarea[name="g-recaptcha-response"]')) fields.push(el);
        for (const ta of el.querySelectorAll('textarea[name="g-recaptcha-response"]')) fields.push(ta);
      }
      fields = Array.from(new Set(fields));
      const exact = fields.filter(f => f.id === expected);
      if (exact.length) fields = exact;
      if (!fields.length) { const ta = document.getElementById(expected); if (ta) fields = [ta]; }
      const container = info.elements.find(el => fields.some(f => el !== f && el.contains(f)))
          || info.elements.find(el => el.tagName !== 'IFRAME' && el.tagName !== 'TEXTAREA') || null;
      const anchor = info.elements.find(el => el.tagName === 'IFRAME')
          || (container && container.querySelector('iframe[src*="/recaptcha/"]'));
      out.push({cid, params: info.params, fields, container, anchorSrc: anchor ? (anchor.getAttribute('src') || '') : ''});
    }
    return out;
  }

  function hcaptchaWidgets() {
    const out = [];
    for (const frame of document.querySelectorAll('iframe[data-hcaptcha-widget-id]')) {
      const src = frame.getAttribute('src') || '';
      const q = hashParams(src);
      if (q.frame && q.frame !== 'checkbox') continue;
      const wid = frame.getAttribute('data-hcaptcha-widget-id');
      const container = frame.closest('.h-captcha, [data-sitekey]') || frame.parentElement;
      let fields = ['h-captcha-response-' + wid, 'g-recaptcha-response-' + wid]
          .map(id => document.getElementById(id)).filter(Boolean);
      if (!fields.length && container) {
        fields = Array.from(container.querySelectorAll('textarea[name="h-captcha-response"], textarea[name="g-recaptcha-response"]'));
      }
      out.push({wid, q, frame, container, fields});
    }
    return out;
  }

  function turnstileWidgets() {
    const out = [];
    for (const input of document.querySelectorAll('input[id^="cf-chl-widget-"][id$="_response"]')) {
      out.push({wid: input.id.slice(0, -'_response'.length), container: input.parentElement, fields: [input]});
    }
    for (const r of recorded) {
      if (r.vendor === 'turnstile' && r.widgetId && !out.some(w => sameId(w.wid, r.widgetId))) {
        out.push({wid: String(r.widgetId), container: null, fields: []});
      }
    }
    return out;
  }

  const vendorOfKey = (key, fallback) => /^(0x4|[123]x0)/.test(key || '') ? 'turnstile'
      : /^[0-9a-f]{8}-[0-9a-f]{4}-/i.test(key || '') ? 'hcaptcha' : fallback;

  function markOf(el) {
    let mark = el.getAttribute('data-scrapy-captcha');
    if (!mark) {
      window.__scrapyCaptchaMarks = (window.__scrapyCaptchaMarks || 0) + 1;
      mark = 'm' + window.__scrapyCaptchaMarks;
      el.setAttribute('data-scrapy-captcha', mark);
    }
    return mark;
  }

  function fieldsIn(el, extra) {
    if (!el) return [];
    const names = RESPONSE_NAMES.concat(extra ? [extra] : []);
    return Array.from(el.querySelectorAll('textarea, input')).filter(f => f.name && names.includes(f.name));
  }

  // Everything needed to put a token in and call back, for one widget reference.
  function locate(ref) {
    if (ref.recorded) {
      const entry = recorded.find(r => r.id === ref.recorded);
      const client = recaptchaClients().find(c => Number(c.cid) >= 10000 && entry && c.params.sitekey === entry.sitekey);
      return {fields: client ? client.fields : [], pending: S && S.pending[ref.recorded], label: 'execute promise'};
    }
    if (ref.vendor === 'recaptcha' && ref.cid !== undefined) {
      const client = recaptchaClients().find(c => c.cid === ref.cid);
      if (!client) return {fields: []};
      const entry = recordedFor('recaptcha', ref.cid);
      let fn = entry && entry.callback ? S.callbacks[entry.callback] : null, label = fn ? 'function' : null;
      const own = client.params.callback;
      if (!fn && typeof own === 'function') { fn = own; label = 'function'; }
      if (!fn && typeof own === 'string' && global(own)) { fn = global(own); label = own; }
      const named = attr(client.container, 'data-callback');
      if (!fn && global(named)) { fn = global(named); label = named; }
      return {fields: client.fields, fn, label};
    }
    if (ref.vendor === 'hcaptcha' && ref.wid) {
      const w = hcaptchaWidgets().find(x => x.wid === ref.wid);
      if (!w) return {fields: []};
      const entry = recordedFor('hcaptcha', ref.wid);
      let fn = entry && entry.callback ? S.callbacks[entry.callback] : null, label = fn ? 'function' : null;
      for (const name of [entry && entry.callbackName, attr(w.container, 'data-callback')]) {
        if (!fn && global(name)) { fn = global(name); label = name; }
      }
      return {fields: w.fields, fn, label, frame: w.frame};
    }
    if (ref.vendor === 'turnstile' && ref.wid) {
      const w = turnstileWidgets().find(x => sameId(x.wid, ref.wid));
      if (!w) return {fields: []};
      const entry = recordedFor('turnstile', ref.wid);
      let fn = entry && entry.callback ? S.callbacks[entry.callback] : null, label = fn ? 'function' : null;
      for (const name of [entry && entry.callbackName, attr(w.container, 'data-callback')]) {
        if (!fn && global(name)) { fn = global(name); label = name; }
      }
      return {fields: w.fields, fn, label};
    }
    if (ref.mark) {
      const el = document.querySelector('[data-scrapy-captcha="' + ref.mark + '"]');
      if (!el) return {fields: []};
      // A widget frame left without its script (a saved page): its fields sit a level or two up.
      let box = el;
      if (el.tagName === 'IFRAME') {
        box = el.parentElement;
        for (let i = 0; i < 4 && box && !box.querySelector('textarea[name="g-recaptcha-response"]'); i++) box = box.parentElement;
        if (!box) return {fields: []};
      }
      const named = attr(box, 'data-callback');
      const fn = global(named);
      return {fields: fieldsIn(box, attr(box, 'data-response-field-name')), fn, label: fn ? named : null};
    }
    return {fields: []};
  }
"""  # noqa: E501 (JavaScript, one statement a line)

# Runs in each frame: every widget, with how it can be answered.
_SCAN = "() => {" + _LIB + r"""
  const found = [];
  const claimed = [];
  const filled = (fields) => fields.length > 0 && fields.every(f => !!f.value);
  const scriptHas = (re) => Array.from(document.scripts).some(s => re.test(s.src || ''));
  const enterprisePage = scriptHas(/\/recaptcha\/enterprise\.js/);

  const clients = recaptchaClients();
  const v3Asked = new Set(recorded.filter(r => r.v3).map(r => r.sitekey));
  for (const c of clients) {
    const p = c.params;
    const v3 = Number(c.cid) >= 10000;
    claimed.push(c.container, ...c.fields);
    if (v3 && v3Asked.has(p.sitekey)) continue;  // answered through its execute() calls below
    const entry = recordedFor('recaptcha', c.cid);
    const loc = locate({vendor: 'recaptcha', cid: c.cid});
    const apiHost = (() => { try { return new URL(c.anchorSrc, location.href).hostname; } catch (e) { return null; } })();
    found.push({ref: {vendor: 'recaptcha', cid: c.cid}, vendor: 'recaptcha', v3, widgetId: c.cid,
      sitekey: p.sitekey, size: typeof p.size === 'string' ? p.size : null,
      action: (typeof p.action === 'string' && p.action) || (entry && entry.action) || (S && S.actions[c.cid]) || null,
      s: typeof p.s === 'string' ? p.s : null,
      enterprise: /\/recaptcha\/enterprise\//.test(c.anchorSrc) || !!(entry && entry.enterprise) || (!c.anchorSrc && enterprisePage),
      apiDomain: apiHost && /recaptcha\.net$/.test(apiHost) ? apiHost : null,
      fields: c.fields.map(f => f.name), answered: filled(c.fields),
      callback: v3 ? null : (loc.label || null), needsExecute: v3, rendered: true});
  }
  for (const r of recorded) {
    if (!r.v3 || !(S && S.pending[r.id])) continue;
    const loc = locate({recorded: r.id});
    found.push({ref: {recorded: r.id}, vendor: 'recaptcha', v3: true, widgetId: null, sitekey: r.sitekey,
      action: r.action, enterprise: !!r.enterprise || enterprisePage, fields: loc.fields.map(f => f.name),
      callback: 'execute promise', answered: false, rendered: true});
  }

  for (const w of hcaptchaWidgets()) {
    claimed.push(w.container, w.frame, ...w.fields);
    const entry = recordedFor('hcaptcha', w.wid);
    const data = recorded.find(r => r.vendor === 'hcaptcha' && r.rqdata && sameId(r.widgetId, w.wid));
    const loc = locate({vendor: 'hcaptcha', wid: w.wid});
    found.push({ref: {vendor: 'hcaptcha', wid: w.wid}, vendor: 'hcaptcha', widgetId: w.wid,
      sitekey: w.q.sitekey || attr(w.container, 'data-sitekey') || (entry && entry.sitekey) || null,
      size: w.q.size || attr(w.container, 'data-size') || (entry && entry.size) || null,
      rqdata: (data && data.rqdata) || null, fields: w.fields.map(f => f.name),
      answered: filled(w.fields) || !!attr(w.frame, 'data-hcaptcha-response'), callback: loc.label || null, rendered: true});
  }

  for (const w of turnstileWidgets()) {
    claimed.push(w.container, ...w.fields);
    const entry = recordedFor('turnstile', w.wid);
    const c = w.container;
    const loc = locate({vendor: 'turnstile', wid: w.wid});
    found.push({ref: {vendor: 'turnstile', wid: w.wid}, vendor: 'turnstile', widgetId: w.wid,
      sitekey: (entry && entry.sitekey) || attr(c, 'data-sitekey') || null,
      action: (entry && entry.action) || attr(c, 'data-action') || null,
      cdata: (entry && entry.cdata) || attr(c, 'data-cdata') || null,
      chlPageData: (entry && entry.chlPageData) || null, size: attr(c, 'data-size'),
      fields: w.fields.map(f => f.name), answered: filled(w.fields), callback: loc.label || null, rendered: true});
  }

  // Markup no vendor script rendered (not loaded, failed, or not yet run).
  const taken = claimed.filter(Boolean);
  // Markup that is, or wraps, a found widget's container, field or frame is that widget.
  const isClaimed = (el) => taken.some(t => t === el || el.contains(t));
  for (const el of document.querySelectorAll('.g-recaptcha[data-sitekey], .h-captcha[data-sitekey], .cf-turnstile[data-sitekey]')) {
    if (isClaimed(el)) continue;
    const sitekey = el.getAttribute('data-sitekey');
    if (!sitekey) continue;
    const base = el.classList.contains('g-recaptcha') ? 'recaptcha' : el.classList.contains('h-captcha') ? 'hcaptcha' : 'turnstile';
    const vendor = vendorOfKey(sitekey, base);
    const fields = fieldsIn(el, attr(el, 'data-response-field-name'));
    const mark = markOf(el);
    const loc = locate({mark});
    found.push({ref: {mark}, vendor, v3: false, widgetId: null, sitekey, size: attr(el, 'data-size'),
      action: attr(el, 'data-action'), cdata: attr(el, 'data-cdata'), s: attr(el, 'data-s'),
      enterprise: vendor === 'recaptcha' && enterprisePage, fields: fields.map(f => f.name),
      answered: filled(fields), callback: loc.label || null, rendered: false});
    taken.push(el);
  }
  // reCAPTCHA anchor frames no client owns (a saved page: the rendered markup without api.js).
  for (const frame of document.querySelectorAll('iframe[src*="/recaptcha/api2/anchor"], iframe[src*="/recaptcha/enterprise/anchor"]')) {
    if (taken.some(t => t === frame || t.contains(frame))) continue;
    const src = frame.getAttribute('src') || '';
    const q = hashParams(src);
    if (!q.k) continue;
    const mark = markOf(frame);
    const loc = locate({mark});
    found.push({ref: {mark}, vendor: 'recaptcha', v3: false, widgetId: null, sitekey: q.k, size: q.size || null,
      s: q.s || null, enterprise: /\/recaptcha\/enterprise\//.test(src), fields: loc.fields.map(f => f.name),
      answered: filled(loc.fields), callback: loc.label || null, rendered: false});
    taken.push(frame, ...loc.fields);
  }
  return found;
}
"""  # noqa: E501 (JavaScript, one statement a line)

# Runs in the widget's frame: the token into the widget's own fields, then its callback, once.
_INJECT = "([ref, token]) => {" + _LIB + r"""
  const loc = locate(ref);
  const done = {fields: [], callback: null, error: null};
  for (const f of loc.fields || []) {
    if (f.tagName === 'TEXTAREA') f.textContent = token;
    f.value = token;
    done.fields.push(f.name);
  }
  if (loc.frame) loc.frame.setAttribute('data-hcaptcha-response', token);  // where hCaptcha mirrors a passed widget
  if (loc.pending) {
    loc.pending.resolve(token);
    delete S.pending[ref.recorded];
    done.callback = loc.label;
    return done;
  }
  if (loc.fn) {
    try { loc.fn(token); } catch (e) { done.error = String(e && e.message || e); }
    done.callback = loc.label;
  }
  return done;
}
"""

_KIND = {"recaptcha": "recaptcha_v2", "hcaptcha": "hcaptcha", "turnstile": "turnstile"}

# The vendors' own widget frames: nothing of the site's runs there.
_VENDOR_FRAME = re.compile(
    r"^https?://(?:[\w-]+\.)*(?:google\.com|recaptcha\.net)/recaptcha/(?:api2|enterprise)/"
    r"|^https?://(?:[\w-]+\.)*hcaptcha\.com/captcha/"
    r"|^https?://challenges\.cloudflare\.com/cdn-cgi/challenge-platform/"
)
# Turnstile's widget iframe: .../turnstile/if/ov2/av0/rcv<n>/[0/]<widget id>/<sitekey>/...
_TURNSTILE_FRAME = re.compile(r"/turnstile/if/ov\d+/av\d+/rcv\d*/(?:\d+/)?([0-9a-z]+)/"
                              r"(0x[0-9A-Za-z_-]+|[123]x0[0-9A-Za-z_-]+)/")


@dataclass
class PageResult:
    """One widget found in the page, and what was done with it."""

    kind: str
    sitekey: str | None
    frame_url: str
    solved: bool = False
    fields: list[str] = field(default_factory=list)
    callback: str | None = None
    reason: str = ""
    solution: Solution | None = field(default=None, repr=False)
    #: The vendor's own id for the widget (reCAPTCHA client id, hCaptcha/Turnstile widget id).
    widget_id: str | None = None
    action: str | None = None
    #: What was (or would be) sent to the service for this widget.
    challenge: Challenge | None = field(default=None, repr=False)


@dataclass
class _Found:
    frame: Any
    widget: dict[str, Any]
    result: PageResult


async def add_init_script(page_or_context: Any) -> None:
    """Install :data:`INIT_SCRIPT` on a Playwright page or browser context (before navigation)."""
    await page_or_context.add_init_script(INIT_SCRIPT)


def _page_url(frame: Any) -> str:
    """The URL the widget was shown on: about:blank/srcdoc frames inherit their parent's."""
    while frame is not None and not frame.url.startswith(("http:", "https:")) and frame.parent_frame is not None:
        frame = frame.parent_frame
    return frame.url if frame is not None else ""


def _challenge(widget: dict[str, Any], page_url: str) -> Challenge:
    kind = _KIND[widget["vendor"]]
    if kind == "recaptcha_v2" and widget.get("v3"):
        kind = "recaptcha_v3"
    return Challenge(
        kind=kind,
        sitekey=widget.get("sitekey"),
        page_url=page_url,
        blocking=True,
        enterprise=bool(widget.get("enterprise")),
        invisible=(widget.get("size") or "") == "invisible",
        action=widget.get("action"),
        data_s=widget.get("s"),
        cdata=widget.get("cdata"),
        chl_page_data=widget.get("chlPageData"),
        rqdata=widget.get("rqdata"),
        api_domain=widget.get("apiDomain"),
        response_fields=tuple(widget.get("fields") or ()),
        evidence=("live page: " + ("vendor widget state" if widget.get("rendered") else "unrendered markup"),),
    )


def _why_not(widget: dict[str, Any]) -> str:
    """Why a found widget is not worth a solve ('' when it is)."""
    if not widget.get("sitekey"):
        return "no sitekey"
    if widget.get("answered"):
        return "already answered: its response field holds a token"
    if widget.get("needsExecute"):
        return ("reCAPTCHA v3: no pending grecaptcha.execute() to answer (with the init script installed "
                "before navigation, the page's execute() calls wait for the solver)")
    if not widget.get("rendered") and not widget.get("fields") and not widget.get("callback"):
        return "widget not rendered (its script did not run): no response field or callback to take a token"
    return ""


async def _scan_frame(frame: Any) -> list[dict[str, Any]]:
    try:
        widgets = await frame.evaluate(_SCAN)
    except Exception as exc:  # a detached, navigating or error frame
        logger.debug("frame %s not readable: %s", frame.url, exc)
        return []
    # A Turnstile widget's sitekey may only show in its iframe's URL (the iframe is in a closed shadow root).
    by_id = {}
    for child in frame.child_frames:
        match = _TURNSTILE_FRAME.search(child.url)
        if match:
            by_id[match.group(1)] = match.group(2)
    for widget in widgets:
        if widget["vendor"] == "turnstile" and not widget.get("sitekey") and widget.get("widgetId"):
            short = str(widget["widgetId"]).removeprefix("cf-chl-widget-")
            widget["sitekey"] = by_id.get(short)
    return widgets


async def _scan(page: Any) -> list[_Found]:
    frames = [f for f in page.frames if not _VENDOR_FRAME.match(f.url)]
    scanned = await asyncio.gather(*(_scan_frame(frame) for frame in frames))
    found: list[_Found] = []
    for frame, widgets in zip(frames, scanned, strict=True):
        for widget in widgets:
            kind = _KIND.get(widget.get("vendor", ""), "unknown")
            if widget.get("v3"):
                kind = "recaptcha_v3"
            widget_id = widget.get("widgetId")
            result = PageResult(kind, widget.get("sitekey"), frame.url, callback=None,
                                widget_id=None if widget_id is None else str(widget_id),
                                action=widget.get("action"), reason=_why_not(widget))
            if widget.get("vendor") in _KIND:
                result.challenge = _challenge(widget, _page_url(frame))
            found.append(_Found(frame, widget, result))
    return found


async def find_widgets(page: Any) -> list[PageResult]:
    """Every captcha widget in ``page`` and its frames, without solving anything.

    Each :class:`PageResult` says where the widget is; ``reason`` is set for a
    widget :func:`solve_page` would leave alone, and why.
    """
    return [f.result for f in await _scan(page)]


async def wait_for_widgets(page: Any, count: int = 1, *, timeout: float = 10.0) -> list[PageResult]:
    """Wait (bounded) until ``page`` shows ``count`` widgets :func:`solve_page` can answer; the widgets found.

    Vendor scripts load asynchronously and render after the page's load event
    may have fired; this polls the live page (every 100 ms) instead of guessing a delay.
    Returns what it found at the deadline if fewer showed up.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await find_widgets(page)
        if sum(1 for w in found if not w.reason) >= count or loop.time() >= deadline:
            return found
        await asyncio.sleep(0.1)


async def solve_page(page: Any, solver: ChallengeSolver, *, settle: float = 0.0) -> list[PageResult]:
    """Find every widget in ``page`` and its frames, solve them concurrently, inject the tokens.

    Returns one :class:`PageResult` per widget (with a reason for any skipped).
    Raises the first :class:`CaptchaError` from the service after injecting
    every token that was solved; its ``code`` and ``reaction`` say what to do.
    """
    if settle:
        await asyncio.sleep(settle)
    found = await _scan(page)

    async def one(item: _Found) -> None:
        result = item.result
        solution = await solver.solve(result.challenge or _challenge(item.widget, _page_url(item.frame)))
        result.solution = solution
        try:
            done = await item.frame.evaluate(_INJECT, [item.widget["ref"], solution.token])
        except Exception as exc:  # the page navigated or the frame went away meanwhile
            result.reason = f"token solved but the widget's frame was gone: {exc}"
            return
        result.solved = True
        result.fields = list(done.get("fields") or [])
        result.callback = done.get("callback")
        if done.get("error"):
            result.reason = f"the page's callback raised: {done['error']}"

    todo = [item for item in found if not item.result.reason]
    outcomes = await asyncio.gather(*(one(item) for item in todo), return_exceptions=True)
    first_error: BaseException | None = None
    for item, outcome in zip(todo, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            item.result.reason = str(outcome)
            first_error = first_error or outcome
    if first_error is not None:
        if isinstance(first_error, CaptchaError):
            raise first_error
        raise first_error
    return [item.result for item in found]


#: Request meta key the middleware sets on a request it re-renders in the browser:
#: plain data, ``{"include_page": bool, "init": <the request's own init callback>}``.
META_BROWSER = "_captcha_browser"


async def prepare_page(page: Any, request: Any) -> None:
    """scrapy-playwright page init callback: the request's own one, then :data:`INIT_SCRIPT`."""
    from scrapy.utils.misc import load_object

    own = (request.meta.get(META_BROWSER) or {}).get("init")
    if own:
        await load_object(own)(page, request)
    await page.add_init_script(INIT_SCRIPT)
