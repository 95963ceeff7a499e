"""Playwright side: solve the captchas of a live page, in every frame.

    await page.add_init_script(INIT_SCRIPT)      # before navigation: captures what the DOM hides
    await page.goto(url)
    results = await solve_page(page, solver)

Also usable from scrapy-playwright as ``PageMethod(solve_page, solver=solver)``.

The init script wraps ``grecaptcha.render/execute``, ``grecaptcha.enterprise.*``,
``hcaptcha.render/setData`` and ``turnstile.render`` as soon as the vendors'
scripts define them, recording what the DOM does not show: the v3 action,
Turnstile's cData and chlPageData, hCaptcha's rqdata, and the callbacks as
function references. A v3 ``execute()`` returns a promise that
:func:`solve_page` resolves with the solved token. Callbacks are called by
reference, or by resolving a global name to a function: never with eval.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .model import CaptchaError, Challenge, Solution
from .solver import Solver

__all__ = ["INIT_SCRIPT", "PageResult", "solve_page", "add_init_script"]

INIT_SCRIPT = r"""
(() => {
  if (window.__scrapyCaptcha) return;
  const state = window.__scrapyCaptcha = {widgets: [], pending: {}, seq: 0, callbacks: {}};
  const keep = (fn) => { if (typeof fn !== 'function') return null; const id = 'cb' + (++state.seq); state.callbacks[id] = fn; return id; };
  const record = (entry) => { entry.id = 'w' + (++state.seq); state.widgets.push(entry); return entry; };
  const elementOf = (container) => typeof container === 'string'
      ? (document.getElementById(container.replace(/^#/, '')) || document.querySelector(container)) : container;
  const mark = (el, entry) => { if (el && el.setAttribute) el.setAttribute('data-scrapy-captcha', entry.id); };

  function wrapRecaptcha(g, enterprise) {
    if (!g || g.__scWrapped) return;
    g.__scWrapped = true;
    if (typeof g.render === 'function') {
      const render = g.render.bind(g);
      g.render = function (container, params) {
        params = params || {};
        const el = elementOf(container);
        const entry = record({vendor: 'recaptcha', enterprise, sitekey: params.sitekey || null,
          action: params.action || null, size: params.size || null, callback: keep(params.callback),
          callbackName: typeof params.callback === 'string' ? params.callback : null, s: params.s || null});
        mark(el, entry);
        entry.widgetId = render(container, params);
        return entry.widgetId;
      };
    }
    if (typeof g.execute === 'function') {
      const execute = g.execute.bind(g);
      g.execute = function (sitekeyOrId, options) {
        if (typeof sitekeyOrId === 'string' && /^6L/.test(sitekeyOrId)) {
          // v3: the action exists only here; the page gets our token through this promise.
          const entry = record({vendor: 'recaptcha', v3: true, enterprise, sitekey: sitekeyOrId,
            action: (options && options.action) || null});
          return new Promise((resolve, reject) => { state.pending[entry.id] = {resolve, reject}; });
        }
        return execute(sitekeyOrId, options);
      };
    }
    if (g.enterprise) wrapRecaptcha(g.enterprise, true);
  }

  function wrapHcaptcha(h) {
    if (!h || h.__scWrapped) return;
    h.__scWrapped = true;
    const render = h.render && h.render.bind(h);
    if (render) h.render = function (container, params) {
      params = params || {};
      const entry = record({vendor: 'hcaptcha', sitekey: params.sitekey || null, callback: keep(params.callback),
        callbackName: typeof params.callback === 'string' ? params.callback : null, size: params.size || null});
      mark(elementOf(container), entry);
      entry.widgetId = render(container, params);
      return entry.widgetId;
    };
    const setData = h.setData && h.setData.bind(h);
    if (setData) h.setData = function (widgetId, data) {
      const entry = state.widgets.find(w => w.vendor === 'hcaptcha' && w.widgetId === widgetId) || state.widgets.filter(w => w.vendor === 'hcaptcha').slice(-1)[0];
      if (entry && data && data.rqdata) entry.rqdata = data.rqdata;
      return setData(widgetId, data);
    };
  }

  function wrapTurnstile(t) {
    if (!t || t.__scWrapped) return;
    t.__scWrapped = true;
    const render = t.render && t.render.bind(t);
    if (render) t.render = function (container, params) {
      params = params || {};
      const entry = record({vendor: 'turnstile', sitekey: params.sitekey || null, action: params.action || null,
        cdata: params.cData || null, chlPageData: params.chlPageData || null, callback: keep(params.callback),
        callbackName: typeof params.callback === 'string' ? params.callback : null,
        fieldName: params['response-field-name'] || null});
      mark(elementOf(container), entry);
      entry.widgetId = render(container, params);
      return entry.widgetId;
    };
  }

  // The vendors' scripts assign window.grecaptcha etc.: wrap on assignment.
  for (const [name, wrap] of [['grecaptcha', g => wrapRecaptcha(g, false)], ['hcaptcha', wrapHcaptcha], ['turnstile', wrapTurnstile]]) {
    let value = window[name];
    if (value) wrap(value);
    try {
      Object.defineProperty(window, name, {configurable: true, enumerable: true,
        get() { return value; }, set(v) { value = v; try { wrap(v); } catch (e) {} }});
    } catch (e) {}
  }
})();
"""

# Runs in each frame: every widget, from the recorded calls and from the DOM.
_SCAN = r"""
() => {
  const state = window.__scrapyCaptcha || {widgets: [], callbacks: {}, pending: {}};
  const found = [];
  const seen = new Set();
  const fieldsIn = (el, names) => el ? Array.from(el.querySelectorAll('textarea, input'))
      .map(f => f.name).filter(n => n && names.some(p => n === p || n.startsWith(p + '-'))) : [];
  const scriptHas = (re) => Array.from(document.scripts).some(s => re.test(s.src || ''));
  const enterprise = scriptHas(/recaptcha\/enterprise\.js/) || !!(window.grecaptcha && window.grecaptcha.enterprise && scriptHas(/enterprise/));
  for (const w of state.widgets) {
    const el = document.querySelector('[data-scrapy-captcha="' + w.id + '"]');
    let sitekey = w.sitekey || (el && el.getAttribute('data-sitekey'));
    found.push(Object.assign({}, w, {sitekey, enterprise: w.enterprise || enterprise, recorded: true,
      fields: w.v3 ? [] : fieldsIn(el, ['g-recaptcha-response', 'h-captcha-response', 'cf-turnstile-response'].concat(w.fieldName ? [w.fieldName] : [])),
      callbackName: w.callbackName || (el && el.getAttribute('data-callback')) || null}));
    if (el) seen.add(el);
  }
  const kinds = [['.g-recaptcha', 'recaptcha'], ['.h-captcha, h-captcha', 'hcaptcha'], ['.cf-turnstile', 'turnstile']];
  for (const [selector, vendor] of kinds) {
    for (const el of document.querySelectorAll(selector)) {
      if (seen.has(el)) continue;
      seen.add(el);
      let sitekey = el.getAttribute('data-sitekey');
      if (!sitekey) continue;
      const realVendor = vendor === 'recaptcha' && /^0x4|^[123]x0/.test(sitekey) ? 'turnstile' : vendor;
      const id = 'd' + (++state.seq || 1);
      el.setAttribute('data-scrapy-captcha', id);
      const custom = el.getAttribute('data-response-field-name');
      found.push({id, vendor: realVendor, sitekey, recorded: false, enterprise,
        action: el.getAttribute('data-action'), cdata: el.getAttribute('data-cdata'), s: el.getAttribute('data-s'),
        size: el.getAttribute('data-size'), callbackName: el.getAttribute('data-callback'),
        fields: fieldsIn(el, [custom || 'g-recaptcha-response', 'h-captcha-response', 'cf-turnstile-response'])});
    }
  }
  return found;
}
"""

# Runs in the widget's frame: put the token in the widget's own fields, then call its callback.
_INJECT = r"""
([id, token]) => {
  const state = window.__scrapyCaptcha || {widgets: [], callbacks: {}, pending: {}};
  const done = {fields: [], callback: null};
  const pending = state.pending[id];
  if (pending) { pending.resolve(token); delete state.pending[id]; done.callback = 'execute promise'; return done; }
  const el = document.querySelector('[data-scrapy-captcha="' + id + '"]');
  const entry = state.widgets.find(w => w.id === id) || {};
  if (el) {
    for (const f of el.querySelectorAll('textarea, input')) {
      if (/(g-recaptcha|h-captcha|cf-turnstile)-response/.test(f.name || '') || (entry.fieldName && f.name === entry.fieldName)
          || (el.getAttribute('data-response-field-name') && f.name === el.getAttribute('data-response-field-name'))) {
        f.value = token; done.fields.push(f.name);
      }
    }
  }
  let fn = entry.callback ? state.callbacks[entry.callback] : null;
  let name = entry.callbackName || (el && el.getAttribute('data-callback'));
  if (!fn && name) {
    // A global function's name, maybe dotted: resolved by walking properties, never eval.
    fn = name.split('.').reduce((o, k) => (o == null ? undefined : o[k]), window);
  }
  if (typeof fn === 'function') { fn(token); done.callback = name || 'function'; }
  return done;
}
"""

_KIND = {"recaptcha": "recaptcha_v2", "hcaptcha": "hcaptcha", "turnstile": "turnstile"}


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


async def add_init_script(page_or_context: Any) -> None:
    """Install :data:`INIT_SCRIPT` on a Playwright page or browser context (before navigation)."""
    await page_or_context.add_init_script(INIT_SCRIPT)


def _challenge(widget: dict[str, Any], frame_url: str) -> Challenge:
    kind = _KIND[widget["vendor"]]
    if kind == "recaptcha_v2" and widget.get("v3"):
        kind = "recaptcha_v3"
    return Challenge(
        kind=kind,
        sitekey=widget.get("sitekey"),
        page_url=frame_url,
        blocking=True,
        enterprise=bool(widget.get("enterprise")),
        invisible=(widget.get("size") or "") == "invisible",
        action=widget.get("action"),
        data_s=widget.get("s"),
        cdata=widget.get("cdata"),
        chl_page_data=widget.get("chlPageData"),
        rqdata=widget.get("rqdata"),
        response_fields=tuple(widget.get("fields") or ()),
        evidence=("live page" + (", recorded call" if widget.get("recorded") else ", DOM widget"),),
    )


async def solve_page(page: Any, solver: Solver, *, settle: float = 0.0) -> list[PageResult]:
    """Find every widget in ``page`` and its frames, solve them concurrently, inject the tokens.

    Returns one :class:`PageResult` per widget (with a reason for any skipped).
    Raises the first :class:`CaptchaError` from the service after injecting
    every token that was solved; its ``code`` and ``reaction`` say what to do.
    """
    if settle:
        await asyncio.sleep(settle)
    found: list[tuple[Any, dict[str, Any], PageResult]] = []
    for frame in page.frames:
        try:
            widgets = await frame.evaluate(_SCAN)
        except Exception as exc:  # a detached or navigating frame
            found.append((frame, {}, PageResult("unknown", None, frame.url, reason=f"frame not readable: {exc}")))
            continue
        for widget in widgets:
            result = PageResult(_KIND.get(widget.get("vendor"), "unknown"), widget.get("sitekey"), frame.url)
            if widget.get("v3"):
                result.kind = "recaptcha_v3"
            if not widget.get("sitekey"):
                result.reason = "no sitekey"
            found.append((frame, widget, result))
    todo = [(frame, widget, result) for frame, widget, result in found if not result.reason]
    outcomes = await asyncio.gather(
        *(solver.solve(_challenge(widget, frame.url)) for frame, widget, _ in todo), return_exceptions=True
    )
    first_error: BaseException | None = None
    for (frame, widget, result), outcome in zip(todo, outcomes):
        if isinstance(outcome, BaseException):
            result.reason = str(outcome)
            first_error = first_error or outcome
            continue
        done = await frame.evaluate(_INJECT, [widget["id"], outcome.token])
        result.solved = True
        result.solution = outcome
        result.fields = list(done.get("fields") or [])
        result.callback = done.get("callback")
    if first_error is not None:
        if isinstance(first_error, CaptchaError):
            raise first_error
        raise first_error
    return [result for _, _, result in found]


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
