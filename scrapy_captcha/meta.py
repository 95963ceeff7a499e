"""Request meta keys this package reads and writes (docs/meta.md).

Values are plain data, so requests stay JOBDIR-safe.
"""

from __future__ import annotations

#: False: never touch this request; True: solve even incidental widgets.
META_SWITCH = "captcha"
#: Solves already failed for this request (RESCHEDULE counts up to CAPTCHA_MAX_RETRIES).
META_RETRIES = "captcha_retries"
#: Internal, [code, reason]: fail this request into its errback.
META_DROP = "_captcha_drop"
