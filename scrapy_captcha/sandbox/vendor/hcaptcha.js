/* Sandbox stand-in for https://js.hcaptcha.com/1/api.js */
(function () {
  var src = (document.currentScript && document.currentScript.src) || '';
  var q = {};
  (src.split('?')[1] || '').split('&').forEach(function (p) {
    if (!p) return; var kv = p.split('='); q[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1] || '');
  });
  var count = 0;
  function render(container, params) {
    var el = typeof container === 'string' ? document.getElementById(container.replace(/^#/, '')) : container;
    var id = 'hc' + (count++);
    ['h-captcha-response', 'g-recaptcha-response'].forEach(function (name) {
      if (name === 'g-recaptcha-response' && q.recaptchacompat === 'off') return;
      var ta = document.createElement('textarea'); ta.name = name; ta.style.display = 'none'; el.appendChild(ta);
    });
    el.setAttribute('data-hcaptcha-widget-id', id);
    return id;
  }
  window.hcaptcha = {render: render, setData: function () {}, execute: function () {}, reset: function () {},
    getResponse: function () { var t = document.querySelector('textarea[name="h-captcha-response"]'); return t ? t.value : ''; }};
  function go() {
    if (q.render !== 'explicit') document.querySelectorAll('.h-captcha, h-captcha').forEach(function (el) { render(el, {}); });
    if (q.onload && typeof window[q.onload] === 'function') window[q.onload]();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', go); else setTimeout(go, 0);
})();
