"""Sans-I/O protocol: build the calls, parse the answers. No sockets here.

Each ``*_call`` function returns a :class:`Call` (path + JSON payload); each
``parse_*`` function takes the HTTP status and raw body bytes of the answer and
returns data or raises :class:`ServiceError` / :class:`TransportFault`.

Task shapes per provider × kind live in :mod:`.presets` (with their sources);
this module writes the fields each shape's builder style names, and reads each
kind's solution into one :class:`Solution` form.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..model import Challenge, Identity, Proxy, Reaction, ServiceError, Solution, SolutionCookie, TransportFault
from .errors import BAD_RESPONSE, HTTP_ERROR, rule_for
from .presets import Preset, TaskShape, providers_offering

#: Task statuses that mean "not yet" (capsolver says ``idle`` for queued tasks).
PENDING_STATUSES = frozenset({"processing", "idle", "pending", "queued"})

#: Kinds whose token or cookie is bound to the IP that solved it: tasks for them
#: carry the crawl's proxy where the provider takes one (issue 11, item 3).
IP_BOUND_KINDS = frozenset({"cloudflare_challenge", "datadome", "aws_waf"})

#: The task needs the crawl's proxy at this provider and the request has none.
PROXY_REQUIRED = "PROXY_REQUIRED"
#: The task needs the crawl's user agent at this provider and none was given.
USER_AGENT_REQUIRED = "USER_AGENT_REQUIRED"
#: The challenge lacks a parameter the task needs (the service's own code for it).
REQUIRED_FIELDS = "ERROR_REQUIRED_FIELDS"

#: Payload keys whose values never appear in a repr (API key, proxy credentials).
_SECRET_KEYS = frozenset({"clientKey", "proxyLogin", "proxyPassword", "proxy"})


@dataclass(frozen=True)
class Call:
    path: str
    payload: dict[str, Any]

    def __repr__(self) -> str:
        # The payload holds the client key and maybe proxy credentials: never
        # let them reach a log via repr.
        return f"Call({self.path!r}, {_masked(self.payload)!r})"

    __str__ = __repr__


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in _SECRET_KEYS and v not in (None, "") else _masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


# ------------------------------------------------------------------ variants


def variant(challenge: Challenge) -> str:
    """Which task variant a challenge needs (a key of ``Preset.shapes``).

    The Cloudflare challenge page stays ``cloudflare_challenge`` here: its mode
    (cookie or token) depends on the provider and the request, see
    :func:`cloudflare_mode`.
    """
    kind = challenge.kind
    if kind in ("recaptcha_v2", "recaptcha_v3"):
        return kind + ("_enterprise" if challenge.enterprise else "")
    if kind == "geetest":
        return "geetest_v4" if _geetest_version(challenge) == 4 else "geetest_v3"
    return kind


def _geetest_version(challenge: Challenge) -> int:
    version = (challenge.param("version") or "").strip()
    if version in ("3", "4"):
        return int(version)
    # No version in the page data: v3 always comes with a per-page challenge.
    return 3 if challenge.param("challenge") else 4


def cloudflare_mode(preset: Preset, challenge: Challenge, identity: Identity | None) -> str:
    """``cloudflare_cookie`` or ``cloudflare_token`` for a Cloudflare challenge page.

    Cookie mode (``cf_clearance`` minted through the crawl's proxy) where the
    provider has it and the request has a proxy; else token mode where the
    provider has it and the challenge carries the page's cData/chlPageData
    (only a browser sees them); else the reason it cannot be solved is raised.
    """
    proxy = identity.proxy if identity else None
    has_cookie = "cloudflare_cookie" in preset.shapes
    has_token = "cloudflare_token" in preset.shapes
    if has_cookie and proxy is not None:
        return "cloudflare_cookie"
    if has_token and challenge.cdata and challenge.chl_page_data:
        return "cloudflare_token"
    if has_cookie:
        raise _proxy_required(preset, "cloudflare_challenge", "cookie mode (cf_clearance)")
    if has_token:
        raise ServiceError(
            REQUIRED_FIELDS,
            f"provider {preset.name!r} solves the Cloudflare challenge page in token mode only, which needs "
            "the page's cData and chlPageData (captured in a browser); this challenge has none. Cookie mode "
            f"(with a proxy) is offered by: {', '.join(providers_offering('cloudflare_cookie'))}",
            rule_for(REQUIRED_FIELDS).reaction,
        )
    raise _not_offered(preset, "cloudflare_challenge")


def _shape_for(preset: Preset, name: str) -> TaskShape:
    shape = preset.shapes.get(name)
    if shape is None:
        raise _not_offered(preset, name)
    return shape


def _not_offered(preset: Preset, name: str) -> ServiceError:
    if name == "cloudflare_challenge":
        others = sorted(set(providers_offering("cloudflare_cookie")) | set(providers_offering("cloudflare_token")))
    else:
        others = list(providers_offering(name))
    where = f"offered by: {', '.join(others)}" if others else "no supported provider offers it"
    # Same outcome as the service refusing the type: a configuration matter.
    return ServiceError(
        "ERROR_TASK_NOT_SUPPORTED",
        f"provider {preset.name!r} does not offer {name} ({where})",
        rule_for("ERROR_TASK_NOT_SUPPORTED").reaction,
    )


def _proxy_required(preset: Preset, name: str, what: str = "") -> ServiceError:
    # Not a service code: no rule in errors.py yet, so the reaction is set here.
    # MISCONFIGURED: another provider may solve it without a proxy; else drop
    # with the advice.
    return ServiceError(
        PROXY_REQUIRED,
        f"provider {preset.name!r} solves {name}{' in ' + what if what else ''} only through the crawl's own "
        "proxy, and this request has none: send it through a proxy (meta['proxy']) or configure a provider "
        "that solves it without one",
        Reaction.MISCONFIGURED,
    )


def _user_agent_required(preset: Preset, name: str) -> ServiceError:
    return ServiceError(
        USER_AGENT_REQUIRED,
        f"provider {preset.name!r} needs the crawl's user agent for {name}, and none was given",
        Reaction.MISCONFIGURED,
    )


def _missing(preset: Preset, name: str, fields: list[str]) -> ServiceError:
    return ServiceError(
        REQUIRED_FIELDS,
        f"{name} task for {preset.name!r} needs {', '.join(fields)}, which the page did not give",
        rule_for(REQUIRED_FIELDS).reaction,
    )


# -------------------------------------------------------------- task building


@dataclass(frozen=True)
class _Ctx:
    """What a field builder needs: the shape, the challenge and the identity in use."""

    preset: Preset
    name: str  # variant name, for messages
    shape: TaskShape
    challenge: Challenge
    proxy: Proxy | None
    user_agent: str | None

    def param(self, name: str) -> str | None:
        value = self.challenge.param(name)
        return value if value else None

    def need(self, **values: Any) -> None:
        missing = [k for k, v in values.items() if v in (None, "")]
        if missing:
            raise _missing(self.preset, self.name, missing)

    def need_user_agent(self) -> str:
        if not self.user_agent:
            raise _user_agent_required(self.preset, self.name)
        return self.user_agent


def _put(task: dict[str, Any], **values: Any) -> None:
    """Set the fields that have a value; the others are left out, not sent empty."""
    for key, value in values.items():
        if value is not None and value != "":
            task[key] = value


def _recaptcha_domain(api_domain: str | None) -> str | None:
    """``www.recaptcha.net`` for pages that load reCAPTCHA from recaptcha.net, else None.

    ``www.google.com`` is every provider's default; anti-captcha accepts only
    these two values, so any other host is not sent.
    """
    host = (api_domain or "").strip().lower().rstrip("/")
    if "://" in host:
        host = urlsplit(host).hostname or ""
    return "www.recaptcha.net" if host in ("recaptcha.net", "www.recaptcha.net") else None


def _page_action(challenge: Challenge) -> str:
    # reCAPTCHA v3 needs an action; "verify" is what most providers assume by default.
    return challenge.action or "verify"


def _v3_min_score() -> float:
    # anti-captcha and 2captcha require one of 0.3 / 0.7 / 0.9; 0.7 is in every
    # provider's accepted range and what most sites check against.
    return 0.7


def _funcaptcha_data(blob: str | None) -> str | None:
    if not blob:
        return None
    # The providers take the blob as a stringified {"blob": ...} object.
    return blob if blob.lstrip().startswith("{") else json.dumps({"blob": blob})


def _image_body(ctx: _Ctx) -> str:
    body = ctx.param("image_body")
    ctx.need(image_body=body)
    assert body is not None
    # Base64 without a data: prefix, as every provider asks.
    if body.startswith("data:") and "," in body:
        body = body.split(",", 1)[1]
    return body.strip()


def _build_recaptcha_v2(ctx: _Ctx, task: dict[str, Any]) -> None:
    ch, style = ctx.challenge, ctx.shape.style
    invisible = True if ch.invisible else None
    if style == "yc":
        _put(task, isInvisible=invisible)
    elif style == "cs":
        _put(task, isInvisible=invisible, pageAction=ch.action,
             enterprisePayload={"s": ch.data_s} if ch.data_s else None,
             apiDomain=_recaptcha_domain(ch.api_domain), userAgent=ctx.user_agent)
    elif style == "ac":
        _put(task, recaptchaDataSValue=ch.data_s, isInvisible=invisible)
        if ctx.proxy is not None:
            _put(task, userAgent=ctx.user_agent)
    elif style == "2c":
        _put(task, recaptchaDataSValue=ch.data_s, isInvisible=invisible,
             apiDomain=_twocaptcha_domain(ch.api_domain), userAgent=ctx.user_agent)
    elif style == "cm":
        _put(task, recaptchaDataSValue=ch.data_s, isInvisible=invisible, userAgent=ctx.user_agent)


def _twocaptcha_domain(api_domain: str | None) -> str | None:
    # 2c-doc recaptcha-v3: "Domain used to load the captcha: google.com or recaptcha.net".
    return "recaptcha.net" if _recaptcha_domain(api_domain) else None


def _build_recaptcha_v2_enterprise(ctx: _Ctx, task: dict[str, Any]) -> None:
    ch, style = ctx.challenge, ctx.shape.style
    payload = {"s": ch.data_s} if ch.data_s else None
    invisible = True if ch.invisible else None
    if style == "yc":
        _put(task, enterprisePayload=payload)
    elif style == "cs":
        _put(task, enterprisePayload=payload, isInvisible=invisible, pageAction=ch.action,
             apiDomain=_recaptcha_domain(ch.api_domain), userAgent=ctx.user_agent)
    elif style == "ac":
        _put(task, enterprisePayload=payload, isInvisible=invisible, apiDomain=_recaptcha_domain(ch.api_domain))
        if ctx.proxy is not None:
            _put(task, userAgent=ctx.user_agent)
    elif style == "2c":
        _put(task, enterprisePayload=payload, isInvisible=invisible,
             apiDomain=_twocaptcha_domain(ch.api_domain), userAgent=ctx.user_agent)
    elif style == "cm":
        _put(task, enterprisePayload=payload, apiDomain=_recaptcha_domain(ch.api_domain),
             pageAction=ch.action, userAgent=ctx.user_agent)


def _build_recaptcha_v3(ctx: _Ctx, task: dict[str, Any], *, enterprise: bool = False) -> None:
    ch, style = ctx.challenge, ctx.shape.style
    task["pageAction"] = _page_action(ch)
    if style in ("ac", "2c", "cm"):
        task["minScore"] = _v3_min_score()
    if enterprise and style in ("ac", "2c"):
        # Same type as non-Enterprise, with the flag (ac-doc RecaptchaV3Enterprise, 2c-doc recaptcha-v3).
        task["isEnterprise"] = True
    if style == "2c":
        _put(task, apiDomain=_twocaptcha_domain(ch.api_domain))


def _build_hcaptcha(ctx: _Ctx, task: dict[str, Any]) -> None:
    ch = ctx.challenge
    if ctx.shape.style == "ac":
        _put(task, isInvisible=True if ch.invisible else None,
             enterprisePayload={"rqdata": ch.rqdata} if ch.rqdata else None, userAgent=ctx.user_agent)
    # yescaptcha (yc-sdk): websiteURL and websiteKey only.


def _build_turnstile(ctx: _Ctx, task: dict[str, Any]) -> None:
    ch, style = ctx.challenge, ctx.shape.style
    if style == "cs":
        meta = {k: v for k, v in (("action", ch.action), ("cdata", ch.cdata)) if v}
        _put(task, metadata=meta or None)
    elif style == "ac":
        _put(task, action=ch.action, cData=ch.cdata, chlPageData=ch.chl_page_data)
    elif style == "2c":
        _put(task, action=ch.action, data=ch.cdata, pagedata=ch.chl_page_data, userAgent=ctx.user_agent)
    elif style == "cm":
        _put(task, pageAction=ch.action, data=ch.cdata)
    # yescaptcha: websiteURL and websiteKey only.


def _build_cloudflare_token(ctx: _Ctx, task: dict[str, Any]) -> None:
    ch, style = ctx.challenge, ctx.shape.style
    if style == "ac":
        _put(task, action=ch.action, cData=ch.cdata, chlPageData=ch.chl_page_data)
    elif style == "2c":
        _put(task, action=ch.action, data=ch.cdata, pagedata=ch.chl_page_data, userAgent=ctx.user_agent)
    elif style == "cm":
        # cm-doc option 2: all four required with cloudflareTaskType "token".
        ctx.need(action=ch.action)
        task.update(cloudflareTaskType="token", pageAction=ch.action, data=ch.cdata,
                    pageData=ch.chl_page_data, userAgent=ctx.need_user_agent())


def _build_cloudflare_cookie(ctx: _Ctx, task: dict[str, Any]) -> None:
    style = ctx.shape.style
    if style == "cs":
        _put(task, userAgent=ctx.user_agent)
    elif style == "ac":
        pass  # AntiBotCookieTask: the worker's own browser; its user agent comes back.
    elif style == "cm":
        html = ctx.param("html_base64")
        ctx.need(html_base64=html)
        task["websiteKey"] = ctx.challenge.sitekey or "xxxxxxxxxx"  # cm-doc: "any string is acceptable"
        task.update(cloudflareTaskType="cf_clearance", htmlPageBase64=html, userAgent=ctx.need_user_agent())


def _build_image(ctx: _Ctx, task: dict[str, Any]) -> None:
    task["body"] = _image_body(ctx)


def _build_geetest(ctx: _Ctx, task: dict[str, Any], *, version: int) -> None:
    ch, style = ctx.challenge, ctx.shape.style
    server = ctx.param("api_server")
    if server and server.strip().lower() in ("api.geetest.com", "https://api.geetest.com"):
        server = None  # the default: not sent
    if version == 3:
        gt, challenge = ch.sitekey, ctx.param("challenge")
        ctx.need(gt=gt, challenge=challenge)
        task.update(gt=gt, challenge=challenge)
    else:
        ctx.need(captchaId=ch.sitekey)
    if style == "cs":
        if version == 4:
            task["captchaId"] = ch.sitekey
        _put(task, geetestApiServerSubdomain=server)
    elif style == "2c":
        if version == 4:
            task.update(version=4, initParameters={"captcha_id": ch.sitekey})
        _put(task, geetestApiServerSubdomain=server, userAgent=ctx.user_agent)
    elif style in ("ac", "cm"):
        if version == 4:
            task["gt"] = ch.sitekey
        task["version"] = version
        _put(task, geetestApiServerSubdomain=server)
        if style == "cm" or ctx.proxy is not None:
            # ac-doc GeeTestTask: userAgent required with a proxy.
            _put(task, userAgent=ctx.user_agent)


def _build_aws_waf(ctx: _Ctx, task: dict[str, Any]) -> None:
    ch, style = ctx.challenge, ctx.shape.style
    key, iv, context = ch.sitekey, ctx.param("iv"), ctx.param("context")
    challenge_js, captcha_js = ctx.param("challenge_script"), ctx.param("captcha_script")
    if style == "cs":
        _put(task, awsKey=key, awsIv=iv, awsContext=context, awsChallengeJS=challenge_js, awsApiJs=captcha_js)
    elif style == "ac":
        ctx.need(websiteKey=key, iv=iv, context=context)
        task.update(websiteKey=key, iv=iv, context=context)
        if captcha_js and captcha_js.rsplit("?", 1)[0].endswith("jsapi.js"):
            _put(task, challengeScript=challenge_js, jsapiScript=captcha_js)
        else:
            _put(task, challengeScript=challenge_js, captchaScript=captcha_js)
    elif style == "cm":
        # cm-doc amazon-task option 2 (challenge page): all four required.
        ctx.need(websiteKey=key, iv=iv, context=context, challengeScript=challenge_js)
        task.update(websiteKey=key, iv=iv, context=context, challengeScript=challenge_js)
        _put(task, captchaScript=captcha_js)
        task["cookieSolution"] = True  # answer as the aws-waf-token cookie


def _build_funcaptcha(ctx: _Ctx, task: dict[str, Any]) -> None:
    ch = ctx.challenge
    ctx.need(websitePublicKey=ch.sitekey)
    task["websitePublicKey"] = ch.sitekey
    _put(task, funcaptchaApiJSSubdomain=ctx.param("api_subdomain"), data=_funcaptcha_data(ctx.param("data")))
    if ctx.shape.style in ("2c", "cm") or ctx.proxy is not None:
        _put(task, userAgent=ctx.user_agent)


def _build_friendly(ctx: _Ctx, task: dict[str, Any]) -> None:
    if ctx.shape.style == "cm":
        script = ctx.param("script_url")
        ctx.need(script_url=script)
        task["class"] = "friendly"
        task["metadata"] = {"apiGetLib": script}
        _put(task, userAgent=ctx.user_agent)


def _build_mtcaptcha(ctx: _Ctx, task: dict[str, Any]) -> None:
    ch = ctx.challenge
    if ctx.shape.style == "cm":
        _put(task, pageAction=ch.action, isInvisible=True if ch.invisible else None, userAgent=ctx.user_agent)


def _build_datadome(ctx: _Ctx, task: dict[str, Any]) -> None:
    captcha_url = ctx.param("captcha_url")
    ctx.need(captcha_url=captcha_url)
    user_agent = ctx.need_user_agent()  # the cookie is bound to it at every provider
    if ctx.shape.style == "cm":
        # The ``datadome`` cookie the block page set: the captcha URL carries it as ``cid``
        # (the dd object's own cid is the initial one, ``initialCid``).
        query = parse_qs(urlsplit(captcha_url or "").query)
        cookie = (query.get("cid") or [""])[0] or ctx.param("cid")
        ctx.need(cid=cookie)
        task["class"] = "DataDome"
        task["metadata"] = {"captchaUrl": captcha_url, "datadomeCookie": f"datadome={cookie}"}
        task["userAgent"] = user_agent
    else:
        task.update(captchaUrl=captcha_url, userAgent=user_agent)


_BUILDERS: Mapping[str, Callable[[_Ctx, dict[str, Any]], None]] = {
    "recaptcha_v2": _build_recaptcha_v2,
    "recaptcha_v2_enterprise": _build_recaptcha_v2_enterprise,
    "recaptcha_v3": _build_recaptcha_v3,
    "recaptcha_v3_enterprise": lambda ctx, task: _build_recaptcha_v3(ctx, task, enterprise=True),
    "hcaptcha": _build_hcaptcha,
    "turnstile": _build_turnstile,
    "cloudflare_token": _build_cloudflare_token,
    "cloudflare_cookie": _build_cloudflare_cookie,
    "image": _build_image,
    "geetest_v3": lambda ctx, task: _build_geetest(ctx, task, version=3),
    "geetest_v4": lambda ctx, task: _build_geetest(ctx, task, version=4),
    "aws_waf": _build_aws_waf,
    "funcaptcha": _build_funcaptcha,
    "friendly_captcha": _build_friendly,
    "mtcaptcha": _build_mtcaptcha,
    "datadome": _build_datadome,
}


def _proxy_fields(preset: Preset, shape: TaskShape, proxy: Proxy) -> dict[str, Any]:
    login = proxy.login or ""
    password = proxy.password.reveal() if proxy.password else ""
    if preset.proxy_style == "string":
        # cs-doc api-use-params: "socks5:192.191.100.10:4780:user:pwd".
        scheme = proxy.scheme if proxy.scheme in preset.proxy_types else "http"
        text = f"{scheme}:{proxy.host}:{proxy.port}"
        if login or password:
            text += f":{login}:{password}"
        return {"proxy": text}
    fields: dict[str, Any] = {}
    if shape.proxied != "AntiBotCookieTask":  # ac-sdk antibotcookietask.py sends no proxyType
        fields["proxyType"] = proxy.scheme if proxy.scheme in preset.proxy_types else "http"
    # Login and password are sent empty for an IP-allow-listed proxy, as the official SDKs do.
    fields.update(proxyAddress=proxy.host, proxyPort=int(proxy.port), proxyLogin=login, proxyPassword=password)
    return fields


#: Variants whose task carries the sitekey as ``websiteKey`` (the others name it
#: their own way: gt/captchaId, websitePublicKey, awsKey, or take none).
_TAKES_WEBSITE_KEY = frozenset({
    "recaptcha_v2", "recaptcha_v2_enterprise", "recaptcha_v3", "recaptcha_v3_enterprise", "hcaptcha",
    "turnstile", "cloudflare_token", "friendly_captcha", "mtcaptcha",
})


def task_name(preset: Preset, challenge: Challenge, identity: Identity | None = None) -> str:
    """The shape name (a key of ``Preset.shapes``) used for ``challenge`` with ``identity``."""
    name = variant(challenge)
    if name == "cloudflare_challenge":
        return cloudflare_mode(preset, challenge, identity)
    return name


def build_task(preset: Preset, challenge: Challenge, identity: Identity | None = None) -> dict[str, Any]:
    """The ``task`` object for ``challenge`` in ``preset``'s dialect.

    With ``identity.proxy`` set, the provider's proxy task type and proxy
    fields are used where it has them (it is the caller's choice which kinds
    get the proxy: see :data:`IP_BOUND_KINDS`); ``identity.user_agent`` is sent
    where the dialect takes one. Raises :class:`ServiceError`:
    ``ERROR_TASK_NOT_SUPPORTED`` for a kind the provider does not offer,
    ``PROXY_REQUIRED`` / ``USER_AGENT_REQUIRED`` when the provider needs the
    crawl's proxy or user agent and has none, ``ERROR_REQUIRED_FIELDS`` when
    the challenge lacks a parameter the task needs.
    """
    name = task_name(preset, challenge, identity)
    shape = _shape_for(preset, name)
    proxy = identity.proxy if identity else None
    user_agent = (identity.user_agent or None) if identity else None
    if proxy is not None and identity is not None and identity.proxy_only_if_required and shape.proxyless:
        proxy = None
    if proxy is not None and shape.proxied:
        task_type = shape.proxied
    elif shape.proxyless:
        task_type, proxy = shape.proxyless, None
    else:
        raise _proxy_required(preset, name)
    ctx = _Ctx(preset, name, shape, challenge, proxy, user_agent)
    task: dict[str, Any] = {"type": task_type}
    if name != "image":  # an image task is the image alone
        task["websiteURL"] = challenge.page_url
    if name in _TAKES_WEBSITE_KEY:
        if not challenge.sitekey:
            raise _missing(preset, name, ["websiteKey (the sitekey)"])
        task["websiteKey"] = challenge.sitekey
    _BUILDERS[name](ctx, task)
    if proxy is not None:
        task.update(_proxy_fields(preset, shape, proxy))
    return task


def create_task_call(
    preset: Preset,
    api_key: str,
    challenge: Challenge,
    *,
    identity: Identity | None = None,
    soft_id: str | int | None = None,
) -> Call:
    payload: dict[str, Any] = {"clientKey": api_key, "task": build_task(preset, challenge, identity)}
    if soft_id is not None and preset.soft_id_field:
        payload[preset.soft_id_field] = soft_id
    return Call("/createTask", payload)


def task_result_call(api_key: str, task_id: Any) -> Call:
    # task_id keeps its JSON type: int for anti-captcha family, str for others.
    return Call("/getTaskResult", {"clientKey": api_key, "taskId": task_id})


def balance_call(api_key: str) -> Call:
    return Call("/getBalance", {"clientKey": api_key})


def report_path(preset: Preset, kind: str) -> str | None:
    """The endpoint that reports a refused answer for ``kind`` (a kind or a variant), or None."""
    names = [kind]
    if kind in ("recaptcha_v2", "recaptcha_v3"):
        names.append(kind + "_enterprise")
    elif kind == "geetest":
        names = ["geetest_v3", "geetest_v4"]
    elif kind == "cloudflare_challenge":
        names = ["cloudflare_token", "cloudflare_cookie"]
    for name in names:
        shape = preset.shapes.get(name)
        if shape is not None and shape.report:
            return shape.report
    return None


def report_call(
    preset: Preset, api_key: str, solution_or_task_id: Solution | Any, kind: str | None = None
) -> Call | None:
    """The call that reports an answer the site refused, or None where there is none.

    ``kind`` is the challenge's kind or variant: the endpoint differs per kind
    (anti-captcha has one for images, one for reCAPTCHA, one for hCaptcha and
    none for Turnstile). Without a kind nothing is reported: a report sent to
    the wrong endpoint is worse than none.
    """
    task_id = solution_or_task_id.task_id if isinstance(solution_or_task_id, Solution) else solution_or_task_id
    if kind is None or task_id in (None, ""):
        return None
    path = report_path(preset, kind)
    if path is None:
        return None
    payload: dict[str, Any] = {"clientKey": api_key, "taskId": task_id}
    if path == "/feedbackTask":
        payload["result"] = {"invalid": True}
    return Call(path, payload)


# ---------------------------------------------------------------- parsing


def parse_number(value: Any) -> float | None:
    """Lenient: services send ``12.3``, ``"12.3"``, ``"12,3"`` or nothing."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _short(body: bytes, limit: int = 120) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return text.replace("\n", " ") + ("…" if len(body) > limit else "")


def decode(status: int, body: bytes) -> dict[str, Any]:
    """Turn one HTTP answer into a success dict, or raise the right error.

    The JSON body wins over the status: capsolver answers 400/401 with a normal
    error body, and capmonster may send ``taskId: 0`` beside an error.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or "errorId" not in data:
        if status == 404:
            raise ServiceError("ERROR_PAGE_NOT_FOUND", f"HTTP 404: {_short(body)}",
                               rule_for("ERROR_PAGE_NOT_FOUND").reaction)
        if status == 405:
            raise ServiceError("ERROR_NO_SUCH_METHOD", f"HTTP 405: {_short(body)}",
                               rule_for("ERROR_NO_SUCH_METHOD").reaction)
        if status == 429:
            raise ServiceError("ERROR_RATE_LIMIT", "HTTP 429", rule_for("ERROR_RATE_LIMIT").reaction)
        if status >= 500:
            raise TransportFault(HTTP_ERROR, f"HTTP {status}: {_short(body)}",
                                 rule_for(HTTP_ERROR).reaction)
        what = "JSON without errorId" if isinstance(data, dict) else "not a JSON object"
        raise TransportFault(BAD_RESPONSE, f"HTTP {status}, {what}: {_short(body)}",
                             rule_for(BAD_RESPONSE).reaction)
    error_id = data.get("errorId")
    if error_id not in (0, "0", None, False):
        code = str(data.get("errorCode") or f"ERROR_ID_{error_id}")
        description = str(data.get("errorDescription") or "")
        raise ServiceError(code, description, rule_for(code).reaction)
    if status >= 500:
        raise TransportFault(HTTP_ERROR, f"HTTP {status} with a success body",
                             rule_for(HTTP_ERROR).reaction)
    return data


def _bad(message: str) -> TransportFault:
    return TransportFault(BAD_RESPONSE, message, rule_for(BAD_RESPONSE).reaction)


def _text(value: Any) -> str | None:
    """A non-empty string, or a number as text; anything else is None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _first(raw: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = _text(raw.get(key))
        if value is not None:
            return value
    return None


def _user_agent(raw: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    ua = _first(raw, "userAgent", "user_agent", "useragent") or _first(data, "userAgent")
    if ua:
        return ua
    # anti-captcha AntiBotCookieTask: the worker's browser fingerprint / last request headers.
    for holder, key in (("fingerprint", "self.navigator.userAgent"), ("headers", "User-Agent"),
                        ("headers", "user-agent")):
        inner = raw.get(holder)
        if isinstance(inner, dict):
            ua = _text(inner.get(key))
            if ua:
                return ua
    return None


def parse_set_cookie(text: str, default_name: str | None = None) -> SolutionCookie | None:
    """``"datadome=abc; Max-Age=31536000; Domain=.example.com; Path=/; Secure"`` -> a cookie.

    A bare value (no ``=`` in the first part) is named ``default_name``.
    """
    parts = [p.strip() for p in text.split(";")]
    if not parts or not parts[0]:
        return None
    first = parts[0]
    if "=" in first:
        name, value = (s.strip() for s in first.split("=", 1))
    elif default_name:
        name, value = default_name, first
    else:
        return None
    if not name or not value:
        return None
    domain, path = None, "/"
    for attr in parts[1:]:
        key, _, val = attr.partition("=")
        key = key.strip().lower()
        if key == "domain" and val.strip():
            domain = val.strip()
        elif key == "path" and val.strip():
            path = val.strip()
    return SolutionCookie(name, value, domain=domain, path=path)


def _cookies_from(value: Any) -> list[SolutionCookie]:
    """Cookies in any of the shapes providers use: a dict, a list of dicts, a header string."""
    out: list[SolutionCookie] = []
    if isinstance(value, dict):
        for name, val in value.items():
            text = _text(val)
            if isinstance(name, str) and name and text is not None:
                out.append(SolutionCookie(name, text))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                name, text = _text(item.get("name")), _text(item.get("value"))
                if name and text is not None:
                    out.append(SolutionCookie(name, text, domain=_text(item.get("domain")),
                                              path=_text(item.get("path")) or "/"))
    elif isinstance(value, str):
        # "a=1; b=2" (a Cookie header) or one Set-Cookie line.
        cookie = parse_set_cookie(value)
        attrs = {"max-age", "domain", "path", "expires", "secure", "samesite", "httponly"}
        if cookie is not None and any(p.strip().split("=", 1)[0].lower() in attrs for p in value.split(";")[1:]):
            out.append(cookie)
        else:
            for part in value.split(";"):
                name, sep, val = part.strip().partition("=")
                if sep and name and val:
                    out.append(SolutionCookie(name, val))
    return out


def _token_solution(raw: Mapping[str, Any], *keys: str) -> tuple[str, tuple[SolutionCookie, ...]]:
    token = _first(raw, *keys)
    if token is None:
        raise _bad(f"solution without {' / '.join(keys)} ({sorted(raw)})")
    return token, ()


def _geetest_v3(raw: Mapping[str, Any]) -> tuple[str, tuple[SolutionCookie, ...]]:
    challenge, validate = _first(raw, "challenge", "geetest_challenge"), _first(raw, "validate", "geetest_validate")
    if challenge is None or validate is None:
        raise _bad(f"GeeTest v3 solution without challenge/validate ({sorted(raw)})")
    # The widget's own rule when no seccode comes back: validate + "|jordan".
    seccode = _first(raw, "seccode", "geetest_seccode") or f"{validate}|jordan"
    token = {"geetest_challenge": challenge, "geetest_validate": validate, "geetest_seccode": seccode}
    return json.dumps(token, sort_keys=True), ()


_GEETEST_V4_FIELDS = ("captcha_id", "lot_number", "pass_token", "gen_time", "captcha_output")


def _geetest_v4(raw: Mapping[str, Any]) -> tuple[str, tuple[SolutionCookie, ...]]:
    values = {k: _text(raw.get(k)) for k in _GEETEST_V4_FIELDS}
    missing = [k for k, v in values.items() if v is None]
    if missing:
        raise _bad(f"GeeTest v4 solution without {', '.join(missing)}")
    return json.dumps(values, sort_keys=True), ()


def _aws_waf(raw: Mapping[str, Any]) -> tuple[str, tuple[SolutionCookie, ...]]:
    value = None
    cookies = raw.get("cookies")
    if isinstance(cookies, dict):
        value = _text(cookies.get("aws-waf-token"))  # capmonster with cookieSolution
    if value is None and isinstance(raw.get("cookie"), str):
        cookie = parse_set_cookie(raw["cookie"], default_name="aws-waf-token")  # capsolver
        value = cookie.value if cookie is not None and cookie.name == "aws-waf-token" else None
    if value is None:
        value = _first(raw, "token", "aws-waf-token", "existing_token")  # anti-captcha: "token"
    if value is None:
        raise _bad(f"AWS WAF solution without a token ({sorted(raw)})")
    return value, (SolutionCookie("aws-waf-token", value),)


def _datadome(raw: Mapping[str, Any]) -> tuple[str, tuple[SolutionCookie, ...]]:
    cookie = None
    if isinstance(raw.get("cookie"), str):
        cookie = parse_set_cookie(raw["cookie"], default_name="datadome")  # capsolver, 2captcha
    domains = raw.get("domains")
    if cookie is None and isinstance(domains, dict):
        # capmonster: {"domains": {"www.example.com": {"cookies": {"datadome": "..."}}}}
        for host, entry in domains.items():
            found = _cookies_from(entry.get("cookies")) if isinstance(entry, dict) else []
            for item in found:
                if item.name == "datadome":
                    cookie = SolutionCookie(item.name, item.value, domain=host if isinstance(host, str) else None)
                    break
            if cookie is not None:
                break
    if cookie is None:
        found = [c for c in _cookies_from(raw.get("cookies")) if c.name == "datadome"]
        cookie = found[0] if found else None
    if cookie is None or cookie.name != "datadome":
        raise _bad(f"DataDome solution without a datadome cookie ({sorted(raw)})")
    return cookie.value, (cookie,)


def _cloudflare(raw: Mapping[str, Any]) -> tuple[str, tuple[SolutionCookie, ...]]:
    cookies = _cookies_from(raw.get("cookies"))
    clearance = _text(raw.get("cf_clearance"))  # capmonster cookie mode
    if clearance is not None and not any(c.name == "cf_clearance" for c in cookies):
        cookies.insert(0, SolutionCookie("cf_clearance", clearance))
    if isinstance(raw.get("cookie"), str) and not cookies:
        cookies = _cookies_from(raw["cookie"])
    main = next((c for c in cookies if c.name == "cf_clearance"), None)
    if main is not None:
        return main.value, tuple(cookies)
    token = _first(raw, "token", "gRecaptchaResponse")
    if token is None:
        raise _bad(f"Cloudflare solution with neither cf_clearance nor a token ({sorted(raw)})")
    return token, ()


def _generic(raw: Mapping[str, Any]) -> tuple[str, tuple[SolutionCookie, ...]]:
    return _token_solution(raw, "gRecaptchaResponse", "token", "text", "captcha_response")


_READERS: Mapping[str, Callable[[Mapping[str, Any]], tuple[str, tuple[SolutionCookie, ...]]]] = {
    # 2captcha answers reCAPTCHA with both gRecaptchaResponse and token.
    "recaptcha_v2": lambda raw: _token_solution(raw, "gRecaptchaResponse", "token"),
    "recaptcha_v2_enterprise": lambda raw: _token_solution(raw, "gRecaptchaResponse", "token"),
    "recaptcha_v3": lambda raw: _token_solution(raw, "gRecaptchaResponse", "token"),
    "recaptcha_v3_enterprise": lambda raw: _token_solution(raw, "gRecaptchaResponse", "token"),
    "hcaptcha": lambda raw: _token_solution(raw, "gRecaptchaResponse", "token"),
    # yescaptcha's page names gRecaptchaResponse for Turnstile; the others say token.
    "turnstile": lambda raw: _token_solution(raw, "token", "gRecaptchaResponse"),
    "cloudflare_challenge": _cloudflare,
    "image": lambda raw: _token_solution(raw, "text"),
    "geetest_v3": _geetest_v3,
    "geetest_v4": _geetest_v4,
    "aws_waf": _aws_waf,
    "funcaptcha": lambda raw: _token_solution(raw, "token"),
    "friendly_captcha": lambda raw: _token_solution(raw, "token"),
    "mtcaptcha": lambda raw: _token_solution(raw, "token"),
    "datadome": _datadome,
}


def read_solution(data: Mapping[str, Any], task_id: Any, challenge: Challenge | None = None) -> Solution:
    """One ready answer (the whole JSON object) as a :class:`Solution`, per the challenge's kind.

    Without a challenge the token is the first of the usual token fields.
    Every field stays in ``Solution.raw``; a shape without the kind's answer
    is a BAD_RESPONSE fault, never a success.
    """
    raw = data.get("solution")
    if not isinstance(raw, dict):
        raise _bad("status ready without a solution object")
    reader = _READERS.get(variant(challenge), _generic) if challenge is not None else _generic
    token, cookies = reader(raw)
    return Solution(
        token=token,
        task_id=task_id,
        cost=parse_number(data.get("cost")),
        user_agent=_user_agent(raw, data),
        cookies=cookies,
        raw=raw,
    )


def parse_create_task(status: int, body: bytes, challenge: Challenge | None = None) -> tuple[Any, Solution | None]:
    """``(task_id, solution)``; the solution is set when the service answered at once."""
    data = decode(status, body)
    task_id = data.get("taskId")
    if data.get("status") == "ready":
        return task_id, read_solution(data, task_id, challenge)
    if task_id in (None, "", 0):
        raise _bad("createTask answer without a taskId")
    return task_id, None


def parse_task_result(status: int, body: bytes, task_id: Any, challenge: Challenge | None = None) -> Solution | None:
    """The solution, or None while the task is still being worked on."""
    data = decode(status, body)
    state = data.get("status")
    if state == "ready":
        return read_solution(data, task_id, challenge)
    if isinstance(state, str) and state.lower() in PENDING_STATUSES:
        return None
    # An unknown status is a fault, never success.
    raise _bad(f"unknown task status {state!r}")


def parse_balance(status: int, body: bytes) -> float:
    data = decode(status, body)
    balance = parse_number(data.get("balance"))
    if balance is None:
        raise _bad("getBalance answer without a balance")
    return balance
