"""The sans-I/O protocol: every provider × kind task shape, identity, reports, solutions, parsing quirks.

The expected tasks below are transcribed by hand from the providers' own docs
and official SDKs (the sources are named per block; docs/providers.md has the
full table), not from the code under test.
"""

from __future__ import annotations

import json

import pytest

from scrapy_captcha import Challenge, Reaction, ServiceError, TransportFault
from scrapy_captcha.model import Identity, Proxy, Solution, SolutionCookie
from scrapy_captcha.service import PRESETS, get_preset
from scrapy_captcha.service import protocol as p
from scrapy_captcha.service.presets import LEGACY_VARIANTS, VARIANTS, providers_offering

URL = "https://shop.example.com/login"
KEY = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"
HKEY = "10000000-ffff-ffff-ffff-000000000001"
TKEY = "0x4AAAAAAABUYP0XeMJF0xoy"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"
IMG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAghw3WQAAAABJRU5ErkJggg=="
HTML = "PGh0bWw+SnVzdCBhIG1vbWVudDwvaHRtbD4="
GT, CID = "019924a82c70bb123aae3a3ffa86d8e3", "e392e1d7fd421dc63325744d5a2b9c73"
AK, IV, CTX = "AQIDAHjcYu/GjX+QlghicBgQ/7bFaQZ+m5FKCMDnO+vTbNg96AE=", "CgAHbCe2GgAAAAAj", "qoJYgnKsc+aormh/dYYK+Y="
CJS = "https://41bcdd4fb3cb.610cd090.us-east-1.token.awswaf.com/41bcdd4fb3cb/0d21de737ccb/challenge.js"
CAPJS = "https://41bcdd4fb3cb.610cd090.us-east-1.captcha.awswaf.com/41bcdd4fb3cb/0d21de737ccb/captcha.js"
FKEY, FCKEY, MKEY = "B7D8911C-5CC8-A9A3-35B0-554ACEE604DA", "FCMGEMUD2KTDSQ5H", "MTPublic-KzqLY1cKH"
FC_SCRIPT = "https://cdn.jsdelivr.net/npm/friendly-challenge@0.9.12/widget.module.min.js"
DD_URL = "https://geo.captcha-delivery.com/captcha/?initialCid=AHrlqAAAAAMA&hash=789361B6&cid=DDCID&t=fe&s=40070"

V2 = Challenge(kind="recaptcha_v2", sitekey=KEY, page_url=URL, invisible=True, data_s="S-VALUE",
               api_domain="recaptcha.net", action="login")
V2E = Challenge(kind="recaptcha_v2", sitekey=KEY, page_url=URL, enterprise=True, invisible=True,
                data_s="S-VALUE", api_domain="recaptcha.net", action="login")
V3 = Challenge(kind="recaptcha_v3", sitekey=KEY, page_url=URL, action="submit", api_domain="www.recaptcha.net")
V3E = Challenge(kind="recaptcha_v3", sitekey=KEY, page_url=URL, action="submit", enterprise=True,
                api_domain="www.recaptcha.net")
HC = Challenge(kind="hcaptcha", sitekey=HKEY, page_url=URL, invisible=True, rqdata="RQDATA")
TS = Challenge(kind="turnstile", sitekey=TKEY, page_url=URL, action="login", cdata="CDATA", chl_page_data="PAGEDATA")
CF = Challenge(kind="cloudflare_challenge", sitekey=TKEY, page_url=URL, blocking=True, action="managed",
               cdata="CDATA", chl_page_data="PAGEDATA", params=(("cRay", "8f1"), ("html_base64", HTML)))
CF_HTTP = Challenge(kind="cloudflare_challenge", sitekey=TKEY, page_url=URL, blocking=True,
                    params=(("cRay", "8f1"), ("html_base64", HTML)))  # no cData: what plain HTTP sees
IMAGE = Challenge(kind="image", sitekey=None, page_url=URL, params=(("image_url", URL + "/c.png"), ("image_body", IMG)))
GT3 = Challenge(kind="geetest", sitekey=GT, page_url=URL,
                params=(("version", "3"), ("challenge", "CHALLENGE"), ("api_server", "api-na.geetest.com")))
GT4 = Challenge(kind="geetest", sitekey=CID, page_url=URL, params=(("version", "4"),))
AWS = Challenge(kind="aws_waf", sitekey=AK, page_url=URL, blocking=True,
                params=(("iv", IV), ("context", CTX), ("challenge_script", CJS), ("captcha_script", CAPJS)))
FUN = Challenge(kind="funcaptcha", sitekey=FKEY, page_url=URL,
                params=(("api_subdomain", "client-api.arkoselabs.com"), ("data", "BLOB")))
FRIENDLY = Challenge(kind="friendly_captcha", sitekey=FCKEY, page_url=URL, params=(("script_url", FC_SCRIPT),))
MT = Challenge(kind="mtcaptcha", sitekey=MKEY, page_url=URL)
DD = Challenge(kind="datadome", sitekey=None, page_url=URL, blocking=True,
               params=(("captcha_url", DD_URL), ("cid", "DDCID"), ("t", "fe")))

CHALLENGES = {
    "recaptcha_v2": V2, "recaptcha_v2_enterprise": V2E, "recaptcha_v3": V3, "recaptcha_v3_enterprise": V3E,
    "hcaptcha": HC, "turnstile": TS, "cloudflare_challenge": CF, "image": IMAGE, "geetest_v3": GT3,
    "geetest_v4": GT4, "aws_waf": AWS, "funcaptcha": FUN, "friendly_captcha": FRIENDLY, "mtcaptcha": MT,
    "datadome": DD,
}
BROWSER = Identity(user_agent=UA)
PROXY = Proxy.from_url("http://puser:ppass@203.0.113.5:3128")
PROXIED = Identity(proxy=PROXY, user_agent=UA)
FIELDS = {"proxyType": "http", "proxyAddress": "203.0.113.5", "proxyPort": 3128,
          "proxyLogin": "puser", "proxyPassword": "ppass"}
CS_PROXY = {"proxy": "http:203.0.113.5:3128:puser:ppass"}  # cs-doc api-use-params
BLOB = json.dumps({"blob": "BLOB"})
NOT_OFFERED = "ERROR_TASK_NOT_SUPPORTED"


def body(obj) -> bytes:
    return json.dumps(obj).encode()


def base(task_type, key=KEY, **fields):
    task = {"type": task_type, "websiteURL": URL}
    if key is not None:
        task["websiteKey"] = key
    task.update(fields)
    return task


# ---------------------------------------------------------- expected shapes
# Each expected task below: with the crawl's user agent known, no proxy.
# A string instead of a dict is the error code expected.

