"""CAPTCHA_* settings: each wrong value is one clear line naming the setting, and a clean stop."""

from __future__ import annotations

import logging

import pytest
import pytest_twisted
from scrapy.settings import Settings

from scrapy_captcha import CaptchaConfigError
from scrapy_captcha.settings import CaptchaSettings

from .crawling import CatalogSpider, crawl


def config(**values):
    return CaptchaSettings.from_settings(Settings(values))


@pytest.mark.parametrize(("values", "message"), [
    ({"CAPTCHA_PROVIDER": "nope", "CAPTCHA_API_KEY": "k"}, "CAPTCHA_PROVIDER must be one of"),
    ({"CAPTCHA_PROVIDER": "sandbox", "CAPTCHA_SOLVE_TIMEOUT": "soon"}, "CAPTCHA_SOLVE_TIMEOUT must be a number"),
    ({"CAPTCHA_PROVIDER": "capsolver"}, "CAPTCHA_API_KEY is not set for capsolver"),
    ({"CAPTCHA_PROVIDER": "sandbox", "CAPTCHA_MAX_RETRIES": -1}, "CAPTCHA_MAX_RETRIES must be a whole number >= 0"),
    ({"CAPTCHA_PROVIDER": "sandbox", "CAPTCHA_API_URL": "ftp://x"}, "CAPTCHA_API_URL must be an http"),
    ({"CAPTCHA_PROVIDER": "sandbox", "CAPTCHA_USE_PROXY": "sometimes"}, "CAPTCHA_USE_PROXY must be one of"),
    ({"CAPTCHA_PROVIDER": "sandbox", "CAPTCHA_PRICES": {"capsolver": 3}}, "CAPTCHA_PRICES must be a dict"),
    ({"CAPTCHA_PROVIDER": "sandbox", "CAPTCHA_PRICES": {"sandbox": {"image": -1}}}, "CAPTCHA_PRICES must be"),
    ({"CAPTCHA_PROVIDER": ["capsolver", "anticaptcha"], "CAPTCHA_API_KEY": {"capsolver": "a"}},
     "CAPTCHA_API_KEY is not set for anticaptcha"),
    ({"CAPTCHA_PROVIDER": "capsolver", "CAPTCHA_API_KEY": {"2captcha": "a"}},
     "CAPTCHA_API_KEY has keys for providers not in CAPTCHA_PROVIDER"),
    ({"CAPTCHA_PROVIDER": "sandbox", "CAPTCHA_REDIS_NAMESPACE": "no spaces"}, "CAPTCHA_REDIS_NAMESPACE must be"),
])
def test_each_wrong_value_names_the_setting_and_what_is_allowed(values, message):
    with pytest.raises(CaptchaConfigError, match=message):
        config(**values)


def test_a_redis_url_with_a_password_is_never_echoed():
    with pytest.raises(CaptchaConfigError) as caught:
        config(CAPTCHA_PROVIDER="sandbox", CAPTCHA_REDIS_URL="http://user:hunter2@redis:6379")
    assert "hunter2" not in str(caught.value)
    good = config(CAPTCHA_PROVIDER="sandbox", CAPTCHA_REDIS_URL="redis://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in repr(good) and good.redis_url.reveal().endswith("/0")


@pytest.mark.parametrize("namespace", ["team/CAP-SECRETKEY123", "team-CAP-SECRETKEY123", "x-ANTI-KEY-4567"])
def test_a_namespace_holding_any_providers_key_is_refused_without_repeating_it(namespace):
    # Invalid characters too: that error repeats the value, so the key check must come first.
    with pytest.raises(CaptchaConfigError, match="must not contain the API key") as caught:
        config(CAPTCHA_PROVIDER=["capsolver", "anticaptcha"], CAPTCHA_REDIS_NAMESPACE=namespace,
               CAPTCHA_API_KEY={"capsolver": "CAP-SECRETKEY123", "anticaptcha": "ANTI-KEY-4567"})
    assert "SECRETKEY" not in str(caught.value) and "ANTI-KEY" not in str(caught.value)


def test_one_key_per_provider(monkeypatch):
    monkeypatch.setenv("CAPTCHA_API_KEY_ANTICAPTCHA", "from-env-anti")
    monkeypatch.delenv("CAPTCHA_API_KEY", raising=False)
    got = config(CAPTCHA_PROVIDER=["capsolver", "anticaptcha", "sandbox"], CAPTCHA_API_KEY={"capsolver": "own-cs"})
    assert {p: k.reveal() for p, k in got.api_keys.items()} == {
        "capsolver": "own-cs", "anticaptcha": "from-env-anti", "sandbox": "sandbox-demo-key"}
    assert "own-cs" not in repr(got)
    shared = config(CAPTCHA_PROVIDER=["capsolver", "anticaptcha"], CAPTCHA_API_KEY="one-for-all")
    assert shared.api_keys["capsolver"].reveal() == "one-for-all"
    assert shared.api_keys["anticaptcha"].reveal() == "from-env-anti"  # its own variable wins


def test_the_sandbox_needs_no_key_and_defaults_are_sane():
    got = config(CAPTCHA_PROVIDER="sandbox")
    assert got.api_key and got.use_proxy == "auto" and got.prices is None and got.redis_url is None


@pytest_twisted.ensureDeferred
async def test_a_wrong_setting_stops_the_crawl_with_one_line_and_no_traceback(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    record = await crawl(sandbox, CatalogSpider, CAPTCHA_PROVIDER="nope")
    assert record.reason == "captcha_config_error"
    assert record.pages == [] and sandbox.site_state()["requests"] == 0  # nothing was fetched
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and "CAPTCHA_PROVIDER must be one of" in critical[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
