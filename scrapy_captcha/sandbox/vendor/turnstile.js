/* Sandbox stand-in for https://challenges.cloudflare.com/turnstile/v0/api.js.
   What it reproduces of the real script:

   - window.turnstile with render/execute/reset/remove/getResponse/isExpired/ready; widget
     state stays inside the script's closure (nothing global to walk).
   - Unless render=explicit, it renders every `.cf-turnstile` element itself (not through the
     public turnstile.render), reading data-sitekey, data-action, data-cdata, data-callback
     (a global name), data-response-field(-name)...
   - render(container, params) takes an element or a CSS selector and returns the widget id
     "cf-chl-widget-<5 chars>". The iframe (challenges.cloudflare.com/.../turnstile/if/ov2/
     av0/rcv/<id>/<sitekey>/<theme>/fbE/new/<size>/auto/) sits in a *closed* shadow root, so
     the page's DOM cannot see it; the hidden input (id cf-chl-widget-<id>_response, name
     cf-turnstile-response or data-response-field-name) stays in the light DOM, inside the
     container, where forms pick it up.
   - getResponse(id) answers from the widget's response (here: its input); unknown id: undefined.
   It cannot mint tokens: those come from the (emulated) solving service. */
(function () {
  var w = window, d = document;
  var src = (d.currentScript && d.currentScript.src) || '';
  var q = {};
  (src.split('#')[0].split('?')[1] || '').split('&').forEach(function (p) {
    if (!p) return;
    var kv = p.split('=');
    q[decodeURIComponent(kv[0]).replace(/^amp;|^#038;/, '')] = decodeURIComponent(kv[1] || '');
  });
  var widgets = [];  // closure state: {id, el, params, input}
  var DATA = {sitekey: 'sitekey', action: 'action', cdata: 'cData', callback: 'callback',
              'expired-callback': 'expired-callback', 'error-callback': 'error-callback', theme: 'theme',
              size: 'size', 'response-field': 'response-field', 'response-field-name': 'response-field-name',
              language: 'language', appearance: 'appearance', retry: 'retry'};

  function short() {
    var a = 'abcdefghijklmnopqrstuvwxyz0123456789', s = '';
    for (var i = 0; i < 5; i++) s += a.charAt(Math.floor(Math.random() * a.length));
    return s;
  }
  function find(id) {
    if (id === undefined || id === null) return widgets[0];
    for (var i = 0; i < widgets.length; i++) {
      if (widgets[i].id === id || widgets[i].id === 'cf-chl-widget-' + id) return widgets[i];
    }
    return undefined;
  }
  function render(container, params) {
    var el = typeof container === 'string' ? d.querySelector(container) : container;
    if (!el || el.nodeType !== 1) throw new Error('[Cloudflare Turnstile] Unable to find a container for ' + container + '.');
    var p = {};
    for (var name in DATA) {
      var v = el.getAttribute('data-' + name);
      if (v !== null) p[DATA[name]] = v;
    }
    for (var k in (params || {})) p[k] = params[k];
    if (!p.sitekey) throw new Error('[Cloudflare Turnstile] Invalid or missing type for parameter "sitekey", expected "string".');
    var short_id = short();
    var id = 'cf-chl-widget-' + short_id;
    var host = d.createElement('div');
    el.appendChild(host);
    var shadow = host.attachShadow({mode: 'closed'});
    var frame = d.createElement('iframe');
    frame.id = id;
    frame.title = 'Widget containing a Cloudflare security challenge';
    frame.src = 'https://challenges.cloudflare.com/cdn-cgi/challenge-platform/h/b/turnstile/if/ov2/av0/rcv/' + short_id +
      '/' + encodeURIComponent(p.sitekey) + '/' + (p.theme || 'auto') + '/fbE/new/' + (p.size || 'normal') + '/auto/';
    frame.style.cssText = 'border: none; overflow: hidden; width: 300px; height: 65px;';
    shadow.appendChild(frame);
    var input = null;
    if (String(p['response-field']) !== 'false') {
      input = d.createElement('input');
      input.type = 'hidden';
      input.name = p['response-field-name'] || 'cf-turnstile-response';
      input.id = id + '_response';
      el.appendChild(input);
    }
    widgets.push({id: id, el: el, params: p, input: input});
    return id;
  }

  w.turnstile = {
    render: function (container, params) { return render(container, params); },
    execute: function (container) { return undefined; },  // waits for the challenge: nobody here
    reset: function (id) { var widget = find(id); if (widget && widget.input) widget.input.value = ''; },
    remove: function (id) {
      var widget = find(id);
      if (!widget) return;
      if (widget.input) widget.input.remove();
      widgets.splice(widgets.indexOf(widget), 1);
    },
    getResponse: function (id) { var widget = find(id); return widget && widget.input ? widget.input.value : undefined; },
    isExpired: function () { return false; },
    ready: function (f) { if (typeof f === 'function') setTimeout(f, 0); },
    implicitRender: function () { boot(true); }
  };

  function boot(rendersOnly) {
    if (q.render !== 'explicit') {
      Array.prototype.forEach.call(d.querySelectorAll('.cf-turnstile'), function (el) {
        if (el.querySelector('input[id^="cf-chl-widget-"]') || widgets.some(function (x) { return x.el === el; })) return;
        try { render(el, {}); } catch (e) { if (w.console) console.error(e); }
      });
    }
    if (!rendersOnly && q.onload && typeof w[q.onload] === 'function') w[q.onload]();
  }
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', function () { boot(false); });
  else setTimeout(function () { boot(false); }, 0);
})();