EXPECTED = {
    # yc-doc (yescaptcha.atlassian.net pages 64192939, 64192968, 64193447, x/joHTAw, x/5YHTAw,
    # pageId 64192889) and yc-sdk 0.1.0: proxyless types only; no minScore, no action for Turnstile.
    "yescaptcha": {
        "recaptcha_v2": base("NoCaptchaTaskProxyless", isInvisible=True),
        "recaptcha_v2_enterprise": base("RecaptchaV2EnterpriseTaskProxyless", enterprisePayload={"s": "S-VALUE"}),
        "recaptcha_v3": base("RecaptchaV3TaskProxyless", pageAction="submit"),
        "recaptcha_v3_enterprise": base("RecaptchaV3EnterpriseTask", pageAction="submit"),
        "hcaptcha": base("HCaptchaTaskProxyless", HKEY),
        "turnstile": base("TurnstileTaskProxyless", TKEY),
        "cloudflare_challenge": NOT_OFFERED,
        "image": {"type": "ImageToTextTaskMuggle", "body": IMG},
        "geetest_v3": NOT_OFFERED, "geetest_v4": NOT_OFFERED, "aws_waf": NOT_OFFERED,
        "funcaptcha": NOT_OFFERED, "friendly_captcha": NOT_OFFERED, "mtcaptcha": NOT_OFFERED,
        "datadome": NOT_OFFERED,
    },
    # cs-doc (docs.capsolver.com guide/captcha/ReCaptchaV2, ReCaptchaV3, cloudflare_turnstile, awsWaf,
    # antibots/datadome, antibots/cloudflare_challenge), cs-sdk core/tasks.py.
    "capsolver": {
        "recaptcha_v2": base("ReCaptchaV2TaskProxyLess", isInvisible=True, pageAction="login",
                             enterprisePayload={"s": "S-VALUE"}, apiDomain="www.recaptcha.net", userAgent=UA),
        "recaptcha_v2_enterprise": base("ReCaptchaV2EnterpriseTaskProxyLess", enterprisePayload={"s": "S-VALUE"},
                                        isInvisible=True, pageAction="login", apiDomain="www.recaptcha.net",
                                        userAgent=UA),
        "recaptcha_v3": base("ReCaptchaV3TaskProxyLess", pageAction="submit"),
        "recaptcha_v3_enterprise": base("ReCaptchaV3EnterpriseTaskProxyLess", pageAction="submit"),
        "hcaptcha": NOT_OFFERED,
        "turnstile": base("AntiTurnstileTaskProxyLess", TKEY, metadata={"action": "login", "cdata": "CDATA"}),
        "cloudflare_challenge": "PROXY_REQUIRED",  # AntiCloudflareTask: proxy required
        "image": {"type": "ImageToTextTask", "body": IMG},
        "geetest_v3": base("GeeTestTaskProxyLess", None, gt=GT, challenge="CHALLENGE",
                           geetestApiServerSubdomain="api-na.geetest.com"),
        "geetest_v4": base("GeeTestTaskProxyLess", None, captchaId=CID),
        "aws_waf": base("AntiAwsWafTaskProxyLess", None, awsKey=AK, awsIv=IV, awsContext=CTX,
                        awsChallengeJS=CJS, awsApiJs=CAPJS),
        "funcaptcha": NOT_OFFERED, "friendly_captcha": NOT_OFFERED,
        "mtcaptcha": base("MtCaptchaTaskProxyLess", MKEY),  # cs-doc captcha/MtCaptcha
        "datadome": "PROXY_REQUIRED",
    },
    # ac-sdk anticaptchaofficial 1.0.72 (recaptchav2proxyless.py, recaptchav2enterpriseproxyless.py,
    # recaptchav3proxyless.py, recaptchav3enterpriseproxyless.py, hcaptchaproxyless.py, turnstileproxyless.py,
    # imagecaptcha.py, geetestproxyless.py, amazonproxyless.py, funcaptchaproxyless.py,
    # friendlycaptchaproxyless.py) and ac-doc (apiDomain: www.google.com or www.recaptcha.net only;
    # minScore required; Enterprise V3 = isEnterprise flag).
    "anticaptcha": {
        "recaptcha_v2": base("RecaptchaV2TaskProxyless", recaptchaDataSValue="S-VALUE", isInvisible=True),
        "recaptcha_v2_enterprise": base("RecaptchaV2EnterpriseTaskProxyless", enterprisePayload={"s": "S-VALUE"},
                                        isInvisible=True, apiDomain="www.recaptcha.net"),
        "recaptcha_v3": base("RecaptchaV3TaskProxyless", pageAction="submit", minScore=0.7),
        "recaptcha_v3_enterprise": base("RecaptchaV3TaskProxyless", pageAction="submit", minScore=0.7,
                                        isEnterprise=True),
        "hcaptcha": base("HCaptchaTaskProxyless", HKEY, isInvisible=True, enterprisePayload={"rqdata": "RQDATA"},
                         userAgent=UA),
        "turnstile": base("TurnstileTaskProxyless", TKEY, action="login", cData="CDATA", chlPageData="PAGEDATA"),
        # No proxy: token mode with the page's cData / chlPageData.
        "cloudflare_challenge": base("TurnstileTaskProxyless", TKEY, action="managed", cData="CDATA",
                                     chlPageData="PAGEDATA"),
        "image": {"type": "ImageToTextTask", "body": IMG},
        "geetest_v3": base("GeeTestTaskProxyless", None, gt=GT, challenge="CHALLENGE", version=3,
                           geetestApiServerSubdomain="api-na.geetest.com"),
        "geetest_v4": base("GeeTestTaskProxyless", None, gt=CID, version=4),
        "aws_waf": base("AmazonTaskProxyless", AK, iv=IV, context=CTX, challengeScript=CJS, captchaScript=CAPJS),
        "funcaptcha": base("FunCaptchaTaskProxyless", None, websitePublicKey=FKEY,
                           funcaptchaApiJSSubdomain="client-api.arkoselabs.com", data=BLOB),
        "friendly_captcha": base("FriendlyCaptchaTaskProxyless", FCKEY),
        "mtcaptcha": NOT_OFFERED,
        "datadome": NOT_OFFERED,
    },
    # 2c-doc (2captcha.com/api-docs: recaptcha-v3 read; the others per spec §2 as corrected for issue 11):
    # Turnstile takes data / pagedata, apiDomain is "google.com" or "recaptcha.net".
    "2captcha": {
        "recaptcha_v2": base("RecaptchaV2TaskProxyless", recaptchaDataSValue="S-VALUE", isInvisible=True,
                             apiDomain="recaptcha.net", userAgent=UA),
        "recaptcha_v2_enterprise": base("RecaptchaV2EnterpriseTaskProxyless", enterprisePayload={"s": "S-VALUE"},
                                        isInvisible=True, apiDomain="recaptcha.net", userAgent=UA),
        "recaptcha_v3": base("RecaptchaV3TaskProxyless", pageAction="submit", minScore=0.7, apiDomain="recaptcha.net"),
        "recaptcha_v3_enterprise": base("RecaptchaV3TaskProxyless", pageAction="submit", minScore=0.7,
                                        isEnterprise=True, apiDomain="recaptcha.net"),
        "hcaptcha": NOT_OFFERED,
        "turnstile": base("TurnstileTaskProxyless", TKEY, action="login", data="CDATA", pagedata="PAGEDATA",
                          userAgent=UA),
        "cloudflare_challenge": base("TurnstileTaskProxyless", TKEY, action="managed", data="CDATA",
                                     pagedata="PAGEDATA", userAgent=UA),
        "image": {"type": "ImageToTextTask", "body": IMG},
        "geetest_v3": base("GeeTestTaskProxyless", None, gt=GT, challenge="CHALLENGE",
                           geetestApiServerSubdomain="api-na.geetest.com", userAgent=UA),
        "geetest_v4": base("GeeTestTaskProxyless", None, version=4, initParameters={"captcha_id": CID}, userAgent=UA),
        "aws_waf": NOT_OFFERED,
        "funcaptcha": base("FunCaptchaTaskProxyless", None, websitePublicKey=FKEY,
                           funcaptchaApiJSSubdomain="client-api.arkoselabs.com", data=BLOB, userAgent=UA),
        "friendly_captcha": base("FriendlyCaptchaTaskProxyless", FCKEY),
        "mtcaptcha": base("MtCaptchaTaskProxyless", MKEY),
        "datadome": "PROXY_REQUIRED",
    },
    # cm-sdk capmonstercloudclient 4.3.1 (RecaptchaV2Request.py, RecaptchaV2EnterpiseRequest.py,
    # RecaptchaV3ProxylessRequest.py, RecaptchaV3EnterpriseRequest.py, TurnstileRequest.py, ImageToTextRequest.py,
    # GeetestRequest.py, AmazonWafRequest.py, FuncaptchaRequest.py, FriendlyCustomTaskRequest.py,
    # MTCaptchaRequest.py, DataDomeCustomTaskRequest.py) and cm-doc (docs.capmonster.cloud).
    "capmonster": {
        "recaptcha_v2": base("RecaptchaV2Task", recaptchaDataSValue="S-VALUE", isInvisible=True, userAgent=UA),
        "recaptcha_v2_enterprise": base("RecaptchaV2EnterpriseTask", enterprisePayload={"s": "S-VALUE"},
                                        apiDomain="www.recaptcha.net", pageAction="login", userAgent=UA),
        "recaptcha_v3": base("RecaptchaV3TaskProxyless", pageAction="submit", minScore=0.7),
        "recaptcha_v3_enterprise": base("RecaptchaV3EnterpriseTask", pageAction="submit", minScore=0.7),
        "hcaptcha": NOT_OFFERED,  # cm-doc hcaptcha-task.mdx is a draft
        "turnstile": base("TurnstileTask", TKEY, pageAction="login", data="CDATA"),
        "cloudflare_challenge": base("TurnstileTask", TKEY, cloudflareTaskType="token", pageAction="managed",
                                     data="CDATA", pageData="PAGEDATA", userAgent=UA),
        "image": {"type": "ImageToTextTask", "body": IMG},
        "geetest_v3": base("GeeTestTask", None, gt=GT, challenge="CHALLENGE", version=3,
                           geetestApiServerSubdomain="api-na.geetest.com", userAgent=UA),
        "geetest_v4": base("GeeTestTask", None, gt=CID, version=4, userAgent=UA),
        "aws_waf": base("AmazonTask", AK, iv=IV, context=CTX, challengeScript=CJS, captchaScript=CAPJS,
                        cookieSolution=True),
        "funcaptcha": "PROXY_REQUIRED",
        "friendly_captcha": base("CustomTask", FCKEY, **{"class": "friendly"}, metadata={"apiGetLib": FC_SCRIPT},
                                 userAgent=UA),
        "mtcaptcha": base("MTCaptchaTask", MKEY, userAgent=UA),
        "datadome": "PROXY_REQUIRED",
    },
}

