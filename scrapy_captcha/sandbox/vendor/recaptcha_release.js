/* Sandbox stand-in for https://www.gstatic.com/recaptcha/releases/<version>/recaptcha__<hl>.js,
   the script api.js / enterprise.js load. What it reproduces of the real one:

   - It adds render/execute/getResponse/reset/ready onto the grecaptcha object the loader
     created (property by property, as Closure's exported symbols do): code that only
     watches `window.grecaptcha = ...` sees an object without render.
   - It renders `.g-recaptcha` elements itself (render mode "onload") through its internal
     function, never through the public grecaptcha.render; "explicit" renders nothing;
     a sitekey as render mode creates a v3 client with an invisible badge.
   - Widget state lives in window.___grecaptcha_cfg.clients: client id -> an object under
     minified keys (renamed on every load, like between Google's releases) holding the
     container <div>, and a couple of levels down the parameters: sitekey, size, callback
     (a function, or the global name from data-callback), action, s, theme, and for v3
     the pending execute()'s 'promise-callback'. v2 ids count from 0; v3 ids from 100000.
   - Each widget gets an anchor iframe and a textarea named g-recaptcha-response, with id
     g-recaptcha-response for client 0 and g-recaptcha-response-<id> for the others.
   - getResponse(id) reads that widget's textarea; unknown ids throw like the real one.
   - v3 execute(sitekey) returns a promise that Google's server would fill: here, after a
     network round trip, with a token no site accepts (a bot's low score). v2 invisible
     execute(id) opens the challenge and waits for a human: here, nobody comes.
   It cannot mint tokens: those come from the (emulated) solving service. */
