/* Sandbox stand-in for https://www.google.com/recaptcha/api.js (and enterprise.js).
   Renders the response textareas the real widget renders; it cannot mint real
   tokens: those come from the (emulated) solving service. */
(function () {
  var src = (document.currentScript && document.currentScript.src) || '';
  var q = {};
  (src.split('?')[1] || '').split('&').forEach(function (p) {
    if (!p) return; var kv = p.split('='); q[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1] || '');
  });
  var cfg = window.___grecaptcha_cfg = window.___grecaptcha_cfg || {clients: {}};
  var count = 0;
  function render(container, params) {
    var el = typeof container === 'string' ? document.getElementById(container.replace(/^#/, '')) : container;
    params = params || {};
    var id = count++;
    var ta = document.createElement('textarea');
    ta.name = 'g-recaptcha-response';
    ta.id = id ? 'g-recaptcha-response-' + id : 'g-recaptcha-response';
    ta.className = 'g-recaptcha-response';
    ta.style.display = 'none';
    el.appendChild(ta);
    cfg.clients[id] = {id: id, sitekey: params.sitekey || el.getAttribute('data-sitekey')};
    return id;
  }
  function ready(fn) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', fn); else setTimeout(fn, 0);
  }
  var api = {
    render: render,
    ready: ready,
    execute: function () { return Promise.resolve('stand-in-token-nobody-solved'); },
    getResponse: function (id) { var t = document.querySelectorAll('textarea.g-recaptcha-response')[id || 0]; return t ? t.value : ''; },
    reset: function () {}
  };
  api.enterprise = {render: render, ready: ready, execute: api.execute, getResponse: api.getResponse, reset: api.reset};
  window.grecaptcha = api;
  ready(function () {
    if (!q.render || q.render === 'onload') {
      document.querySelectorAll('.g-recaptcha').forEach(function (el) { if (!el.querySelector('textarea')) render(el, {}); });
    }
    if (q.onload && typeof window[q.onload] === 'function') window[q.onload]();
  });
})();
