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
#: Solves paid for this request so far; one that meets the same challenge again
#: after CHALLENGE_LOOP_SOLVES of them is dropped (a cache or a proxy replaying a
#: stale challenge page would otherwise cost a solve each time).
META_SOLVES = "captcha_solves"
#: Internal, loop time the request was sent while its host had an open gate:
#: only responses to requests sent after a challenge appeared say anything about its scope.
META_SENT = "_captcha_sent"
#: Internal, [kind, sitekey] of the pass this request was sent again after.
META_AFTER = "_captcha_after"
#: Internal, key of a response (the page behind a page gate) to hand to this request.
META_DELIVER = "_captcha_deliver"
#: Internal: a request let through while its host is held back, to see what it gets.
META_PROBE = "_captcha_probe"