(function () {
  var w = window, d = document;
  var cfg = w.___grecaptcha_cfg = w.___grecaptcha_cfg || {};
  cfg.clients = cfg.clients || {};
  cfg.count = cfg.count || 0;
  cfg['anchor-ms'] = 20000;
  cfg['execute-ms'] = 30000;
  var src = (d.currentScript && d.currentScript.src) || '';
  var version = (/\/releases\/([^/]+)\//.exec(src) || [])[1] || 'sandbox';
  var api = w.__recaptcha_api || 'https://www.google.com/recaptcha/api2/';
  var enterprise = /\/enterprise\/$/.test(api);
  var root = w.grecaptcha = w.grecaptcha || {};
  var target = enterprise ? (root.enterprise = root.enterprise || {}) : root;
  var hl = ((/recaptcha__([a-z_]+)\.js/.exec(src) || [])[1] || 'en');

  // Minified property names, as a release's compiler picks them: the same for every copy of one
  // release, different for the next. A release per page load here, so no path can be hard-coded.
  var seed = 7;
  for (var i = 0; i < version.length; i++) seed = (seed * 31 + version.charCodeAt(i)) % 2147483647;
  function next() { seed = (seed * 48271) % 2147483647; return seed / 2147483647; }
  var used = {};
  function key() {
    var a = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', k;
    do {
      k = a.charAt(Math.floor(next() * a.length));
      if (next() < 0.7) k += a.charAt(Math.floor(next() * a.length));
    } while (used[k]);
    used[k] = true;
    return k;
  }
  var K = {id: key(), el: key(), widget: key(), params: key(), frame: key(), response: key(), misc: key(),
           extra: key(), state: key(), deep: key()};
  var deeper = next() < 0.5;  // the parameters sit two or three levels down, by release
  function rnd(n) { var s = ''; while (s.length < n) s += Math.random().toString(36).slice(2); return s.slice(0, n); }
  function isRendered(el) {
    for (var c in cfg.clients) if (cfg.clients[c][K.el] === el) return true;
    return false;
  }

  function attr(el, name) { var v = el.getAttribute('data-' + name); return v === null ? undefined : v; }
  function fromData(el) {
    var p = {};
    ['sitekey', 'theme', 'type', 'size', 'tabindex', 'callback', 'expired-callback', 'error-callback',
     'badge', 's', 'action', 'stoken', 'isolated'].forEach(function (n) { var v = attr(el, n); if (v !== undefined) p[n] = v; });
    return p;
  }
  function origin() { try { return btoa(location.origin + ':443').replace(/=+$/, '.'); } catch (e) { return ''; } }
  function anchorUrl(p) {
    return api + 'anchor?ar=1&k=' + encodeURIComponent(p.sitekey) + '&co=' + origin() + '&hl=' + hl + '&v=' + version +
      '&size=' + (p.size || 'normal') + (p.s ? '&s=' + encodeURIComponent(p.s) : '') + '&cb=' + rnd(12);
  }
  function textarea(id) {
    var ta = d.createElement('textarea');
    ta.id = id ? 'g-recaptcha-response-' + id : 'g-recaptcha-response';
    ta.name = 'g-recaptcha-response';
    ta.className = 'g-recaptcha-response';
    ta.style.cssText = 'width: 250px; height: 40px; border: 1px solid rgb(193, 193, 193); margin: 10px 25px; padding: 0px; resize: none; display: none;';
    return ta;
  }
  function frame(p, title) {
    var f = d.createElement('iframe');
    f.title = title;
    f.name = 'a-' + rnd(12);
    f.width = p.size === 'invisible' ? 256 : 304;
    f.height = p.size === 'invisible' ? 60 : 78;
    f.setAttribute('role', 'presentation');
    f.setAttribute('frameborder', '0');
    f.src = anchorUrl(p);
    return f;
  }
  function bframe(p) {
    var holder = d.createElement('div');
    holder.style.cssText = 'visibility: hidden; position: absolute; width: 100%; top: -10000px; left: 0px; right: 0px;';
    var f = d.createElement('iframe');
    f.title = 'recaptcha challenge expires in two minutes';
    f.name = 'c-' + rnd(12);
    f.src = api + 'bframe?hl=' + hl + '&v=' + version + '&k=' + encodeURIComponent(p.sitekey);
    holder.appendChild(f);
    (d.body || d.documentElement).appendChild(holder);
  }
  function store(id, container, p, anchor, ta) {
    var params = {};
    for (var n in p) params[n] = p[n];
    if (!params.size) params.size = 'normal';
    if (!params.theme) params.theme = 'light';
    var widget = {}, client = {};
    var holder = {};
    holder[K.params] = params;
    holder[K.frame] = anchor;
    holder[K.response] = {value: ta};
    if (deeper) { widget[K.deep] = holder; widget[K.state] = {size: params.size, z: 1}; }
    else { for (var h in holder) widget[h] = holder[h]; }
    client[K.id] = id;
    client[K.el] = container;
    client[K.widget] = widget;
    client[K.misc] = {count: cfg.count, ts: Date.now()};
    client[K.extra] = [container];
    cfg.clients[id] = client;
    return params;
  }
  function paramsOf(id) {
    var client = cfg.clients[id];
    if (!client) return null;
    var widget = client[K.widget];
    return deeper ? widget[K.deep][K.params] : widget[K.params];
  }
  function responseOf(id) {
    var client = cfg.clients[id];
    var widget = client[K.widget];
    return (deeper ? widget[K.deep][K.response] : widget[K.response]).value;
  }

  function renderInto(container, p) {
    if (typeof container === 'string') container = d.getElementById(container);
    if (!container || container.nodeType !== 1) throw new Error('reCAPTCHA placeholder element must be an element or id');
    if (isRendered(container)) throw new Error('reCAPTCHA has already been rendered in this element');
    var merged = fromData(container);
    for (var n in (p || {})) merged[n] = p[n];
    if (!merged.sitekey) throw new Error('Missing required parameters: sitekey');
    var id = cfg.count++;
    var inner = d.createElement('div');
    var ta = textarea(id), anchor = frame(merged, 'reCAPTCHA');
    if (merged.size === 'invisible') {
      var badge = d.createElement('div');
      badge.className = 'grecaptcha-badge';
      badge.setAttribute('data-style', merged.badge || 'bottomright');
      var logo = d.createElement('div');
      logo.className = 'grecaptcha-logo';
      logo.appendChild(anchor);
      badge.appendChild(logo);
      var err = d.createElement('div');
      err.className = 'grecaptcha-error';
      badge.appendChild(err);
      badge.appendChild(ta);
      inner.appendChild(badge);
    } else {
      inner.style.cssText = 'width: 304px; height: 78px;';
      var box = d.createElement('div');
      box.appendChild(anchor);
      inner.appendChild(box);
      inner.appendChild(ta);
    }
    container.appendChild(inner);
    bframe(merged);
    store(id, container, merged, anchor, ta);
    return id;
  }
  function renderV3(sitekey) {
    var id = 100000;
    while (cfg.clients[id]) id++;
    var container = d.createElement('div');
    var badge = d.createElement('div');
    badge.className = 'grecaptcha-badge';
    badge.setAttribute('data-style', 'bottomright');
    badge.style.cssText = 'width: 256px; height: 60px; display: block; position: fixed; bottom: 14px; right: -186px;';
    var logo = d.createElement('div');
    logo.className = 'grecaptcha-logo';
    var p = {sitekey: sitekey, size: 'invisible', badge: 'bottomright'};
    var anchor = frame(p, 'reCAPTCHA');
    logo.appendChild(anchor);
    badge.appendChild(logo);
    var ta = textarea(id);
    badge.appendChild(ta);
    container.appendChild(badge);
    (d.body || d.documentElement).appendChild(container);
    bframe(p);
    store(id, container, p, anchor, ta);
    return id;
  }
  function firstId() {
    var ids = Object.keys(cfg.clients);
    if (!ids.length) throw new Error('No reCAPTCHA clients exist.');
    return ids[0];
  }
  function known(id) {
    if (id === undefined || id === null) return firstId();
    if (!cfg.clients[id]) throw new Error('Invalid reCAPTCHA client id: ' + id);
    return id;
  }

  target.render = function (container, params) { return renderInto(container, params || {}); };
  target.getResponse = function (id) { return responseOf(known(id)).value; };
  target.reset = function (id) { responseOf(known(id)).value = ''; };
  target.execute = function (idOrKey, options) {
    if (typeof idOrKey === 'string' && isNaN(Number(idOrKey))) {
      var id = null;
      for (var c in cfg.clients) if (Number(c) >= 100000 && paramsOf(c).sitekey === idOrKey) id = c;
      if (id === null) return Promise.reject(new Error('Invalid site key or not loaded in api.js: ' + idOrKey));
      var params = paramsOf(id);
      return new Promise(function (resolve) {
        var done = false;
        params['promise-callback'] = function (token) {
          if (done) return;
          done = true;
          responseOf(id).value = token;
          resolve(token);
        };
        // Google's answer to a browser it scores as a bot.
        setTimeout(function () { params['promise-callback']('stand-in-low-score-' + rnd(24)); }, 400);
      });
    }
    known(idOrKey);  // v2 invisible: the challenge opens and waits for a person
    return undefined;
  };
  target.ready = function (f) { if (typeof f === 'function') setTimeout(f, 0); };

  function boot() {
    (cfg.render || []).forEach(function (mode) {
      if (mode === 'onload') {
        Array.prototype.forEach.call(d.querySelectorAll('.g-recaptcha'), function (el) {
          if (isRendered(el)) return;
          try { renderInto(el, {}); } catch (e) { if (w.console) console.error(e); }
        });
      } else if (mode !== 'explicit') {
        var exists = false;
        for (var c in cfg.clients) if (Number(c) >= 100000 && paramsOf(c).sitekey === mode) exists = true;
        if (!exists) renderV3(mode);
      }
    });
    cfg.render = [];
    var fns = cfg.fns || [];
    cfg.fns = [];
    fns.forEach(function (f) { try { f(); } catch (e) { if (w.console) console.error(e); } });
    var onload = cfg.onload || [];
    cfg.onload = [];
    onload.forEach(function (name) {
      var fn = w[name];
      if (typeof fn === 'function') { try { fn(); } catch (e) { if (w.console) console.error(e); } }
    });
  }
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', boot); else boot();
})();