# Expected with the crawl's proxy (and user agent): the proxy task types.
EXPECTED_PROXIED = {
    ("capsolver", "recaptcha_v2"): {**EXPECTED["capsolver"]["recaptcha_v2"], "type": "ReCaptchaV2Task", **CS_PROXY},
    ("capsolver", "recaptcha_v3_enterprise"): {**EXPECTED["capsolver"]["recaptcha_v3_enterprise"],
                                               "type": "ReCaptchaV3EnterpriseTask", **CS_PROXY},
    ("capsolver", "cloudflare_challenge"): base("AntiCloudflareTask", None, userAgent=UA, **CS_PROXY),
    ("capsolver", "aws_waf"): {**EXPECTED["capsolver"]["aws_waf"], "type": "AntiAwsWafTask", **CS_PROXY},
    ("capsolver", "mtcaptcha"): base("MtCaptchaTask", MKEY, **CS_PROXY),
    ("capsolver", "datadome"): base("DatadomeSliderTask", None, captchaUrl=DD_URL, userAgent=UA, **CS_PROXY),
    # Turnstile has no proxy type at capsolver: it stays proxyless.
    ("capsolver", "turnstile"): EXPECTED["capsolver"]["turnstile"],
    ("anticaptcha", "recaptcha_v2"): {**EXPECTED["anticaptcha"]["recaptcha_v2"], "type": "RecaptchaV2Task",
                                      "userAgent": UA, **FIELDS},
    ("anticaptcha", "recaptcha_v3"): EXPECTED["anticaptcha"]["recaptcha_v3"],  # no proxy variant
    ("anticaptcha", "hcaptcha"): {**EXPECTED["anticaptcha"]["hcaptcha"], "type": "HCaptchaTask", **FIELDS},
    # AntiBotCookieTask (ac-sdk antibotcookietask.py): no proxyType, no websiteKey.
    ("anticaptcha", "cloudflare_challenge"): base("AntiBotCookieTask", None, proxyAddress="203.0.113.5",
                                                  proxyPort=3128, proxyLogin="puser", proxyPassword="ppass"),
    ("anticaptcha", "aws_waf"): {**EXPECTED["anticaptcha"]["aws_waf"], "type": "AmazonTask", **FIELDS},
    ("anticaptcha", "geetest_v3"): {**EXPECTED["anticaptcha"]["geetest_v3"], "type": "GeeTestTask",
                                    "userAgent": UA, **FIELDS},
    ("anticaptcha", "funcaptcha"): {**EXPECTED["anticaptcha"]["funcaptcha"], "type": "FunCaptchaTask",
                                    "userAgent": UA, **FIELDS},
    ("2captcha", "turnstile"): {**EXPECTED["2captcha"]["turnstile"], "type": "TurnstileTask", **FIELDS},
    ("2captcha", "datadome"): base("DataDomeSliderTask", None, captchaUrl=DD_URL, userAgent=UA, **FIELDS),
    ("2captcha", "cloudflare_challenge"): {**EXPECTED["2captcha"]["cloudflare_challenge"], "type": "TurnstileTask",
                                           **FIELDS},
    ("2captcha", "mtcaptcha"): {**EXPECTED["2captcha"]["mtcaptcha"], "type": "MtCaptchaTask", **FIELDS},
    ("capmonster", "recaptcha_v2"): {**EXPECTED["capmonster"]["recaptcha_v2"], **FIELDS},
    ("capmonster", "cloudflare_challenge"): base("TurnstileTask", TKEY, cloudflareTaskType="cf_clearance",
                                                 htmlPageBase64=HTML, userAgent=UA, **FIELDS),
    ("capmonster", "aws_waf"): {**EXPECTED["capmonster"]["aws_waf"], **FIELDS},
    ("capmonster", "funcaptcha"): base("FunCaptchaTask", None, websitePublicKey=FKEY,
                                       funcaptchaApiJSSubdomain="client-api.arkoselabs.com", data=BLOB,
                                       userAgent=UA, **FIELDS),
    ("capmonster", "datadome"): base("CustomTask", None, **{"class": "DataDome"},
                                     metadata={"captchaUrl": DD_URL, "datadomeCookie": "datadome=DDCID"},
                                     userAgent=UA, **FIELDS),
    ("yescaptcha", "recaptcha_v2"): EXPECTED["yescaptcha"]["recaptcha_v2"],  # proxyless only
}


