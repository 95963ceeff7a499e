"""Fleet mode: processes that share one solving account share its state through Redis.

Pause and resume, the budget, the task limit (with leases), cooldowns and the
adaptive limit, learned poll timings and session-gate clearances. Needs the
``redis`` extra (``pip install 'scrapy-captcha[redis]'``); see docs/fleet.md.
"""

from __future__ import annotations

from .client import Fleet, Slot, mask_url
from .naming import IdentityHasher, Keys, namespace_for
from .view import CALLS, CREATES, Clearance, ProviderState

__all__ = ["Fleet", "Slot", "Clearance", "ProviderState", "Keys", "IdentityHasher", "namespace_for", "mask_url",
           "CALLS", "CREATES"]
