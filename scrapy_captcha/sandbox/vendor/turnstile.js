/* Sandbox stand-in for https://challenges.cloudflare.com/turnstile/v0/api.js */
(function () {
  var src = (document.currentScript && document.currentScript.src) || '';
  var q = {};
  (src.split('?')[1] || '').split('&').forEach(function (p) {
    if (!p) return; var kv = p.split('='); q[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1] || '');
  });
  var count = 0;
  function render(container, params) {
    var el = typeof container === 'string' ? (document.getElementById(container.replace(/^#/, '')) || document.querySelector(container)) : container;
    params = params || {};
    var input = document.createElement('input');
    input.type = 'hidden';
    input.name = params['response-field-name'] || el.getAttribute('data-response-field-name') || 'cf-turnstile-response';
    el.appendChild(input);
    return 'ts' + (count++);
  }
  window.turnstile = {render: render, reset: function () {}, remove: function () {},
    getResponse: function () { var i = document.querySelector('input[name="cf-turnstile-response"]'); return i ? i.value : ''; }};
  function go() {
    if (q.render !== 'explicit') document.querySelectorAll('.cf-turnstile').forEach(function (el) { render(el, {}); });
    if (q.onload && typeof window[q.onload] === 'function') window[q.onload]();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', go); else setTimeout(go, 0);
})();