def _cells(table):
    return [(provider, name) for provider in table for name in table[provider]]


@pytest.mark.parametrize(("provider", "name"), _cells(EXPECTED))
def test_every_provider_and_kind_builds_what_its_source_says(provider, name):
    expected = EXPECTED[provider][name]
    if isinstance(expected, str):
        with pytest.raises(ServiceError) as info:
            p.build_task(get_preset(provider), CHALLENGES[name], BROWSER)
        assert info.value.code == expected
        assert info.value.reaction is Reaction.MISCONFIGURED
    else:
        assert p.build_task(get_preset(provider), CHALLENGES[name], BROWSER) == expected


@pytest.mark.parametrize(("provider", "name"), list(EXPECTED_PROXIED))
def test_with_the_crawls_proxy_the_proxy_type_and_fields_are_sent(provider, name):
    assert p.build_task(get_preset(provider), CHALLENGES[name], PROXIED) == EXPECTED_PROXIED[(provider, name)]


def test_the_table_covers_every_provider_and_kind():
    kinds = set(CHALLENGES)
    for provider in ("yescaptcha", "capsolver", "anticaptcha", "2captcha", "capmonster"):
        assert set(EXPECTED[provider]) == kinds


@pytest.mark.parametrize("provider", ["yescaptcha", "capsolver", "anticaptcha", "2captcha", "capmonster"])
def test_every_offered_proxy_type_gets_the_proxy_fields(provider):
    preset = get_preset(provider)
    for name, shape in preset.shapes.items():
        if not shape.proxied:
            continue
        challenge = CHALLENGES.get(name) or CF
        if p.task_name(preset, challenge, PROXIED) != name:
            continue  # token mode: with a proxy the cookie mode is chosen where there is one
        task = p.build_task(preset, challenge, PROXIED)
        assert task["type"] == shape.proxied, name
        if preset.proxy_style == "string":
            assert task["proxy"] == CS_PROXY["proxy"]
        else:
            assert (task["proxyAddress"], task["proxyPort"], task["proxyPassword"]) == ("203.0.113.5", 3128, "ppass")


# ------------------------------------------------------- the four known errors


def test_v3_enterprise_has_its_own_type_at_yescaptcha_and_capmonster():
    assert p.build_task(PRESETS["yescaptcha"], V3E)["type"] == "RecaptchaV3EnterpriseTask"
    assert p.build_task(PRESETS["capmonster"], V3E)["type"] == "RecaptchaV3EnterpriseTask"
    # ...and a flag on the plain type at anti-captcha and 2captcha.
    for name in ("anticaptcha", "2captcha"):
        task = p.build_task(PRESETS[name], V3E)
        assert (task["type"], task["isEnterprise"]) == ("RecaptchaV3TaskProxyless", True)


def test_2captcha_turnstile_uses_data_and_pagedata_not_anticaptchas_names():
    task = p.build_task(PRESETS["2captcha"], TS)
    assert (task["data"], task["pagedata"]) == ("CDATA", "PAGEDATA")
    assert "cData" not in task and "chlPageData" not in task
    task = p.build_task(PRESETS["anticaptcha"], TS)
    assert (task["cData"], task["chlPageData"]) == ("CDATA", "PAGEDATA")


@pytest.mark.parametrize(("page_domain", "sent"), [
    ("recaptcha.net", "www.recaptcha.net"), ("www.recaptcha.net", "www.recaptcha.net"),
    ("https://www.recaptcha.net/", "www.recaptcha.net"), ("www.google.com", None), ("google.com", None),
    ("evil.example", None), (None, None),
])
def test_apidomain_takes_only_the_two_values_anticaptcha_accepts(page_domain, sent):
    ch = Challenge(kind="recaptcha_v2", sitekey=KEY, page_url=URL, enterprise=True, api_domain=page_domain)
    for provider in ("anticaptcha", "capmonster"):
        assert p.build_task(PRESETS[provider], ch).get("apiDomain") == sent, provider


