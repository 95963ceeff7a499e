"""Every provider × every kind it claims, through a real crawl against the strict sandbox.

Each provider's dialect is spoken strictly under /<provider>/ (an unknown type, a
missing or foreign field is refused as the real service refuses it); the demo site
verifies each kind's answer the way its vendor does, and binds clearance cookies
to the user agent and to the IP they were minted for. IP-bound kinds go through a
real loopback proxy (with credentials) whose connections leave from 127.0.0.2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
import scrapy

from scrapy_captcha.identity import IP_BOUND_KINDS
from scrapy_captcha.service.presets import PRESETS

from .conftest import SandboxProcess
from .crawling import API_KEY, CatalogSpider, crawl

PROXY_LOGIN, PROXY_PASSWORD = "crawler-7", "pr0xy-s3cret-pw"
#: Demo page slug -> (challenge kind, task variants that can pass it).
KINDS = {
    "recaptcha-v2-enterprise": ("recaptcha_v2", ("recaptcha_v2_enterprise",)),
    "recaptcha-v3": ("recaptcha_v3", ("recaptcha_v3",)),
    "recaptcha-v3-enterprise": ("recaptcha_v3", ("recaptcha_v3_enterprise",)),
    "hcaptcha": ("hcaptcha", ("hcaptcha",)),
    "turnstile": ("turnstile", ("turnstile",)),
    "image": ("image", ("image",)),
    "geetest-v3": ("geetest", ("geetest_v3",)),
    "geetest-v4": ("geetest", ("geetest_v4",)),
    "aws-waf": ("aws_waf", ("aws_waf",)),
    "funcaptcha": ("funcaptcha", ("funcaptcha",)),
    "friendly-captcha": ("friendly_captcha", ("friendly_captcha",)),
    "mtcaptcha": ("mtcaptcha", ("mtcaptcha",)),
    "datadome": ("datadome", ("datadome",)),
    "cloudflare": ("cloudflare_challenge", ("cloudflare_cookie", "cloudflare_token")),
}
PROVIDERS = ["sandbox", "yescaptcha", "capsolver", "anticaptcha", "2captcha", "capmonster"]


def offered(provider: str) -> dict[str, str]:
    """slug -> kind, for the demo pages ``provider`` claims to solve."""
    preset = PRESETS[provider]
    return {slug: kind for slug, (kind, variants) in KINDS.items() if any(preset.offers(v) for v in variants)}


@pytest.fixture(scope="module")
def proxied_sandbox() -> Iterator[SandboxProcess]:
    box = SandboxProcess("--proxy-port", "0", "--proxy-login", PROXY_LOGIN,
                         env={"SCRAPY_CAPTCHA_SANDBOX_PROXY_PASSWORD": PROXY_PASSWORD})
    assert box.proxy_url and "@" not in box.proxy_url
    yield box
    box.stop()


class KindPages(CatalogSpider):
    slugs: dict[str, str] = {}
    proxy: str | None = None

    async def start(self):
        for slug in self.slugs:
            # The crawl goes through its proxy: CAPTCHA_USE_PROXY = "auto" sends it with the
            # tasks of IP-bound kinds, and of kinds a provider takes only with a proxy.
            meta: dict[str, Any] = {"slug": slug, "cookiejar": slug, "proxy": self.proxy}
            yield scrapy.Request(f"{self.start_url}/challenge/{slug}/1", callback=self.passed, errback=self.failed,
                                 meta=meta)

    def passed(self, response):
        article = response.css("article.item")
        assert article, f"{response.url}: not the page behind the challenge"
        self.record.pages.append(response.meta["slug"])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest_twisted.ensureDeferred
async def test_every_kind_the_provider_claims_passes_a_real_crawl(proxied_sandbox, provider):
    box = proxied_sandbox
    slugs = offered(provider)
    assert slugs, provider
    kinds_config: dict[str, Any] = {}
    if provider == "yescaptcha":
        # yescaptcha's Turnstile type takes neither action nor cData: only a widget that
        # checks neither can be passed with it.
        kinds_config.update(turnstile_action=None, turnstile_cdata=False)
    box.reset(kinds=kinds_config)
    host = box.proxy_url.split("://", 1)[1]
    spider = type("Pages", (KindPages,), {"slugs": slugs,
                                          "proxy": f"http://{PROXY_LOGIN}:{PROXY_PASSWORD}@{host}"})
    url = box.service_url if provider == "sandbox" else f"{box.service_url}/{provider}"
    record = await crawl(box, spider, CAPTCHA_PROVIDER=provider, CAPTCHA_API_URL=url,
                         USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                                    "Chrome/126.0 Safari/537.36",
                         CONCURRENT_REQUESTS=16, CAPTCHA_MAX_RETRIES=1)
    failures = {f.request.meta["slug"]: f"{f.value}" for f in record.errbacks}
    assert failures == {}, failures
    assert sorted(record.pages) == sorted(slugs)
    # Nothing the strict dialect refused, and every task created is a kind it claims.
    log = box.log()
    refused = [e for e in log if e.get("refused")]
    assert refused == [], json.dumps(refused, default=str)
    # The proxy went with the tasks of IP-bound kinds (and of kinds this provider takes
    # only with a proxy), never with the others; its credentials never show in the log.
    for entry in log:
        task = entry.get("task") or {}
        assert PROXY_PASSWORD not in str(task) and API_KEY not in str(entry)
        if entry.get("endpoint") != "createTask" or not task:
            continue
        proxied = any(k in task for k in ("proxyAddress", "proxy"))
        slug = str(task.get("websiteURL", "")).split("/challenge/")[-1].split("/")[0]
        kind, variants = KINDS.get(slug, (None, ()))
        shapes = [PRESETS[provider].shapes[v] for v in variants if v in PRESETS[provider].shapes]
        if kind in IP_BOUND_KINDS or any(not shape.proxyless for shape in shapes):
            assert proxied, task
        elif shapes:
            assert not proxied, task


@pytest_twisted.ensureDeferred
async def test_a_clearance_obtained_without_the_crawls_proxy_is_refused(proxied_sandbox):
    """Like a real site: DataDome's cookie minted for the solver's own IP does not
    admit the crawl's requests (CAPTCHA_USE_PROXY='never' sends no proxy)."""
    box = proxied_sandbox
    box.reset()
    host = box.proxy_url.split("://", 1)[1]
    spider = type("Pages", (KindPages,), {"slugs": {"aws-waf": "aws_waf"},
                                          "proxy": f"http://{PROXY_LOGIN}:{PROXY_PASSWORD}@{host}"})
    record = await crawl(box, spider, CAPTCHA_PROVIDER="capsolver", CAPTCHA_API_URL=box.service_url + "/capsolver",
                         CAPTCHA_USE_PROXY="never", CAPTCHA_MAX_RETRIES=1)
    assert record.pages == []
    (failure,) = record.errbacks
    assert failure.value.code in ("TOKEN_REJECTED", "CHALLENGE_LOOP"), failure.value
