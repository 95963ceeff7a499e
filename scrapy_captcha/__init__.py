"""scrapy-captcha: get a Scrapy crawl (and a Playwright page) past captchas with a solving service."""

from __future__ import annotations

from .addon import Addon
from .detect import detect
from .middleware import CaptchaMiddleware, crawl_solver
from .model import (
    CaptchaConfigError,
    CaptchaDropped,
    CaptchaError,
    Challenge,
    Form,
    Reaction,
    ServiceError,
    Solution,
    TransportFault,
)
from .service.errors import reaction_for
from .solver import Solver

__version__ = "0.1.0"

__all__ = [
    "Addon",
    "CaptchaConfigError",
    "CaptchaDropped",
    "CaptchaError",
    "CaptchaMiddleware",
    "Challenge",
    "Form",
    "Reaction",
    "ServiceError",
    "Solution",
    "Solver",
    "TransportFault",
    "crawl_solver",
    "detect",
    "reaction_for",
]