def test_report_endpoints_differ_per_kind():
    ac = PRESETS["anticaptcha"]
    assert p.report_call(ac, "k", 5, "recaptcha_v2").path == "/reportIncorrectRecaptcha"
    assert p.report_call(ac, "k", 5, "recaptcha_v3_enterprise").path == "/reportIncorrectRecaptcha"
    assert p.report_call(ac, "k", 5, "hcaptcha").path == "/reportIncorrectHcaptcha"
    assert p.report_call(ac, "k", 5, "image").path == "/reportIncorrectImageCaptcha"
    assert p.report_call(ac, "k", 5, "turnstile") is None  # anti-captcha has none for Turnstile
    assert p.report_call(ac, "k", 5, "funcaptcha") is None
    cm = PRESETS["capmonster"]
    for kind in ("recaptcha_v2", "recaptcha_v3", "turnstile", "geetest", "cloudflare_challenge"):
        assert p.report_call(cm, "k", 5, kind).path == "/reportIncorrectTokenCaptcha", kind
    assert p.report_call(cm, "k", 5, "image").path == "/reportIncorrectImageCaptcha"
    assert p.report_call(cm, "k", 5, "datadome") is None
    for kind in ("recaptcha_v2", "turnstile", "image", "mtcaptcha"):
        assert p.report_call(PRESETS["2captcha"], "k", 5, kind).path == "/reportIncorrect"
    capsolver = p.report_call(PRESETS["capsolver"], "k", "id", "recaptcha_v2")
    assert capsolver.path == "/feedbackTask" and capsolver.payload == {"clientKey": "k", "taskId": "id",
                                                                     "result": {"invalid": True}}
    assert p.report_call(PRESETS["yescaptcha"], "k", "id", "recaptcha_v2") is None  # none documented


def test_report_takes_a_solution_and_needs_a_kind_and_a_task_id():
    solution = Solution(token="t", task_id=77)
    assert p.report_call(PRESETS["anticaptcha"], "k", solution, "hcaptcha").payload["taskId"] == 77
    # Without a kind nothing is reported: the wrong endpoint is worse than none.
    assert p.report_call(PRESETS["anticaptcha"], "k", solution) is None
    assert p.report_call(PRESETS["anticaptcha"], "k", Solution(token="t"), "hcaptcha") is None


def test_soft_id_uses_the_dialects_field_capmonster_included():
    for provider, field in (("yescaptcha", "softId"), ("anticaptcha", "softId"), ("2captcha", "softId"),
                            ("capmonster", "softId"), ("capsolver", "appId")):
        call = p.create_task_call(PRESETS[provider], "k", V3, soft_id=55)
        assert call.payload[field] == 55, provider
    assert "softId" not in p.create_task_call(PRESETS["capmonster"], "k", V3).payload


# ------------------------------------------------------------ identity rules


def test_ip_bound_kinds():
    assert {"cloudflare_challenge", "datadome", "aws_waf"} == p.IP_BOUND_KINDS


@pytest.mark.parametrize(("provider", "identity", "mode"), [
    ("capmonster", PROXIED, "cloudflare_cookie"),
    ("capmonster", BROWSER, "cloudflare_token"),
    ("anticaptcha", PROXIED, "cloudflare_cookie"),
    ("anticaptcha", None, "cloudflare_token"),
    ("capsolver", PROXIED, "cloudflare_cookie"),
    ("2captcha", PROXIED, "cloudflare_token"),  # 2captcha has no cookie mode
])
def test_cloudflare_mode_per_provider(provider, identity, mode):
    assert p.task_name(PRESETS[provider], CF, identity) == mode


def test_cloudflare_page_seen_over_http_needs_cookie_mode_and_a_proxy():
    with pytest.raises(ServiceError) as info:
        p.build_task(PRESETS["capmonster"], CF_HTTP, BROWSER)
    assert info.value.code == "PROXY_REQUIRED"
    assert "proxy" in info.value.description
    with pytest.raises(ServiceError) as info:
        p.build_task(PRESETS["2captcha"], CF_HTTP, PROXIED)
    assert info.value.code == "ERROR_REQUIRED_FIELDS"
    assert "capmonster" in info.value.description  # says who can do cookie mode
    with pytest.raises(ServiceError) as info:
        p.build_task(PRESETS["yescaptcha"], CF_HTTP, PROXIED)
    assert info.value.code == NOT_OFFERED
    assert p.build_task(PRESETS["capmonster"], CF_HTTP, PROXIED)["cloudflareTaskType"] == "cf_clearance"


def test_a_kind_the_provider_lacks_names_who_offers_it():
    with pytest.raises(ServiceError) as info:
        p.build_task(PRESETS["capsolver"], HC)
    assert info.value.code == NOT_OFFERED and info.value.reaction is Reaction.MISCONFIGURED
    assert "yescaptcha" in info.value.description and "anticaptcha" in info.value.description
    with pytest.raises(ServiceError) as info:
        p.build_task(PRESETS["yescaptcha"], DD, PROXIED)
    assert "capsolver, 2captcha, capmonster" in info.value.description
    assert providers_offering("mtcaptcha") == ("capsolver", "2captcha", "capmonster")


def test_user_agent_is_required_where_the_cookie_is_bound_to_it():
    for provider in ("capsolver", "2captcha", "capmonster"):
        with pytest.raises(ServiceError) as info:
            p.build_task(PRESETS[provider], DD, Identity(proxy=PROXY))
        assert info.value.code == "USER_AGENT_REQUIRED", provider
        assert info.value.reaction is Reaction.MISCONFIGURED
    with pytest.raises(ServiceError) as info:
        p.build_task(PRESETS["capmonster"], CF, None)
    assert info.value.code == "USER_AGENT_REQUIRED"


def test_no_user_agent_means_none_is_sent():
    for provider in ("capsolver", "2captcha", "capmonster", "anticaptcha"):
        for challenge in (V2, TS, HC, FUN):
            try:
                task = p.build_task(PRESETS[provider], challenge, None)
            except ServiceError:
                continue
            assert "userAgent" not in task, (provider, challenge.kind)


@pytest.mark.parametrize(("provider", "challenge", "field"), [
    ("anticaptcha", Challenge(kind="image", sitekey=None, page_url=URL, params=(("image_url", "x"),)), "image_body"),
    ("anticaptcha", Challenge(kind="geetest", sitekey=GT, page_url=URL, params=(("version", "3"),)), "challenge"),
    ("capmonster", Challenge(kind="friendly_captcha", sitekey=FCKEY, page_url=URL), "script_url"),
    ("capmonster", Challenge(kind="aws_waf", sitekey=AK, page_url=URL, params=(("iv", IV), ("context", CTX))),
     "challengeScript"),
    ("2captcha", Challenge(kind="datadome", sitekey=None, page_url=URL), "captcha_url"),
    ("capmonster", Challenge(kind="datadome", sitekey=None, page_url=URL,
                             params=(("captcha_url", DD_URL.replace("&cid=DDCID", "")),)), "cid"),
    ("anticaptcha", Challenge(kind="recaptcha_v2", sitekey=None, page_url=URL), "websiteKey"),
])
def test_a_missing_page_parameter_is_named(provider, challenge, field):
    with pytest.raises(ServiceError) as info:
        p.build_task(PRESETS[provider], challenge, PROXIED)
    assert info.value.code == "ERROR_REQUIRED_FIELDS"
    assert field in info.value.description
    assert info.value.reaction is Reaction.MISCONFIGURED


