/* Sandbox stand-in for https://www.google.com/recaptcha/api.js and .../enterprise.js: the loader.

   Like the real loader (which Google generates per query string), it only sets up
   window.___grecaptcha_cfg (render modes, onload names, a ready() queue) and a bare
   window.grecaptcha (or grecaptcha.enterprise) holding ready(), then inserts the
   release script from www.gstatic.com/recaptcha/releases/<version>/recaptcha__<hl>.js,
   which defines render/execute/getResponse on that object and renders the widgets.
   The version changes per load here, as it does between Google's releases. */
(function () {
  var w = window, d = document;
  var src = (d.currentScript && d.currentScript.src) || '';
  var q = {};
  (src.split('#')[0].split('?')[1] || '').split('&').forEach(function (p) {
    if (!p) return;
    var kv = p.split('=');
    q[decodeURIComponent(kv[0]).replace(/^amp;|^#038;/, '')] = decodeURIComponent(kv[1] || '');
  });
  var enterprise = /\/enterprise\.js/.test(src.split('?')[0]);
  var cfg = w.___grecaptcha_cfg = w.___grecaptcha_cfg || {};
  var gr = w.grecaptcha = w.grecaptcha || {};
  if (enterprise) gr = gr.enterprise = gr.enterprise || {};
  gr.ready = gr.ready || function (f) { (cfg.fns = cfg.fns || []).push(f); };
  var origin = /^https?:\/\/[^/]+/.exec(src);
  w.__recaptcha_api = (origin ? origin[0] : 'https://www.google.com') + (enterprise ? '/recaptcha/enterprise/' : '/recaptcha/api2/');
  (cfg.render = cfg.render || []).push(q.render || 'onload');
  if (q.onload) (cfg.onload = cfg.onload || []).push(q.onload);
  w.__google_recaptcha_client = true;
  // One release per page load (two api.js tags in a page get the same one, as they would from Google).
  var chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', version = '';
  var seed = Math.floor(((w.performance && performance.timeOrigin) || 1) * 1000) % 2147483647 || 1;
  for (var i = 0; i < 24; i++) { seed = (seed * 48271) % 2147483647; version += chars.charAt(seed % chars.length); }
  var lang = (q.hl || 'en').toLowerCase().replace(/[^a-z_-]/g, '').replace('-', '_') || 'en';
  var po = d.createElement('script');
  po.type = 'text/javascript';
  po.async = true;
  po.src = 'https://www.gstatic.com/recaptcha/releases/' + version + '/recaptcha__' + lang + '.js';
  po.crossOrigin = 'anonymous';
  var first = d.getElementsByTagName('script')[0];
  if (first && first.parentNode) first.parentNode.insertBefore(po, first); else (d.head || d.documentElement).appendChild(po);
})();
