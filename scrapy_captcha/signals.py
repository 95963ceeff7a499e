"""Signals sent by scrapy-captcha, for alerts and dashboards.

Connect with ``crawler.signals.connect(handler, signal=scrapy_captcha.signals.captcha_paused)``.

- ``captcha_solved(request, challenge, solution)``
- ``captcha_dropped(request, code, reason)``
- ``captcha_paused(code, reason)``: the crawler was paused for an account condition
- ``captcha_resumed(code, reason)``: it runs again
"""

captcha_solved = object()
captcha_dropped = object()
captcha_paused = object()
captcha_resumed = object()