def test_capmonster_cookie_mode_needs_the_challenge_page_html():
    ch = Challenge(kind="cloudflare_challenge", sitekey=TKEY, page_url=URL)
    with pytest.raises(ServiceError) as info:
        p.build_task(PRESETS["capmonster"], ch, PROXIED)
    assert "html_base64" in info.value.description


@pytest.mark.parametrize(("scheme", "provider", "sent"), [
    ("socks5", "anticaptcha", "socks5"), ("https", "anticaptcha", "http"), ("https", "capmonster", "https"),
    ("socks4", "2captcha", "socks4"),
])
def test_proxy_type_per_dialect(scheme, provider, sent):
    identity = Identity(proxy=Proxy.from_url(f"{scheme}://u:p@198.51.100.7:1080"), user_agent=UA)
    assert p.build_task(PRESETS[provider], V2, identity)["proxyType"] == sent


def test_capsolver_proxy_string_without_credentials_and_with_socks():
    open_proxy = Identity(proxy=Proxy.from_url("http://198.51.100.7:8080"), user_agent=UA)
    assert p.build_task(PRESETS["capsolver"], DD, open_proxy)["proxy"] == "http:198.51.100.7:8080"
    socks = Identity(proxy=Proxy.from_url("socks5://u:p@198.51.100.7:1080"), user_agent=UA)
    assert p.build_task(PRESETS["capsolver"], DD, socks)["proxy"] == "socks5:198.51.100.7:1080:u:p"


def test_open_proxy_sends_empty_credentials_like_the_sdks():
    open_proxy = Identity(proxy=Proxy.from_url("http://198.51.100.7:8080"))
    task = p.build_task(PRESETS["anticaptcha"], HC, open_proxy)
    assert (task["proxyLogin"], task["proxyPassword"]) == ("", "")


def test_call_repr_masks_the_key_and_the_proxy_credentials():
    for provider in ("capsolver", "capmonster"):
        call = p.create_task_call(PRESETS[provider], "SUPER-SECRET", DD, identity=PROXIED, soft_id=1)
        shown = repr(call) + str(call)
        for secret in ("SUPER-SECRET", "ppass", "puser"):
            assert secret not in shown, (provider, secret)
        assert "203.0.113.5" not in shown or provider == "capmonster"  # the address is not a secret
        assert call.payload["clientKey"] == "SUPER-SECRET"
    assert "ppass" in json.dumps(p.create_task_call(PRESETS["capsolver"], "k", DD, identity=PROXIED).payload)


def test_sandbox_is_yescaptcha_shaped_and_offers_every_kind():
    sandbox, yes = PRESETS["sandbox"], PRESETS["yescaptcha"]
    for name, shape in yes.shapes.items():
        # Turnstile and hCaptcha take their page parameters (action, cData, rqdata) there,
        # which yescaptcha's types do not: anti-captcha's shapes.
        expected = PRESETS["anticaptcha"].shapes[name] if name in ("turnstile", "hcaptcha") else shape
        assert sandbox.shapes[name] == expected
    assert set(sandbox.shapes) == set(VARIANTS)
    assert sandbox.soft_id_field == "softId" and sandbox.proxy_style == "fields"


def test_legacy_task_types_view_still_maps_the_first_variants():
    for preset in PRESETS.values():
        assert set(preset.task_types) <= set(LEGACY_VARIANTS)
        for name, type_name in preset.task_types.items():
            assert type_name in preset.shapes[name].type_names
    assert PRESETS["capmonster"].task_types["recaptcha_v3_enterprise"] == "RecaptchaV3EnterpriseTask"
    assert "TurnstileTask" in PRESETS["capmonster"].all_type_names()


@pytest.mark.parametrize(("preset", "base_url"), [
    ("yescaptcha", "https://api.yescaptcha.com"), ("capsolver", "https://api.capsolver.com"),
    ("anticaptcha", "https://api.anti-captcha.com"), ("2captcha", "https://api.2captcha.com"),
    ("capmonster", "https://api.capmonster.cloud"), ("sandbox", "http://127.0.0.1:8975"),
])
def test_presets_have_the_real_base_urls(preset, base_url):
    assert get_preset(preset).base_url == base_url
    assert p.create_task_call(get_preset(preset), "k", V3).path == "/createTask"


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match=r"yescaptcha.*capsolver"):
        get_preset("nope")


def test_every_preset_has_a_typical_solve_for_every_kind_it_offers():
    for preset in PRESETS.values():
        if preset.name == "sandbox":
            continue
        for name in preset.shapes:
            key = "cloudflare_challenge" if name.startswith("cloudflare_") else name
            assert key in preset.typical_solve, (preset.name, name)
            assert preset.shapes[name].source


@pytest.mark.parametrize(("challenge", "expected"), [
    (V2, "recaptcha_v2"), (V2E, "recaptcha_v2_enterprise"), (V3E, "recaptcha_v3_enterprise"), (GT3, "geetest_v3"),
    (GT4, "geetest_v4"), (CF, "cloudflare_challenge"), (DD, "datadome"),
    (Challenge(kind="geetest", sitekey=GT, page_url=URL, params=(("challenge", "c"),)), "geetest_v3"),
    (Challenge(kind="geetest", sitekey=CID, page_url=URL), "geetest_v4"),
])
def test_variants(challenge, expected):
    assert p.variant(challenge) == expected


# ------------------------------------------------------ solution normalisation


def ready(solution, **extra):
    return body({"errorId": 0, "status": "ready", "solution": solution, **extra})


@pytest.mark.parametrize(("challenge", "solution", "token"), [
    (V2, {"gRecaptchaResponse": "03Atok"}, "03Atok"),
    (V3E, {"gRecaptchaResponse": "03Atok", "token": "03Atok"}, "03Atok"),  # 2captcha sends both
    (HC, {"gRecaptchaResponse": "P1_tok", "respKey": "E0_key", "userAgent": UA}, "P1_tok"),
    (TS, {"token": "0.tok", "userAgent": UA}, "0.tok"),
    (TS, {"gRecaptchaResponse": "0.tok"}, "0.tok"),  # yescaptcha's page names this field
    (IMAGE, {"text": "44795"}, "44795"),
    (IMAGE, {"text": 44795}, "44795"),  # tolerant of numbers
    (FUN, {"token": "1234|r=eu-west-1|lang=en"}, "1234|r=eu-west-1|lang=en"),
    (FRIENDLY, {"token": "frc-token"}, "frc-token"),
    (MT, {"token": "v1(mt-token)"}, "v1(mt-token)"),
    (CF, {"token": "0.cf", "userAgent": UA}, "0.cf"),  # token mode
])
def test_token_solutions_per_kind(challenge, solution, token):
    result = p.parse_task_result(200, ready(solution, cost="0.00120"), 9, challenge)
    assert result.token == token and result.task_id == 9 and result.cookies == ()
    assert result.cost == pytest.approx(0.0012)
    assert result.raw == solution
    assert result.user_agent == solution.get("userAgent")


