/* Sandbox stand-in for https://js.hcaptcha.com/1/api.js (also hcaptcha.com/1/api.js).
   What it reproduces of the real script:

   - window.hcaptcha with render/execute/reset/remove/getResponse/getRespKey/setData; widget
     state stays inside the script's closure (nothing global to walk).
   - Unless render=explicit, it renders every `.h-captcha` element itself (not through the
     public hcaptcha.render), reading data-sitekey, data-callback (a global name), data-size...
   - Each widget: a checkbox iframe on newassets.hcaptcha.com whose URL fragment carries
     id=<widget id> and sitekey=<key>, marked data-hcaptcha-widget-id and
     data-hcaptcha-response; textareas g-recaptcha-response-<id> (name g-recaptcha-response,
     left out with recaptchacompat=off) and h-captcha-response-<id> (name h-captcha-response);
     a hidden challenge iframe appended to <body>. Widget ids are random, 10-12 characters.
   - recaptchacompat (on by default) makes window.grecaptcha point at hcaptcha when no
     reCAPTCHA is loaded.
   - getResponse(id) answers from the widget's response (mirrored in data-hcaptcha-response
     and the h-captcha-response textarea; here read from the textarea); no widget: throws.
   - execute() opens the challenge and waits for a person: here, nobody comes.
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
  var compat = q.recaptchacompat !== 'off';
  var version = Math.random().toString(16).slice(2, 9);
  var widgets = [];  // closure state: {id, el, params, checkbox, textareas, rqdata}

  function wid() {
    var s = '';
    var n = 10 + Math.floor(Math.random() * 3);
    while (s.length < n) s += Math.random().toString(36).slice(2);
    return s.slice(0, n);
  }
  function byId(id) {
    if (id === undefined || id === null) {
      if (!widgets.length) throw new Error('[hCaptcha] No hCaptcha exists.');
      return widgets[0];
    }
    for (var i = 0; i < widgets.length; i++) if (widgets[i].id === id) return widgets[i];
    throw new Error('[hCaptcha] invalid captcha id: ' + id);
  }
  function frameUrl(kind, id, p) {
    return 'https://newassets.hcaptcha.com/captcha/v1/' + version + '/static/hcaptcha.html#frame=' + kind +
      '&id=' + id + '&host=' + encodeURIComponent(location.hostname) + '&sentry=true' +
      '&reportapi=https%3A%2F%2Faccounts.hcaptcha.com&recaptchacompat=' + (compat ? 'true' : 'off') +
      '&custom=false&hl=' + (q.hl || 'en') + '&tplinks=on&sitekey=' + encodeURIComponent(p.sitekey) +
      '&theme=' + (p.theme || 'light') + (p.size ? '&size=' + p.size : '') +
      '&origin=' + encodeURIComponent(location.origin);
  }
  function render(container, params) {
    var el = typeof container === 'string' ? d.getElementById(container.replace(/^#/, '')) : container;
    if (!el || el.nodeType !== 1) throw new Error('[hCaptcha] render: invalid container \'' + container + '\'.');
    var p = {};
    ['sitekey', 'theme', 'size', 'tabindex', 'callback', 'expired-callback', 'chalexpired-callback',
     'error-callback', 'open-callback', 'close-callback'].forEach(function (n) {
      var v = el.getAttribute('data-' + n);
      if (v !== null) p[n] = v;
    });
    for (var k in (params || {})) p[k] = params[k];
    if (!p.sitekey) throw new Error('[hCaptcha] Missing sitekey - https://docs.hcaptcha.com/configuration#jsapi');
    var id = wid();
    var checkbox = d.createElement('iframe');
    checkbox.src = frameUrl('checkbox', id, p);
    checkbox.setAttribute('tabindex', p.tabindex || '0');
    checkbox.setAttribute('frameborder', '0');
    checkbox.setAttribute('scrolling', 'no');
    checkbox.title = 'Widget containing checkbox for hCaptcha security challenge';
    checkbox.setAttribute('data-hcaptcha-widget-id', id);
    checkbox.setAttribute('data-hcaptcha-response', '');
    checkbox.style.cssText = 'width: 303px; height: 78px; overflow: hidden;';
    el.appendChild(checkbox);
    var names = compat ? ['g-recaptcha-response', 'h-captcha-response'] : ['h-captcha-response'];
    var textareas = names.map(function (name) {
      var ta = d.createElement('textarea');
      ta.id = name + '-' + id;
      ta.name = name;
      ta.style.display = 'none';
      el.appendChild(ta);
      return ta;
    });
    var holder = d.createElement('div');
    holder.style.cssText = 'visibility: hidden; position: absolute; top: -10000px;';
    var challenge = d.createElement('iframe');
    challenge.src = frameUrl('challenge', id, p);
    challenge.title = 'Main content of the hCaptcha challenge';
    holder.appendChild(challenge);
    (d.body || d.documentElement).appendChild(holder);
    widgets.push({id: id, el: el, params: p, checkbox: checkbox, textareas: textareas, rqdata: null});
    return id;
  }
  function response(widget) {
    var ta = widget.textareas[widget.textareas.length - 1];
    return ta ? ta.value : '';
  }

  w.hcaptcha = {
    render: function (container, params) { return render(container, params); },
    execute: function (id, options) {
      byId(id);
      if (options && options.async) return new Promise(function () {});  // resolves when a person passes
      return undefined;
    },
    reset: function (id) {
      var widget = byId(id);
      widget.textareas.forEach(function (ta) { ta.value = ''; });
      widget.checkbox.setAttribute('data-hcaptcha-response', '');
    },
    remove: function (id) {
      var widget = byId(id);
      widget.checkbox.remove();
      widget.textareas.forEach(function (ta) { ta.remove(); });
      widgets.splice(widgets.indexOf(widget), 1);
    },
    getResponse: function (id) { return response(byId(id)); },
    getRespKey: function (id) { byId(id); return ''; },
    setData: function (id, data) {
      var widget = typeof id === 'object' && id !== null ? byId(undefined) : byId(id);
      var payload = typeof id === 'object' && id !== null ? id : data;
      if (payload && payload.rqdata) widget.rqdata = payload.rqdata;
    },
    close: function () {}
  };
  if (compat && !w.grecaptcha) w.grecaptcha = w.hcaptcha;

  function boot() {
    if (q.render !== 'explicit') {
      Array.prototype.forEach.call(d.querySelectorAll('.h-captcha'), function (el) {
        if (el.querySelector('iframe[data-hcaptcha-widget-id]')) return;
        try { render(el, {}); } catch (e) { if (w.console) console.error(e); }
      });
    }
    if (q.onload && typeof w[q.onload] === 'function') w[q.onload]();
  }
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', boot); else setTimeout(boot, 0);
})();