def test_geetest_v3_token_is_the_three_fields_the_site_posts():
    raw = {"challenge": "0f759dd1ea6c4wc76cedc2991039ca4f23", "validate": "6275e26419211d1f526e674d97110e15",
           "seccode": "510cd9735583edcb158601067195a5eb|jordan"}
    result = p.parse_task_result(200, ready(raw), 1, GT3)
    assert json.loads(result.token) == {"geetest_challenge": raw["challenge"], "geetest_validate": raw["validate"],
                                        "geetest_seccode": raw["seccode"]}
    assert result.raw == raw
    no_seccode = p.parse_task_result(200, ready({"challenge": "c", "validate": "v"}), 1, GT3)
    assert json.loads(no_seccode.token)["geetest_seccode"] == "v|jordan"


def test_geetest_v4_token_keeps_the_five_fields():
    raw = {"captcha_id": CID, "lot_number": "e6c3bed2", "pass_token": "fad5eb52", "gen_time": 1683794919,
           "captcha_output": "XwmTZEJCJEnRIJBl"}
    token = json.loads(p.parse_task_result(200, ready(raw), 1, GT4).token)
    assert token == {**raw, "gen_time": "1683794919"}


@pytest.mark.parametrize("solution", [
    {"cookies": {"aws-waf-token": "AWS-TOKEN"}, "userAgent": UA},  # capmonster, cookieSolution
    {"cookie": "AWS-TOKEN"},  # capsolver
    {"cookie": "aws-waf-token=AWS-TOKEN; Path=/"},
    {"token": "AWS-TOKEN"},  # anti-captcha
])
def test_aws_waf_answer_becomes_the_aws_waf_token_cookie(solution):
    result = p.parse_task_result(200, ready(solution), 1, AWS)
    assert result.token == "AWS-TOKEN"
    assert result.cookies == (SolutionCookie("aws-waf-token", "AWS-TOKEN"),)


def test_datadome_cookie_string_keeps_domain_and_path():
    raw = {"cookie": "datadome=DDVALUE~x; Max-Age=31536000; Domain=.example.com; Path=/; Secure; SameSite=Lax"}
    result = p.parse_task_result(200, ready(raw), 1, DD)
    assert result.token == "DDVALUE~x"
    assert result.cookies == (SolutionCookie("datadome", "DDVALUE~x", domain=".example.com", path="/"),)


def test_datadome_capmonster_domains_shape():
    raw = {"domains": {"www.example.com": {"cookies": {"datadome": "P1w0V"}, "localStorage": None}},
           "url": None, "fingerprint": None}
    result = p.parse_task_result(200, ready(raw), 1, DD)
    assert result.cookies == (SolutionCookie("datadome", "P1w0V", domain="www.example.com"),)


@pytest.mark.parametrize(("solution", "user_agent"), [
    ({"cf_clearance": "CLEAR"}, None),  # capmonster: the user agent sent is the one it is bound to
    ({"cookies": {"cf_clearance": "CLEAR", "__cf_bm": "BM"}, "userAgent": UA}, UA),  # capsolver
    ({"cookies": {"cf_clearance": "CLEAR"}, "fingerprint": {"self.navigator.userAgent": UA},
      "url": URL, "domain": "shop.example.com"}, UA),  # anti-captcha AntiBotCookieTask
    ({"cookies": [{"name": "cf_clearance", "value": "CLEAR", "domain": ".example.com"}], "userAgent": UA}, UA),
])
def test_cloudflare_cookie_mode_answers(solution, user_agent):
    result = p.parse_task_result(200, ready(solution), 1, CF)
    assert result.token == "CLEAR"
    assert result.cookies[0].name == "cf_clearance" and result.cookies[0].value == "CLEAR"
    assert result.user_agent == user_agent


def test_user_agent_beside_the_solution_is_read_too():
    result = p.parse_task_result(200, ready({"token": "t"}, userAgent=UA), 1, TS)
    assert result.user_agent == UA


@pytest.mark.parametrize(("challenge", "solution"), [
    (V2, {"text": "not a recaptcha answer"}),
    (V2, {"gRecaptchaResponse": ""}),
    (IMAGE, {"gRecaptchaResponse": "03A"}),
    (TS, {"token": None}),
    (GT3, {"challenge": "c"}),
    (GT4, {"captcha_id": CID, "lot_number": "l", "gen_time": "1", "captcha_output": "o"}),
    (AWS, {}),
    (AWS, {"cookies": {"other": "x"}}),
    (DD, {"cookie": ""}),
    (DD, {"cookie": "other=1; Path=/"}),
    (CF, {"cookies": {}}),
    (CF, {"cookies": {"__cf_bm": "x"}}),
    (FUN, {"gRecaptchaResponse": "x"}),
    (None, {"nothing": "here"}),
])
def test_an_answer_of_the_wrong_shape_is_a_fault_never_success(challenge, solution):
    with pytest.raises(TransportFault) as info:
        p.parse_task_result(200, ready(solution), 1, challenge)
    assert info.value.code == "BAD_RESPONSE"
    assert info.value.reaction is Reaction.BACKOFF


def test_without_a_challenge_the_usual_token_fields_are_read():
    assert p.parse_task_result(200, ready({"text": "abc"}), 1).token == "abc"
    assert p.parse_task_result(200, ready({"gRecaptchaResponse": "03A"}), 1).token == "03A"


# ------------------------------------------------------------------ parsing


def test_create_task_usual_answer_keeps_the_task_id_type():
    assert p.parse_create_task(200, body({"errorId": 0, "taskId": "a-uuid"})) == ("a-uuid", None)
    assert p.parse_create_task(200, body({"errorId": 0, "taskId": 7})) == (7, None)
    big = 2**53 + 1  # 2captcha ids may exceed 2^32; JSON ints stay exact
    assert p.parse_create_task(200, b'{"errorId":0,"taskId":%d}' % big) == (big, None)


def test_create_task_answered_at_once():
    task_id, solution = p.parse_create_task(200, body(
        {"errorId": 0, "taskId": "t", "status": "ready", "solution": {"gRecaptchaResponse": "03Atok"}}))
    assert task_id == "t" and solution.token == "03Atok"
    # yescaptcha ImageToTextTaskMuggle: the text in the createTask answer.
    task_id, solution = p.parse_create_task(200, body(
        {"errorId": 0, "errorCode": "", "status": "ready", "solution": {"text": "44795"}, "taskId": "u"}), IMAGE)
    assert (task_id, solution.token) == ("u", "44795")


def test_create_task_without_task_id_is_a_fault():
    with pytest.raises(TransportFault):
        p.parse_create_task(200, body({"errorId": 0}))


@pytest.mark.parametrize("status", ["processing", "idle"])
def test_pending_statuses(status):
    assert p.parse_task_result(200, body({"errorId": 0, "status": status}), "t") is None


@pytest.mark.parametrize("answer", [
    {"errorId": 0, "status": "done"},
    {"errorId": 0, "status": None},
    {"errorId": 0, "status": "ready"},
    {"errorId": 0, "status": "ready", "solution": {}},
    {"errorId": 0, "status": "ready", "solution": "03A"},
    {"errorId": 0, "status": "ready", "solution": ["03A"]},
])
def test_unknown_status_or_broken_solution_is_a_fault_never_success(answer):
    with pytest.raises(TransportFault) as info:
        p.parse_task_result(200, body(answer), "t", V2)
    assert info.value.reaction is Reaction.BACKOFF


@pytest.mark.parametrize(("status", "answer", "code"), [
    (400, {"errorId": 1, "errorCode": "ERROR_INVALID_TASK_DATA", "errorDescription": "bad"}, "ERROR_INVALID_TASK_DATA"),
    (401, {"errorId": 1, "errorCode": "ERROR_KEY_DENIED_ACCESS"}, "ERROR_KEY_DENIED_ACCESS"),  # capsolver
    (200, {"errorId": 10, "errorCode": "ERROR_ZERO_BALANCE"}, "ERROR_ZERO_BALANCE"),  # anti-captcha numbers
    (200, {"errorId": "1", "errorCode": "ERROR_KEY_BANNED"}, "ERROR_KEY_BANNED"),
    (200, {"errorId": 1, "errorCode": "ERROR_NO_SLOT_AVAILABLE", "taskId": 0}, "ERROR_NO_SLOT_AVAILABLE"),  # capmonster
    (500, {"errorId": 1, "errorCode": "ERROR_SERVICE_UNAVALIABLE"}, "ERROR_SERVICE_UNAVALIABLE"),
])
def test_error_bodies_are_read_whatever_the_http_status(status, answer, code):
    with pytest.raises(ServiceError) as info:
        p.parse_task_result(status, body(answer), "t")
    assert info.value.code == code


def test_error_without_a_code_is_named_by_its_id():
    with pytest.raises(ServiceError) as info:
        p.decode(200, body({"errorId": 31}))
    assert info.value.code == "ERROR_ID_31"
    assert info.value.reaction is Reaction.BACKOFF  # unknown: transient with a budget


@pytest.mark.parametrize(("status", "raw", "code"), [
    (502, b"<html>Bad gateway</html>", "HTTP_ERROR"),
    (503, b"", "HTTP_ERROR"),
    (200, b"<html>not json</html>", "BAD_RESPONSE"),
    (200, b'{"status": "ready"}', "BAD_RESPONSE"),  # JSON without errorId
    (200, b"[1, 2]", "BAD_RESPONSE"),
    (200, b"\xff\xfe\x00garbage", "BAD_RESPONSE"),
    (500, body({"errorId": 0, "status": "processing"}), "HTTP_ERROR"),
])
def test_transport_faults(status, raw, code):
    with pytest.raises(TransportFault) as info:
        p.decode(status, raw)
    assert info.value.code == code
    assert info.value.reaction is Reaction.BACKOFF


@pytest.mark.parametrize(("status", "code"), [(404, "ERROR_PAGE_NOT_FOUND"), (405, "ERROR_NO_SUCH_METHOD"),
                                              (429, "ERROR_RATE_LIMIT")])
def test_statuses_without_a_body_that_mean_a_code(status, code):
    with pytest.raises(ServiceError) as info:
        p.decode(status, b"Not Found")
    assert info.value.code == code


@pytest.mark.parametrize(("value", "expected"), [
    (12.5, 12.5), (3, 3.0), ("0.0012", 0.0012), (" 7 ", 7.0), ("12,5", 12.5),
    ("abc", None), (None, None), (True, None), ("nan", None), ("inf", None), ([1], None),
])
def test_lenient_numbers(value, expected):
    assert p.parse_number(value) == (pytest.approx(expected) if expected is not None else None)


def test_balance_as_string_or_number():
    assert p.parse_balance(200, body({"errorId": 0, "balance": "12.34"})) == pytest.approx(12.34)
    assert p.parse_balance(200, body({"errorId": 0, "balance": 1000})) == 1000.0
    with pytest.raises(TransportFault):
        p.parse_balance(200, body({"errorId": 0}))


@pytest.mark.parametrize(("text", "cookie"), [
    ("datadome=abc; Max-Age=1; Domain=.e.com; Path=/x", SolutionCookie("datadome", "abc", ".e.com", "/x")),
    ("abc", None),
    ("=abc", None),
    ("", None),
])
def test_parse_set_cookie(text, cookie):
    assert p.parse_set_cookie(text) == cookie


# ------------------------------------------------------------------- prices
# (service/prices.py: the default cost table; kept here beside the shapes it prices)


def test_every_offered_variant_has_a_default_price_and_only_those():
    from scrapy_captcha.service import prices

    for provider, table in prices.PRICES.items():
        assert set(table) == set(PRESETS[provider].shapes), provider
        for entry in table.values():
            assert 0 < entry.usd_per_1000 < 50 and entry.source and entry.basis in ("doc", "list")


def test_yescaptcha_points_convert_to_dollars():
    from scrapy_captcha.service import prices

    # 15 points a NoCaptchaTaskProxyless solve (yc-doc x/joHTAw); 1000 points a yuan.
    assert prices.points_to_usd(1000) == pytest.approx(prices.USD_PER_CNY)
    assert prices.price("yescaptcha", "recaptcha_v2").usd_per_1000 == pytest.approx(15 * prices.USD_PER_CNY)
    assert prices.price("yescaptcha", "recaptcha_v2").basis == "doc"


def test_price_lookup_by_kind_takes_the_dearest_variant():
    from scrapy_captcha.service import prices

    assert prices.price("capmonster", "geetest") == prices.PRICES["capmonster"]["geetest_v3"]
    assert prices.price("anticaptcha", "cloudflare_challenge").usd_per_1000 == 2.0
    assert prices.estimate_usd("2captcha", "recaptcha_v2") == pytest.approx(0.00299)
    assert prices.price("sandbox", "recaptcha_v2") is None
    assert prices.price("yescaptcha", "datadome") is None
