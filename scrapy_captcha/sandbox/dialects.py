"""The emulator's own transcription of each provider's createTask dialect.

Written from the providers' official SDKs and API docs (cited beside each
entry), independently of the client's presets: a wrong client shape must fail
here the way it fails at the real service. Each dialect says which task types
it takes, which fields each type requires and accepts (anything else is
refused), whether it takes a proxy and in which form, how its errors, task
ids and statuses look, which report endpoint serves which kind, and the field
names of each kind's solution.

Pure data and pure functions: :func:`validate` turns a createTask body into a
:class:`ParsedTask` or a :class:`Refusal` naming the dialect's error code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

# -- sources (cited per entry) -------------------------------------------------------

ANTI_SDK = "anticaptchaofficial 1.0.72 (official SDK, PyPI) {}.py"
ANTI_DOCS = "anti-captcha.com/apidoc/task-types/{}"
ANTI_ERRORS = "anti-captcha.com/apidoc/errors (ids 0-16 seen there; 20-52 from a client transcribing that page)"
CM_SDK = "capmonstercloudclient 4.3.1 (official SDK, PyPI) requests/{}.py"
CM_DOCS = "github.com/ZennoLab/capmonstercloud-docs docs/{}"
CS_DOCS = "docs.capsolver.com/guide/{}"
CS_UNREAD = "docs.capsolver.com/guide/{} (not re-read in this session: unconfirmed)"
CS_CORE = "capsolver-core 0.1.1 (PyPI, by capsolver) core/tasks.py {}"
TWO_DOCS = ("2captcha.com/api-docs (API v2; the official Python SDK 2.1.2 still speaks the v1 in.php API) - "
            "transcribed from memory of the docs, NOT confirmed in this session")
TWO_TURNSTILE = "2captcha.com/api-docs/cloudflare-turnstile (action/data/pagedata: issue 11 and spec §2, corrected)"
YES_DOCS = "spec §2 and the yescaptcha wiki's type names ({}): page not read in this session, unconfirmed"
YES_SDK = "yescaptcha 0.1.0 (official SDK, PyPI) task/{}.py"
YES_TURNSTILE = ("yescaptcha.atlassian.net/wiki/spaces/YESCAPTCHA/pages/64193447 (read: type, websiteURL, "
                 "websiteKey only)")

KINDS = ("recaptcha_v2", "recaptcha_v2_enterprise", "recaptcha_v3", "recaptcha_v3_enterprise", "hcaptcha",
         "turnstile", "cloudflare_clearance", "image", "geetest_v3", "geetest_v4", "aws_waf", "funcaptcha",
         "friendly_captcha", "mtcaptcha", "datadome", "antibot_cookie")
PROXY_FIELDS = ("proxyType", "proxyAddress", "proxyPort", "proxyLogin", "proxyPassword")
PROXY_TYPES = frozenset({"http", "https", "socks4", "socks5"})


@dataclass(frozen=True)
class FieldSpec:
    #: The provider's name; ``parent.child`` for a key inside an object field.
    name: str
    #: What the emulator reads it as (see :data:`ROLES`); None: accepted, not used.
    role: str | None = None
    required: bool = False
    #: str | int | num | bool | obj (an object whose keys are declared as children) | any-obj | json-str
    type: str = "str"
    choices: frozenset[Any] | None = None


ROLES = ("url", "sitekey", "action", "cdata", "chl_page_data", "user_agent", "invisible", "enterprise_payload",
         "api_domain", "min_score", "is_enterprise", "data_s", "rqdata", "blob", "api_subdomain", "body", "challenge",
         "captcha_id", "version", "init", "api_server", "iv", "context", "challenge_script", "captcha_script",
         "captcha_url", "datadome_cookie", "html", "html_b64", "cf_task_type", "cookie_solution")


@dataclass(frozen=True)
class TaskSchema:
    type: str
    kind: str
    fields: tuple[FieldSpec, ...]
    #: none | required | optional
    proxy: str = "none"
    #: fields (proxyType/Address/Port/Login/Password) | string (one ``proxy``) | either
    proxy_form: str = "fields"
    proxy_type_required: bool = True
    source: str = ""
    #: Answered in the createTask reply (recognition tasks at capsolver/yescaptcha).
    sync: bool = False
    #: capmonster's CustomTask: the ``class`` this schema is for.
    task_class: str | None = None
    #: Extra rules: task -> (situation, description) when broken.
    checks: tuple[Callable[[dict[str, Any]], tuple[str, str] | None], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.type}:{self.task_class}" if self.task_class else self.type

    def field_named(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class Dialect:
    name: str
    #: "int" (anticaptcha, 2captcha, capmonster) or "uuid" (a string).
    task_id: str
    #: error code -> numeric errorId; codes absent get 1.
    error_ids: Mapping[str, int]
    #: capsolver: errors come with HTTP 400 (401 for a bad key), bodies still JSON.
    http_errors: bool
    #: capmonster: error bodies of createTask carry ``taskId: 0``.
    task_id_on_error: bool
    #: capsolver: a fresh task reports ``idle`` before ``processing``.
    idle: bool
    #: situation -> error code (see :data:`SITUATIONS`).
    codes: Mapping[str, str]
    #: report path -> (report families it takes, "taskId" | "feedback" payload style).
    reports: Mapping[str, tuple[frozenset[str], str]]
    schemas: Mapping[str, TaskSchema]
    top_level: frozenset[str]
    #: False for the built-in sandbox dialect: any field of any provider is taken.
    strict: bool = True
    #: Seconds after completion a report is still accepted (anticaptcha: 60).
    report_window: float | None = None
    source: str = ""


SITUATIONS = ("bad_key", "bad_request", "task_absent", "not_supported", "required", "invalid", "proxy_missing",
              "proxy_refused", "proxy_auth", "bad_url", "no_task", "stale", "unsolvable", "bad_image",
              "small_image", "big_image", "bad_sitekey", "wrong_method", "not_found", "no_report")


# -- building blocks ------------------------------------------------------------------


def F(name: str, role: str | None = None, *, req: bool = False, t: str = "str",
      choices: Any = None) -> FieldSpec:
    return FieldSpec(name, role, req, t, frozenset(choices) if choices is not None else None)


URL = F("websiteURL", "url", req=True)
KEY = F("websiteKey", "sitekey", req=True)
UA = F("userAgent", "user_agent")
COOKIES = F("cookies")
INVISIBLE = F("isInvisible", "invisible", t="bool")
PAYLOAD = F("enterprisePayload", "enterprise_payload", t="any-obj")


def T(type_: str, kind: str, *fields: FieldSpec, proxy: str = "none", form: str = "fields", source: str = "",
      sync: bool = False, task_class: str | None = None, proxy_type_required: bool = True,
      checks: tuple[Callable[[dict[str, Any]], tuple[str, str] | None], ...] = ()) -> TaskSchema:
    return TaskSchema(type_, kind, tuple(fields), proxy, form, proxy_type_required, source, sync, task_class, checks)


def _schemas(*items: TaskSchema) -> Mapping[str, TaskSchema]:
    out: dict[str, TaskSchema] = {}
    for item in items:
        assert item.key not in out, item.key
        out[item.key] = item
    return MappingProxyType(out)


def _present(task: dict[str, Any], name: str) -> bool:
    value = _get(task, name)
    return value not in (None, "")


def _get(task: dict[str, Any], dotted: str) -> Any:
    value: Any = task
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _geetest_v3_needs(*names: str) -> Callable[[dict[str, Any]], tuple[str, str] | None]:
    def check(task: dict[str, Any]) -> tuple[str, str] | None:
        if _geetest_version(task) == 3:
            missing = [n for n in names if not _present(task, n)]
            if missing:
                return "required", f"GeeTest v3 needs {', '.join(missing)}"
        return None
    return check


def _geetest_v4_needs(name: str) -> Callable[[dict[str, Any]], tuple[str, str] | None]:
    def check(task: dict[str, Any]) -> tuple[str, str] | None:
        if _geetest_version(task) == 4 and not _present(task, name):
            return "required", f"GeeTest v4 needs {name}"
        return None
    return check


def _geetest_version(task: dict[str, Any]) -> int:
    if _present(task, "captchaId") or _present(task, "initParameters.captcha_id"):
        return 4
    version = task.get("version")
    return 4 if version in (4, "4") else 3


def _capmonster_cloudflare(task: dict[str, Any]) -> tuple[str, str] | None:
    # CM_SDK TurnstileRequest.validate_cloudflare_type_token and CM_DOCS captchas/tunrstile-task.md.
    mode = task.get("cloudflareTaskType")
    if mode in (None, ""):
        return None
    if not _present(task, "userAgent"):
        return "required", "userAgent is required when cloudflareTaskType is set"
    if mode in ("cf_clearance", "wait_room"):
        if not _present(task, "htmlPageBase64"):
            return "required", "htmlPageBase64 is required when cloudflareTaskType is cf_clearance"
        if not _present(task, "proxyAddress"):
            return "proxy_missing", "a proxy is required when cloudflareTaskType is cf_clearance"
    if mode == "token":
        missing = [n for n in ("pageAction", "data", "pageData") if not _present(task, n)]
        if missing:
            return "required", f"{', '.join(missing)} required when cloudflareTaskType is token"
    return None


# -- the dialects ----------------------------------------------------------------------

# anti-captcha: numbered errors (ANTI_ERRORS).
ANTI_ERROR_IDS = MappingProxyType({
    "ERROR_KEY_DOES_NOT_EXIST": 1, "ERROR_NO_SLOT_AVAILABLE": 2, "ERROR_ZERO_CAPTCHA_FILESIZE": 3,
    "ERROR_TOO_BIG_CAPTCHA_FILESIZE": 4, "ERROR_ZERO_BALANCE": 10, "ERROR_IP_NOT_ALLOWED": 11,
    "ERROR_CAPTCHA_UNSOLVABLE": 12, "ERROR_BAD_DUPLICATES": 13, "ERROR_NO_SUCH_METHOD": 14,
    "ERROR_IMAGE_TYPE_NOT_SUPPORTED": 15, "ERROR_NO_SUCH_CAPCHA_ID": 16, "ERROR_EMPTY_COMMENT": 20,
    "ERROR_IP_BLOCKED": 21, "ERROR_TASK_ABSENT": 22, "ERROR_TASK_NOT_SUPPORTED": 23,
    "ERROR_INCORRECT_SESSION_DATA": 24, "ERROR_PROXY_CONNECT_REFUSED": 25, "ERROR_PROXY_CONNECT_TIMEOUT": 26,
    "ERROR_PROXY_READ_TIMEOUT": 27, "ERROR_PROXY_BANNED": 28, "ERROR_PROXY_TRANSPARENT": 29,
    "ERROR_RECAPTCHA_TIMEOUT": 30, "ERROR_RECAPTCHA_INVALID_SITEKEY": 31, "ERROR_RECAPTCHA_INVALID_DOMAIN": 32,
    "ERROR_RECAPTCHA_OLD_BROWSER": 33, "ERROR_TOKEN_EXPIRED": 34, "ERROR_PROXY_NOT_AUTHORISED": 49,
    "ERROR_INVISIBLE_RECAPTCHA": 51, "ERROR_FAILED_LOADING_WIDGET": 52, "ERROR_VISIBLE_RECAPTCHA": 53,
    "ERROR_ACCOUNT_SUSPENDED": 55, "ERROR_TASK_CANCELED": 57,
})
# 2captcha's API v2 took anti-captcha's numbering and added its own (TWO_DOCS: unconfirmed).
TWO_ERROR_IDS = MappingProxyType({**ANTI_ERROR_IDS, "ERROR_BAD_PARAMETERS": 110, "ERROR_BAD_IMGINSTRUCTIONS": 115,
                                  "ERROR_BAD_PROXY": 130})

_YES_LIKE_CODES = {
    "bad_key": "ERROR_KEY_DOES_NOT_EXIST", "bad_request": "ERROR_BAD_REQUEST", "task_absent": "ERROR_REQUIRED_FIELDS",
    "not_supported": "ERROR_TASK_NOT_SUPPORTED", "required": "ERROR_REQUIRED_FIELDS",
    "invalid": "ERROR_REQUIRED_FIELDS", "proxy_missing": "ERROR_REQUIRED_FIELDS",
    "proxy_refused": "ERROR_PROXY_CONNECT_REFUSED", "proxy_auth": "ERROR_PROXY_NOT_AUTHORISED",
    "bad_url": "INVALID_RECAPTCHA_SITEURL", "no_task": "ERROR_TASKID_INVALID", "stale": "ERROR_TOKEN_EXPIRED",
    "unsolvable": "ERROR_CAPTCHA_UNSOLVABLE", "bad_image": "ERROR_ILLEGAL_IMAGE",
    "small_image": "ERROR_ZERO_CAPTCHA_FILESIZE", "big_image": "ERROR_TOO_BIG_CAPTCHA_FILESIZE",
    "bad_sitekey": "ERROR_RECAPTCHA_INVALID_SITEKEY", "wrong_method": "ERROR_NO_SUCH_METHOD",
    "not_found": "ERROR_PAGE_NOT_FOUND", "no_report": "ERROR_PAGE_NOT_FOUND",
}

YESCAPTCHA = Dialect(
    name="yescaptcha", task_id="uuid", error_ids=MappingProxyType({}), http_errors=False, task_id_on_error=False,
    idle=False, codes=MappingProxyType(_YES_LIKE_CODES),
    reports=MappingProxyType({}),  # none documented (spec §1)
    top_level=frozenset({"clientKey", "task", "softId", "callbackUrl"}),
    source=YES_DOCS.format("createTask, error codes (spec seeds)"),
    schemas=_schemas(
        T("NoCaptchaTaskProxyless", "recaptcha_v2", URL, KEY, INVISIBLE, F("websiteSToken"),
          F("recaptchaDataSValue", "data_s"),
          source=YES_SDK.format("no_captcha_task_proxyless") + "; other fields: " + YES_DOCS.format("v2")),
        T("RecaptchaV2TaskProxyless", "recaptcha_v2", URL, KEY, INVISIBLE, F("websiteSToken"),
          F("recaptchaDataSValue", "data_s"), source=YES_DOCS.format("NoCaptchaTaskProxyless, alias")),
        T("RecaptchaV2EnterpriseTaskProxyless", "recaptcha_v2_enterprise", URL, KEY, INVISIBLE, PAYLOAD,
          source=YES_SDK.format("recaptcha_v2_enterprise_task_proxyless")),
        # The official yescaptcha 0.1.0 SDK sends minScore (default 0.3) with v3.
        *(T(name, "recaptcha_v3", URL, KEY, F("pageAction", "action"), F("minScore", "min_score", t="num"),
            source=YES_SDK.format("recaptcha_v3_task_proxyless") + "; " + YES_DOCS.format(name))
          for name in ("RecaptchaV3TaskProxyless", "RecaptchaV3TaskProxylessM1", "RecaptchaV3TaskProxylessM1S7",
                       "RecaptchaV3TaskProxylessM1S9")),
        *(T(name, "recaptcha_v3_enterprise", URL, KEY, F("pageAction", "action"),
            source=YES_SDK.format("recaptcha_v3_enterprise_task") + "; " + YES_DOCS.format(name))
          for name in ("RecaptchaV3EnterpriseTask", "RecaptchaV3EnterpriseTaskM1")),
        T("HCaptchaTaskProxyless", "hcaptcha", URL, KEY, INVISIBLE, F("rqdata", "rqdata"), UA,
          source=YES_SDK.format("hcaptcha_task_proxyless (2022: websiteURL, websiteKey)")),
        # The wiki page lists only type, websiteURL, websiteKey: no action, no cData.
        *(T(name, "turnstile", URL, KEY, source=YES_TURNSTILE) for name in
          ("TurnstileTaskProxyless", "TurnstileTaskProxylessM1")),
        T("CloudFlareTaskS2", "cloudflare_clearance", URL, UA, F("waitLoad", t="bool"), F("requiredCookies"),
          F("blockImage", t="bool"), proxy="required", form="string",
          source=YES_DOCS.format("CloudFlareTaskS2 (community docs per spec §2)")),
        *(T(name, "image", F("body", "body", req=True), F("websiteURL"), sync=sync,
            source=YES_DOCS.format(f"{name}: {'answered at once' if sync else 'polled'}"))
          for name, sync in (("ImageToTextTask", True), ("ImageToTextTaskMuggle", True),
                             ("ImageToTextTaskM1", False))),
    ),
)

CAPSOLVER = Dialect(
    name="capsolver", task_id="uuid", error_ids=MappingProxyType({}), http_errors=True, task_id_on_error=False,
    idle=True,
    codes=MappingProxyType({
        "bad_key": "ERROR_KEY_DENIED_ACCESS", "bad_request": "ERROR_BAD_REQUEST",
        "task_absent": "ERROR_INVALID_TASK_DATA",
        "not_supported": "ERROR_TASK_NOT_SUPPORTED", "required": "ERROR_INVALID_TASK_DATA",
        "invalid": "ERROR_INVALID_TASK_DATA", "proxy_missing": "ERROR_INVALID_TASK_DATA",
        "proxy_refused": "ERROR_PROXY_BANNED", "proxy_auth": "ERROR_PROXY_BANNED", "bad_url": "ERROR_INVALID_TASK_DATA",
        "no_task": "ERROR_TASKID_INVALID", "stale": "ERROR_CAPTCHA_UNSOLVABLE",
        "unsolvable": "ERROR_CAPTCHA_UNSOLVABLE",
        "bad_image": "ERROR_PARSE_IMAGE_FAIL", "small_image": "ERROR_INVALID_IMAGE", "big_image": "ERROR_INVALID_IMAGE",
        "bad_sitekey": "ERROR_CAPTCHA_UNSOLVABLE", "wrong_method": "ERROR_BAD_REQUEST",
        "not_found": "ERROR_BAD_REQUEST",
        "no_report": "ERROR_INVALID_TASK_DATA",
    }),
    # spec §1: {taskId, result: {invalid: true}}.
    reports=MappingProxyType({"/feedbackTask": (frozenset({"*"}), "feedback")}),
    top_level=frozenset({"clientKey", "task", "appId", "callbackUrl"}),
    source=CS_DOCS.format("api-error.html (spec seeds) and each task page"),
    schemas=_schemas(
        # capsolver-core names the invisible flag "invisible", the docs "isInvisible": both taken.
        *(T(name, kind, URL, KEY, F("pageAction", "action"), PAYLOAD, INVISIBLE, F("invisible", "invisible", t="bool"),
            F("isSession", t="bool"), F("apiDomain", "api_domain"), UA, proxy=proxy, form="either",
            source=CS_DOCS.format("captcha/ReCaptchaV2 (read)") + "; " + CS_CORE.format("build_recaptcha_v2_task"))
          for name, kind, proxy in (("ReCaptchaV2TaskProxyLess", "recaptcha_v2", "none"),
                                    ("ReCaptchaV2Task", "recaptcha_v2", "required"),
                                    ("ReCaptchaV2EnterpriseTaskProxyLess", "recaptcha_v2_enterprise", "none"),
                                    ("ReCaptchaV2EnterpriseTask", "recaptcha_v2_enterprise", "required"))),
        # The docs show no minScore; capsolver-core sends one when given.
        *(T(name, kind, URL, KEY, F("pageAction", "action"), PAYLOAD, F("isSession", t="bool"),
            F("apiDomain", "api_domain"), F("minScore", "min_score", t="num"), proxy=proxy, form="either",
            source=CS_UNREAD.format("captcha/ReCaptchaV3") + "; " + CS_CORE.format("build_recaptcha_v3_task"))
          for name, kind, proxy in (("ReCaptchaV3TaskProxyLess", "recaptcha_v3", "none"),
                                    ("ReCaptchaV3Task", "recaptcha_v3", "required"),
                                    ("ReCaptchaV3EnterpriseTaskProxyLess", "recaptcha_v3_enterprise", "none"),
                                    ("ReCaptchaV3EnterpriseTask", "recaptcha_v3_enterprise", "required"))),
        *(T(name, "turnstile", URL, KEY, F("metadata", t="obj"), F("metadata.action", "action"),
            F("metadata.cdata", "cdata"), F("metadata.type"), proxy=proxy, form="either",
            source=CS_UNREAD.format("captcha/cloudflare_turnstile") + "; " + CS_CORE.format("build_cloudflare_task"))
          for name, proxy in (("AntiTurnstileTaskProxyLess", "none"), ("AntiTurnstileTask", "required"))),
        T("AntiCloudflareTask", "cloudflare_clearance", URL, UA, F("html", "html"), proxy="required", form="either",
          source=CS_DOCS.format("captcha/cloudflare_challenge (proxy: a String, required)")),
        T("ImageToTextTask", "image", F("body", "body", req=True), F("websiteURL"), F("module"), F("score", t="num"),
          F("case", t="bool"), F("images", t="any"), sync=True,
          source=CS_UNREAD.format("recognition/ImageToTextTask") + "; answered in the createTask reply (spec §1)"),
        *(T(name, "geetest_v3", URL, F("gt", "sitekey"), F("challenge", "challenge"), F("captchaId", "captcha_id"),
            F("geetestApiServerSubdomain", "api_server"), proxy=proxy, form="either",
            checks=(_geetest_v3_needs("gt", "challenge"),), source=CS_UNREAD.format("captcha/Geetest"))
          for name, proxy in (("GeeTestTaskProxyLess", "none"), ("GeeTestTask", "required"))),
        *(T(name, "aws_waf", URL, F("awsKey", "sitekey"), F("awsIv", "iv"), F("awsContext", "context"),
            F("awsChallengeJS", "challenge_script"), F("awsApiJs"), F("awsProblemUrl"), F("awsApiKey"),
            F("awsExistingToken"), proxy=proxy, form="either", source=CS_DOCS.format("captcha/awsWaf (read)"))
          for name, proxy in (("AntiAwsWafTaskProxyLess", "none"), ("AntiAwsWafTask", "required"))),
        *(T(name, "mtcaptcha", URL, KEY, proxy=proxy, form="either", source=CS_UNREAD.format("captcha/MtCaptcha"))
          for name, proxy in (("MtCaptchaTaskProxyLess", "none"), ("MtCaptchaTask", "required"))),
        # The page spells the type both ways (list: DatadomeSliderTask, table: DataDomeSliderTask).
        *(T(name, "datadome", URL, F("captchaUrl", "captcha_url", req=True), F("userAgent", "user_agent", req=True),
            proxy="required", form="either", source=CS_DOCS.format("antibots/datadome (read)"))
          for name in ("DatadomeSliderTask", "DataDomeSliderTask")),
    ),
)

ANTICAPTCHA = Dialect(
    name="anticaptcha", task_id="int", error_ids=ANTI_ERROR_IDS, http_errors=False, task_id_on_error=False,
    idle=False,
    codes=MappingProxyType({
        "bad_key": "ERROR_KEY_DOES_NOT_EXIST", "bad_request": "ERROR_TASK_ABSENT", "task_absent": "ERROR_TASK_ABSENT",
        "not_supported": "ERROR_TASK_NOT_SUPPORTED",
        # The error list has no generic "bad field" code; 24 is its "required values missing".
        "required": "ERROR_INCORRECT_SESSION_DATA", "invalid": "ERROR_INCORRECT_SESSION_DATA",
        "proxy_missing": "ERROR_INCORRECT_SESSION_DATA", "proxy_refused": "ERROR_PROXY_CONNECT_REFUSED",
        "proxy_auth": "ERROR_PROXY_NOT_AUTHORISED", "bad_url": "ERROR_INCORRECT_SESSION_DATA",
        "no_task": "ERROR_NO_SUCH_CAPCHA_ID", "stale": "ERROR_TOKEN_EXPIRED", "unsolvable": "ERROR_CAPTCHA_UNSOLVABLE",
        "bad_image": "ERROR_IMAGE_TYPE_NOT_SUPPORTED", "small_image": "ERROR_ZERO_CAPTCHA_FILESIZE",
        "big_image": "ERROR_TOO_BIG_CAPTCHA_FILESIZE", "bad_sitekey": "ERROR_RECAPTCHA_INVALID_SITEKEY",
        "wrong_method": "ERROR_NO_SUCH_METHOD", "not_found": "ERROR_NO_SUCH_METHOD",
        "no_report": "ERROR_NO_SUCH_CAPCHA_ID",
    }),
    # ANTI_SDK antinetworking.report_*; Turnstile has none (issue 11).
    reports=MappingProxyType({
        "/reportIncorrectRecaptcha": (frozenset({"recaptcha"}), "taskId"),
        "/reportCorrectRecaptcha": (frozenset({"recaptcha"}), "taskId"),
        "/reportIncorrectHcaptcha": (frozenset({"hcaptcha"}), "taskId"),
        "/reportIncorrectImageCaptcha": (frozenset({"image"}), "taskId"),
    }),
    report_window=60.0,
    top_level=frozenset({"clientKey", "task", "softId", "callbackUrl", "languagePool"}),
    source=ANTI_ERRORS,
    schemas=_schemas(
        T("RecaptchaV2TaskProxyless", "recaptcha_v2", URL, KEY, F("websiteSToken"), F("recaptchaDataSValue", "data_s"),
          INVISIBLE, source=ANTI_SDK.format("recaptchav2proxyless")),
        T("RecaptchaV2Task", "recaptcha_v2", URL, KEY, F("websiteSToken"), F("recaptchaDataSValue", "data_s"),
          INVISIBLE, UA, COOKIES, proxy="required", source=ANTI_SDK.format("recaptchav2proxyon")),
        T("RecaptchaV2EnterpriseTaskProxyless", "recaptcha_v2_enterprise", URL, KEY, PAYLOAD, INVISIBLE,
          F("apiDomain", "api_domain", choices=("www.google.com", "www.recaptcha.net")),
          source=ANTI_SDK.format("recaptchav2enterpriseproxyless") + "; apiDomain values: "
          + ANTI_DOCS.format("RecaptchaV2EnterpriseTaskProxyless")),
        T("RecaptchaV2EnterpriseTask", "recaptcha_v2_enterprise", URL, KEY, PAYLOAD, INVISIBLE, UA, COOKIES,
          F("apiDomain", "api_domain", choices=("www.google.com", "www.recaptcha.net")), proxy="required",
          source=ANTI_SDK.format("recaptchav2enterpriseproxyon")),
        # v3 Enterprise is the same type with isEnterprise (ANTI_SDK recaptchav3enterpriseproxyless).
        T("RecaptchaV3TaskProxyless", "recaptcha_v3", URL, KEY,
          F("minScore", "min_score", req=True, t="num", choices=(0.3, 0.5, 0.7, 0.9)), F("pageAction", "action"),
          F("isEnterprise", "is_enterprise", t="bool"),
          source=ANTI_SDK.format("recaptchav3proxyless") + "; minScore required: "
          + ANTI_DOCS.format("RecaptchaV3TaskProxyless")),
        T("HCaptchaTaskProxyless", "hcaptcha", URL, KEY, UA, INVISIBLE, PAYLOAD,
          source=ANTI_SDK.format("hcaptchaproxyless")),
        T("HCaptchaTask", "hcaptcha", URL, KEY, UA, COOKIES, INVISIBLE, PAYLOAD, proxy="required",
          source=ANTI_SDK.format("hcaptchaproxyon")),
        T("TurnstileTaskProxyless", "turnstile", URL, KEY, F("action", "action"), F("cData", "cdata"),
          F("chlPageData", "chl_page_data"), source=ANTI_SDK.format("turnstileproxyless")),
        T("TurnstileTask", "turnstile", URL, KEY, F("action", "action"), F("cData", "cdata"),
          F("chlPageData", "chl_page_data"), INVISIBLE, proxy="required", source=ANTI_SDK.format("turnstileproxyon")),
        T("ImageToTextTask", "image", F("body", "body", req=True), F("phrase", t="bool"), F("case", t="bool"),
          F("numeric", t="int"), F("math", t="bool"), F("minLength", t="int"), F("maxLength", t="int"),
          F("comment", t="any"), F("languagePool"), F("websiteURL"), source=ANTI_SDK.format("imagecaptcha")),
        *(T(name, "geetest_v3", URL, F("gt", "sitekey", req=True), F("challenge", "challenge"),
            F("geetestApiServerSubdomain", "api_server"), F("geetestGetLib"), F("version", "version", t="int",
                                                                                  choices=(3, 4)),
            F("initParameters", "init", t="any-obj"), *extra, proxy=proxy,
            checks=(_geetest_v3_needs("challenge"),), source=ANTI_SDK.format(module))
          for name, module, proxy, extra in (("GeeTestTaskProxyless", "geetestproxyless", "none", ()),
                                             ("GeeTestTask", "geetestproxyon", "required", (UA,)))),
        *(T(name, "aws_waf", URL, KEY, F("iv", "iv", req=True), F("context", "context", req=True),
            F("captchaScript", "captcha_script"), F("challengeScript", "challenge_script"), F("jsapiScript"),
            F("waf_type"), proxy=proxy, source=ANTI_SDK.format(module))
          for name, module, proxy in (("AmazonTaskProxyless", "amazonproxyless", "none"),
                                      ("AmazonTask", "amazonproxyon", "required"))),
        T("FunCaptchaTaskProxyless", "funcaptcha", URL, F("websitePublicKey", "sitekey", req=True),
          F("funcaptchaApiJSSubdomain", "api_subdomain"), F("data", "blob"),
          source=ANTI_SDK.format("funcaptchaproxyless")),
        T("FunCaptchaTask", "funcaptcha", URL, F("websitePublicKey", "sitekey", req=True),
          F("funcaptchaApiJSSubdomain", "api_subdomain"), F("data", "blob"), UA, proxy="required",
          source=ANTI_SDK.format("funcaptchaproxyon")),
        T("FriendlyCaptchaTaskProxyless", "friendly_captcha", URL, KEY,
          source=ANTI_SDK.format("friendlycaptchaproxyless")),
        T("FriendlyCaptchaTask", "friendly_captcha", URL, KEY, INVISIBLE, proxy="required",
          source=ANTI_SDK.format("friendlycaptchaproxyon")),
        # The SDK sends no proxyType for it.
        T("AntiBotCookieTask", "antibot_cookie", URL, proxy="required", proxy_type_required=False,
          source=ANTI_SDK.format("antibotcookietask")),
    ),
)

TWOCAPTCHA = Dialect(
    name="2captcha", task_id="int", error_ids=TWO_ERROR_IDS, http_errors=False, task_id_on_error=False, idle=False,
    codes=MappingProxyType({
        "bad_key": "ERROR_KEY_DOES_NOT_EXIST", "bad_request": "ERROR_TASK_ABSENT", "task_absent": "ERROR_TASK_ABSENT",
        "not_supported": "ERROR_TASK_NOT_SUPPORTED", "required": "ERROR_BAD_PARAMETERS",
        "invalid": "ERROR_BAD_PARAMETERS", "proxy_missing": "ERROR_BAD_PARAMETERS", "proxy_refused": "ERROR_BAD_PROXY",
        "proxy_auth": "ERROR_BAD_PROXY", "bad_url": "ERROR_BAD_PARAMETERS", "no_task": "ERROR_NO_SUCH_CAPCHA_ID",
        "stale": "ERROR_CAPTCHA_UNSOLVABLE", "unsolvable": "ERROR_CAPTCHA_UNSOLVABLE",
        "bad_image": "ERROR_IMAGE_TYPE_NOT_SUPPORTED", "small_image": "ERROR_ZERO_CAPTCHA_FILESIZE",
        "big_image": "ERROR_TOO_BIG_CAPTCHA_FILESIZE", "bad_sitekey": "ERROR_RECAPTCHA_INVALID_SITEKEY",
        "wrong_method": "ERROR_NO_SUCH_METHOD", "not_found": "ERROR_NO_SUCH_METHOD",
        "no_report": "ERROR_NO_SUCH_CAPCHA_ID",
    }),
    reports=MappingProxyType({"/reportIncorrect": (frozenset({"*"}), "taskId"),
                              "/reportCorrect": (frozenset({"*"}), "taskId")}),
    top_level=frozenset({"clientKey", "task", "softId", "callbackUrl", "languagePool"}),
    source=TWO_DOCS,
    schemas=_schemas(
        *(T(name, "recaptcha_v2", URL, KEY, F("recaptchaDataSValue", "data_s"), INVISIBLE, UA, COOKIES,
            F("apiDomain", "api_domain"), proxy=proxy, source=TWO_DOCS)
          for name, proxy in (("RecaptchaV2TaskProxyless", "none"), ("RecaptchaV2Task", "required"))),
        *(T(name, "recaptcha_v2_enterprise", URL, KEY, PAYLOAD, INVISIBLE, UA, COOKIES, F("apiDomain", "api_domain"),
            proxy=proxy, source=TWO_DOCS)
          for name, proxy in (("RecaptchaV2EnterpriseTaskProxyless", "none"),
                              ("RecaptchaV2EnterpriseTask", "required"))),
        T("RecaptchaV3TaskProxyless", "recaptcha_v3", URL, KEY, F("minScore", "min_score", req=True, t="num"),
          F("pageAction", "action"), F("isEnterprise", "is_enterprise", t="bool"), F("apiDomain", "api_domain"),
          source=TWO_DOCS),
        # cData is "data" and chlPageData is "pagedata" here: a client sending cData loses it silently.
        *(T(name, "turnstile", URL, KEY, F("action", "action"), F("data", "cdata"), F("pagedata", "chl_page_data"), UA,
            proxy=proxy, source=TWO_TURNSTILE)
          for name, proxy in (("TurnstileTaskProxyless", "none"), ("TurnstileTask", "required"))),
        T("ImageToTextTask", "image", F("body", "body", req=True), F("phrase", t="bool"), F("case", t="bool"),
          F("numeric", t="int"), F("math", t="bool"), F("minLength", t="int"), F("maxLength", t="int"),
          F("comment"), F("imgInstructions"), source=TWO_DOCS),
        *(T(name, "geetest_v3", URL, F("gt", "sitekey"), F("challenge", "challenge"),
            F("geetestApiServerSubdomain", "api_server"), UA, F("version", "version", t="int", choices=(3, 4)),
            F("initParameters", t="obj"), F("initParameters.captcha_id", "captcha_id"), proxy=proxy,
            checks=(_geetest_v3_needs("gt", "challenge"), _geetest_v4_needs("initParameters.captcha_id")),
            source=TWO_DOCS)
          for name, proxy in (("GeeTestTaskProxyless", "none"), ("GeeTestTask", "required"))),
        *(T(name, "aws_waf", URL, KEY, F("iv", "iv", req=True), F("context", "context", req=True),
            F("challengeScript", "challenge_script"), F("captchaScript", "captcha_script"), proxy=proxy,
            source=TWO_DOCS)
          for name, proxy in (("AmazonTaskProxyless", "none"), ("AmazonTask", "required"))),
        *(T(name, "funcaptcha", URL, F("websitePublicKey", "sitekey", req=True),
            F("funcaptchaApiJSSubdomain", "api_subdomain"), F("data", "blob"), UA, proxy=proxy, source=TWO_DOCS)
          for name, proxy in (("FunCaptchaTaskProxyless", "none"), ("FunCaptchaTask", "required"))),
        *(T(name, "friendly_captcha", URL, KEY, UA, proxy=proxy, source=TWO_DOCS)
          for name, proxy in (("FriendlyCaptchaTaskProxyless", "none"), ("FriendlyCaptchaTask", "required"))),
        *(T(name, "mtcaptcha", URL, KEY, UA, proxy=proxy, source=TWO_DOCS)
          for name, proxy in (("MtCaptchaTaskProxyless", "none"), ("MtCaptchaTask", "required"))),
        T("DataDomeSliderTask", "datadome", URL, F("captchaUrl", "captcha_url", req=True),
          F("userAgent", "user_agent", req=True), proxy="required", source=TWO_DOCS),
    ),
)

CAPMONSTER = Dialect(
    name="capmonster", task_id="int", error_ids=MappingProxyType({}), http_errors=False, task_id_on_error=True,
    idle=False,
    codes=MappingProxyType({
        "bad_key": "ERROR_KEY_DOES_NOT_EXIST", "bad_request": "ERROR_TASK_ABSENT", "task_absent": "ERROR_TASK_ABSENT",
        "not_supported": "ERROR_TASK_NOT_SUPPORTED",
        # The error list's only "check the request structure" code.
        "required": "ERROR_TASK_ABSENT", "invalid": "ERROR_TASK_ABSENT", "proxy_missing": "ERROR_PROXY_MISSING",
        "proxy_refused": "ERROR_PROXY_CONNECT_REFUSED", "proxy_auth": "ERROR_PROXY_NOT_AUTHORISED",
        "bad_url": "ERROR_RECAPTCHA_INVALID_DOMAIN", "no_task": "ERROR_NO_SUCH_CAPCHA_ID",
        "stale": "ERROR_TOKEN_EXPIRED",
        "unsolvable": "ERROR_CAPTCHA_UNSOLVABLE", "bad_image": "ERROR_CAPTCHA_UNSOLVABLE",
        "small_image": "ERROR_ZERO_CAPTCHA_FILESIZE", "big_image": "ERROR_TOO_BIG_CAPTCHA_FILESIZE",
        "bad_sitekey": "ERROR_RECAPTCHA_INVALID_SITEKEY", "wrong_method": "ERROR_NO_SUCH_METHOD",
        "not_found": "ERROR_NO_SUCH_METHOD", "no_report": "ERROR_NO_SUCH_CAPCHA_ID",
    }),
    # CM_DOCS api/bad-tokens.md: token captchas = reCAPTCHA 2/3/Enterprise, GeeTest, Turnstile.
    reports=MappingProxyType({
        "/reportIncorrectTokenCaptcha": (frozenset({"recaptcha", "geetest", "turnstile"}), "taskId"),
        "/reportIncorrectRecaptcha": (frozenset({"recaptcha", "geetest", "turnstile"}), "taskId"),
        "/reportIncorrectImageCaptcha": (frozenset({"image"}), "taskId"),
    }),
    top_level=frozenset({"clientKey", "task", "softId", "callbackUrl"}),
    source=CM_DOCS.format("api/api-errors.md") + "; " + CM_SDK.format("*"),
    schemas=_schemas(
        T("RecaptchaV2TaskProxyless", "recaptcha_v2", URL, KEY, F("recaptchaDataSValue", "data_s"), UA, COOKIES,
          INVISIBLE, source=CM_DOCS.format("captchas/no-captcha-task.md")),
        # The SDK's one type for both (proxy optional).
        T("RecaptchaV2Task", "recaptcha_v2", URL, KEY, F("recaptchaDataSValue", "data_s"), UA, COOKIES, INVISIBLE,
          proxy="optional", source=CM_SDK.format("RecaptchaV2Request")),
        *(T(name, "recaptcha_v2_enterprise", URL, KEY, PAYLOAD, F("apiDomain", "api_domain"), F("pageAction", "action"),
            F("recaptchaDataSValue", "data_s"), UA, COOKIES, proxy=proxy,
            source=CM_SDK.format("RecaptchaV2EnterpiseRequest"))
          for name, proxy in (("RecaptchaV2EnterpriseTaskProxyless", "none"),
                              ("RecaptchaV2EnterpriseTask", "optional"))),
        T("RecaptchaV3TaskProxyless", "recaptcha_v3", URL, KEY, F("minScore", "min_score", t="num"),
          F("pageAction", "action"), F("isEnterprise", "is_enterprise", t="bool"),
          source=CM_SDK.format("RecaptchaV3ProxylessRequest")),
        T("RecaptchaV3EnterpriseTask", "recaptcha_v3_enterprise", URL, KEY, F("minScore", "min_score", t="num"),
          F("pageAction", "action"), source=CM_SDK.format("RecaptchaV3EnterpriseRequest")),
        *(T(name, "hcaptcha", URL, KEY, INVISIBLE, F("data", "rqdata"), UA, COOKIES, F("fallbackToActualUA", t="bool"),
            proxy=proxy, source=CM_SDK.format("HcaptchaRequest"))
          for name, proxy in (("HCaptchaTaskProxyless", "none"), ("HCaptchaTask", "optional"))),
        *(T(name, "turnstile", URL, KEY, F("pageAction", "action"), F("data", "cdata"), F("pageData", "chl_page_data"),
            UA, F("cloudflareTaskType", "cf_task_type", choices=("cf_clearance", "token", "wait_room")),
            F("htmlPageBase64", "html_b64"), F("apiJsUrl"), proxy=proxy, checks=(_capmonster_cloudflare,),
            source=CM_SDK.format("TurnstileRequest") + "; " + CM_DOCS.format("captchas/tunrstile-task.md"))
          for name, proxy in (("TurnstileTaskProxyless", "none"), ("TurnstileTask", "optional"))),
        T("ImageToTextTask", "image", F("body", "body", req=True), F("CapMonsterModule"),
          F("recognizingThreshold", t="int"), F("Case", t="bool"), F("numeric", t="int"), F("math", t="bool"),
          source=CM_SDK.format("ImageToTextRequest")),
        *(T(name, "geetest_v3", URL, F("gt", "sitekey", req=True), F("challenge", "challenge"),
            F("version", "version", t="int", choices=(3, 4)), F("initParameters", "init", t="any-obj"),
            F("geetestApiServerSubdomain", "api_server"), F("geetestGetLib"), UA, proxy=proxy,
            checks=(_geetest_v3_needs("challenge"),),
            source=CM_SDK.format("GeetestRequest") + "; " + CM_DOCS.format("captchas/geetest-task.md"))
          for name, proxy in (("GeeTestTaskProxyless", "none"), ("GeeTestTask", "optional"))),
        # CM_DOCS lists every script/key field as required; the SDK accepts partial variants.
        *(T(name, "aws_waf", URL, F("websiteKey", "sitekey", req=True), F("context", "context", req=True),
            F("iv", "iv", req=True), F("challengeScript", "challenge_script"), F("captchaScript", "captcha_script"),
            F("cookieSolution", "cookie_solution", t="bool"), UA, proxy=proxy,
            source=CM_SDK.format("AmazonWafRequest") + "; " + CM_DOCS.format("captchas/amazon-task.md"))
          for name, proxy in (("AmazonTaskProxyless", "none"), ("AmazonTask", "optional"))),
        # The SDK refuses FunCaptcha without a proxy.
        T("FunCaptchaTask", "funcaptcha", URL, F("websitePublicKey", "sitekey", req=True),
          F("funcaptchaApiJSSubdomain", "api_subdomain"), F("data", "blob"), COOKIES, UA, proxy="required",
          source=CM_SDK.format("FuncaptchaRequest")),
        T("MTCaptchaTask", "mtcaptcha", URL, KEY, F("pageAction", "action"), INVISIBLE, UA, proxy="optional",
          source=CM_SDK.format("MTCaptchaRequest")),
        T("CustomTask", "datadome", URL, F("class", req=True), F("metadata", req=True, t="obj"),
          F("metadata.captchaUrl", "captcha_url", req=True), F("metadata.datadomeCookie", "datadome_cookie", req=True),
          F("metadata.datadomeVersion"), UA, F("domains", t="any"), proxy="required", task_class="DataDome",
          source=CM_SDK.format("DataDomeCustomTaskRequest") + " (datadomeCookie required by the SDK; "
          + CM_DOCS.format("captchas/datadome.md") + " shows captchaUrl only)"),
        T("CustomTask", "friendly_captcha", URL, KEY, F("class", req=True), F("metadata", req=True, t="obj"),
          F("metadata.apiGetLib", req=True), UA, F("domains", t="any"), proxy="optional", task_class="friendly",
          source=CM_SDK.format("FriendlyCustomTaskRequest")),
    ),
)


def _merged_sandbox_schemas() -> Mapping[str, TaskSchema]:
    """Every provider's type names, each with the union of the fields any provider gives it."""
    merged: dict[str, TaskSchema] = {}
    for dialect in (YESCAPTCHA, CAPSOLVER, ANTICAPTCHA, TWOCAPTCHA, CAPMONSTER):
        for schema in dialect.schemas.values():
            if schema.task_class:
                continue  # the lenient dialect takes CustomTask by class below
            first = merged.get(schema.type)
            if first is None:
                merged[schema.type] = T(schema.type, schema.kind, *schema.fields, proxy="optional", form="either",
                                        proxy_type_required=False, sync=False, source=f"union ({dialect.name}...)")
            else:
                names = {f.name for f in first.fields}
                extra = tuple(f for f in schema.fields if f.name not in names)
                merged[schema.type] = T(first.type, first.kind, *first.fields, *extra, proxy="optional",
                                        form="either", proxy_type_required=False, source=first.source)
    for schema in CAPMONSTER.schemas.values():
        if schema.task_class:
            merged[schema.key] = T(schema.type, schema.kind, *schema.fields, proxy="optional", form="either",
                                   proxy_type_required=False, task_class=schema.task_class, source=schema.source)
    return MappingProxyType(merged)


#: The root paths' dialect: yescaptcha-shaped answers, and every provider's task types
#: accepted leniently (unknown fields ignored), as the first sandbox did.
SANDBOX = Dialect(
    name="sandbox", task_id="uuid", error_ids=MappingProxyType({}), http_errors=False, task_id_on_error=False,
    idle=False, codes=MappingProxyType(_YES_LIKE_CODES),
    reports=MappingProxyType({path: (frozenset({"*"}), "any") for path in (
        "/reportIncorrectRecaptcha", "/reportIncorrect", "/feedbackTask", "/reportIncorrectTokenCaptcha",
        "/reportIncorrectHcaptcha", "/reportIncorrectImageCaptcha")}),
    top_level=frozenset(), strict=False, schemas=_merged_sandbox_schemas(), source="the built-in sandbox dialect",
)

DIALECTS: Mapping[str, Dialect] = MappingProxyType(
    {d.name: d for d in (SANDBOX, YESCAPTCHA, CAPSOLVER, ANTICAPTCHA, TWOCAPTCHA, CAPMONSTER)})


# -- validation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxySpec:
    scheme: str
    host: str
    port: int
    login: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never show credentials
        creds = "<credentials>@" if self.login or self.password else ""
        return f"ProxySpec({self.scheme}://{creds}{self.host}:{self.port})"


@dataclass(frozen=True)
class ParsedTask:
    schema: TaskSchema
    kind: str
    values: Mapping[str, Any]
    proxy: ProxySpec | None

    def get(self, role: str, default: Any = None) -> Any:
        value = self.values.get(role)
        return default if value in (None, "") else value


@dataclass(frozen=True)
class Refusal:
    situation: str
    description: str


def validate(dialect: Dialect, body: dict[str, Any]) -> ParsedTask | Refusal:
    """Check a createTask body against the dialect (the clientKey is checked by the caller)."""
    if dialect.strict:
        extra = sorted(set(body) - dialect.top_level)
        if extra:
            return Refusal("invalid", f"unexpected field(s) {', '.join(extra)} beside the task")
    task = body.get("task")
    if not isinstance(task, dict):
        return Refusal("task_absent", "task object is missing")
    type_name = task.get("type")
    if not isinstance(type_name, str) or not type_name:
        return Refusal("task_absent" if dialect.strict else "required", "task.type is missing")
    schema = dialect.schemas.get(type_name)
    if type_name == "CustomTask":
        schema = dialect.schemas.get(f"CustomTask:{task.get('class')}")
    if schema is None:
        return Refusal("not_supported", f"task type {type_name!r} is not supported")
    broken = _check_fields(dialect, schema, task)
    if broken is not None:
        return broken
    proxy = _check_proxy(dialect, schema, task)
    if isinstance(proxy, Refusal):
        return proxy
    for check in schema.checks:
        found = check(task)
        if found is not None:
            return Refusal(*found)
    values = {f.role: _get(task, f.name) for f in schema.fields if f.role and _get(task, f.name) is not None}
    url = values.get("url")
    url_spec = schema.field_named("websiteURL")
    if url_spec is not None and url_spec.required:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            return Refusal("bad_url", "websiteURL must be an absolute http(s) URL")
    if not dialect.strict and schema.kind not in ("image", "datadome", "cloudflare_clearance", "antibot_cookie",
                                                  "geetest_v3") and not values.get("sitekey"):
        return Refusal("required", "websiteKey")
    return ParsedTask(schema, resolve_kind(schema, task), MappingProxyType(values), proxy)


def resolve_kind(schema: TaskSchema, task: dict[str, Any]) -> str:
    """The kind a type means with these flags (one type can cover two kinds)."""
    kind = schema.kind
    if kind == "recaptcha_v3" and task.get("isEnterprise") in (True, 1, "true"):
        return "recaptcha_v3_enterprise"
    if kind == "turnstile" and task.get("cloudflareTaskType") in ("cf_clearance", "wait_room"):
        return "cloudflare_clearance"
    if kind == "geetest_v3" and _geetest_version(task) == 4:
        return "geetest_v4"
    return kind


def _type_ok(spec: FieldSpec, value: Any) -> bool:
    if spec.type == "str":
        return isinstance(value, str)
    if spec.type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type == "num":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec.type == "bool":
        # anticaptchaofficial sends 0/1 for isInvisible.
        return isinstance(value, bool) or value in (0, 1)
    if spec.type in ("obj", "any-obj"):
        return isinstance(value, dict)
    return True


def _check_fields(dialect: Dialect, schema: TaskSchema, task: dict[str, Any]) -> Refusal | None:
    declared = {f.name: f for f in schema.fields}
    allowed_top = {"type", *(name.split(".", 1)[0] for name in declared)}
    proxy_keys = {*PROXY_FIELDS, "proxy"}
    if dialect.strict:
        foreign = sorted(k for k in task if k not in allowed_top and k not in proxy_keys
                         and task[k] not in (None, ""))
        if foreign:
            return Refusal("invalid", f"{schema.type} does not take {', '.join(foreign)}")
        for spec in schema.fields:
            if spec.type == "obj" and isinstance(task.get(spec.name), dict):
                children = {n.split(".", 1)[1] for n in declared if n.startswith(spec.name + ".")}
                unknown = sorted(set(task[spec.name]) - children)
                if unknown:
                    return Refusal("invalid", f"{spec.name} does not take {', '.join(unknown)}")
    for spec in schema.fields:
        value = _get(task, spec.name)
        if value in (None, ""):
            if spec.required and dialect.strict:
                return Refusal("required", f"{spec.name} is required")
            continue
        if spec.name == "class" and schema.task_class and value != schema.task_class:
            return Refusal("not_supported", f"class {value!r}")
        if dialect.strict and not _type_ok(spec, value):
            return Refusal("invalid", f"{spec.name} must be {spec.type}")
        if dialect.strict and spec.choices is not None and value not in spec.choices:
            return Refusal("invalid", f"{spec.name} must be one of {', '.join(map(str, sorted(spec.choices)))}")
    return None


def _check_proxy(dialect: Dialect, schema: TaskSchema, task: dict[str, Any]) -> ProxySpec | Refusal | None:
    has_fields = any(task.get(name) not in (None, "", 0) for name in ("proxyAddress", "proxyPort", "proxyType"))
    has_string = task.get("proxy") not in (None, "")
    if schema.proxy == "none":
        if dialect.strict and (has_fields or has_string or any(task.get(n) not in (None, "") for n in PROXY_FIELDS)):
            return Refusal("invalid", f"{schema.type} takes no proxy (use the proxy type)")
        if dialect.strict or not (has_fields or has_string):
            return None
    if has_string and schema.proxy_form in ("string", "either"):
        return _parse_proxy_string(task["proxy"])
    if has_string and dialect.strict:
        return Refusal("invalid", f"{schema.type} takes proxyType/proxyAddress/proxyPort, not proxy")
    if has_fields and schema.proxy_form == "string" and dialect.strict:
        return Refusal("invalid", f"{schema.type} takes one proxy string, not proxyAddress/proxyPort")
    if not has_fields:
        if schema.proxy == "required":
            return Refusal("proxy_missing", f"{schema.type} needs a proxy")
        return None
    ptype = task.get("proxyType", "http")
    if ptype in (None, ""):
        if schema.proxy_type_required and dialect.strict:
            return Refusal("proxy_missing", "proxyType is required")
        ptype = "http"
    address, port = task.get("proxyAddress"), task.get("proxyPort")
    if not isinstance(address, str) or not address:
        return Refusal("proxy_missing", "proxyAddress is required")
    if dialect.strict and (not isinstance(port, int) or isinstance(port, bool)):
        return Refusal("proxy_missing" if port in (None, "") else "invalid", "proxyPort must be an integer")
    try:
        port_number = int(port)  # type: ignore[arg-type]  # None: the TypeError below
    except (TypeError, ValueError):
        return Refusal("invalid", "proxyPort must be an integer")
    if ptype not in PROXY_TYPES or not 0 < port_number < 65536:
        return Refusal("invalid", "proxyType must be http, https, socks4 or socks5 and proxyPort a port")
    login, password = task.get("proxyLogin"), task.get("proxyPassword")
    for value in (login, password):
        if value is not None and not isinstance(value, str):
            return Refusal("invalid", "proxyLogin and proxyPassword must be strings")
    return ProxySpec(ptype, address, port_number, login or None, password or None)


def _parse_proxy_string(text: Any) -> ProxySpec | Refusal:
    """capsolver/yescaptcha forms: ``[type:]host:port[:login:password]`` or ``scheme://[login:password@]host:port``."""
    if not isinstance(text, str):
        return Refusal("invalid", "proxy must be a string")
    if "://" in text:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in PROXY_TYPES or not parts.hostname or not port:
            return Refusal("invalid", "proxy must look like scheme://[login:password@]host:port")
        return ProxySpec(parts.scheme, parts.hostname, port, unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password else None)
    pieces = text.split(":")
    scheme = "http"
    if pieces and pieces[0].lower() in PROXY_TYPES:
        scheme = pieces.pop(0).lower()
    if len(pieces) not in (2, 4) or not pieces[0] or not pieces[1].isdigit():
        return Refusal("invalid", "proxy must look like [type:]host:port[:login:password]")
    login, password = (pieces[2], pieces[3]) if len(pieces) == 4 else (None, None)
    return ProxySpec(scheme, pieces[0], int(pieces[1]), login or None, password or None)


def masked_task(task: Any) -> Any:
    """The task as the service log keeps it: proxy credentials replaced by their length."""
    if not isinstance(task, dict):
        return task
    out = dict(task)
    for name in ("proxyLogin", "proxyPassword"):
        if isinstance(out.get(name), str) and out[name]:
            out[name] = f"<redacted:{len(out[name])}>"
    if isinstance(out.get("proxy"), str):
        parsed = _parse_proxy_string(out["proxy"])
        if isinstance(parsed, ProxySpec):
            creds = "<redacted>@" if parsed.login or parsed.password else ""
            out["proxy"] = f"{parsed.scheme}://{creds}{parsed.host}:{parsed.port}"
        else:
            out["proxy"] = "<redacted>"
    return out


# -- solutions ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a solve produced, before a dialect names its fields."""

    kind: str
    user_agent: str
    token: str | None = None
    text: str | None = None
    geetest: dict[str, str] = field(default_factory=dict)
    cookie: str | None = None  # cookie name
    cookie_value: str | None = None
    hostname: str = ""
    voucher: tuple[str, str] | None = None  # (captcha_voucher, existing_token)
    website_url: str = ""
    respkey: str | None = None


def _set_cookie_text(outcome: Outcome) -> str:
    """``datadome=V; Max-Age=...; Path=/; Secure; SameSite=Lax``, the way the providers return it.
    No Domain attribute for an IP host (a browser would reject one)."""
    domain = "" if _is_ip(outcome.hostname) else f"; Domain=.{outcome.hostname}"
    return f"{outcome.cookie_value}; Max-Age=31536000{domain}; Path=/; Secure; SameSite=Lax"


def _is_ip(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host or host == "localhost"


def solution(dialect: Dialect, outcome: Outcome, parsed: ParsedTask) -> dict[str, Any]:
    """The ``solution`` object the dialect returns for this kind."""
    name, kind, ua = dialect.name, outcome.kind, outcome.user_agent
    if kind.startswith("recaptcha"):
        out: dict[str, Any] = {"gRecaptchaResponse": outcome.token}
        if name == "2captcha":
            out["token"] = outcome.token
        if name in ("capsolver", "sandbox", "anticaptcha"):
            out["userAgent"] = ua
        return out
    if kind == "hcaptcha":
        out = {"gRecaptchaResponse": outcome.token, "userAgent": ua}
        if name in ("anticaptcha", "capmonster"):
            out["respKey"] = outcome.respkey or ""
        return out
    if kind == "turnstile":
        # CM_DOCS turnstile result table: token (cf_clearance for cookie mode); the others add userAgent.
        return {"token": outcome.token} if name == "capmonster" else {"token": outcome.token, "userAgent": ua}
    if kind == "image":
        return {"text": outcome.text}
    if kind in ("geetest_v3", "geetest_v4"):
        out = dict(outcome.geetest)
        if name == "capsolver" and kind == "geetest_v4":
            out["risk_type"] = "slide"
        return out
    if kind in ("funcaptcha", "friendly_captcha", "mtcaptcha"):
        return {"token": outcome.token}
    if kind == "aws_waf":
        if outcome.voucher is not None:
            return {"captcha_voucher": outcome.voucher[0], "existing_token": outcome.voucher[1]}
        if name == "capsolver":
            return {"cookie": outcome.cookie_value}
        if name == "anticaptcha":
            return {"token": outcome.cookie_value, "userAgent": ua}
        return {"cookies": {"aws-waf-token": outcome.cookie_value}, "userAgent": ua}
    if kind == "datadome":
        if name == "capmonster":
            return {"domains": {outcome.hostname: {"cookies": {"datadome": _set_cookie_text(outcome)}}}}
        return {"cookie": "datadome=" + _set_cookie_text(outcome), "userAgent": ua}
    # Clearance cookies (Cloudflare, or whatever AntiBotCookieTask found).
    cookies = {outcome.cookie or "cf_clearance": outcome.cookie_value}
    if name == "capmonster":
        return {"cf_clearance": outcome.cookie_value}
    if name == "anticaptcha":
        return {"cookies": cookies, "localStorage": {}, "fingerprint": {"self.navigator.userAgent": ua},
                "url": outcome.website_url}
    if name == "yescaptcha":
        return {"cookies": cookies, "user_agent": ua}
    return {"cookies": cookies, "userAgent": ua}


def voucher_mode(dialect: Dialect, parsed: ParsedTask) -> bool:
    """AWS WAF: the dialect returns a captcha voucher to exchange rather than the cookie."""
    if parsed.kind != "aws_waf":
        return False
    if dialect.name == "2captcha":
        return True
    return dialect.name == "capmonster" and parsed.get("cookie_solution") not in (True, 1)


def report_family(kind: str) -> str:
    if kind.startswith("recaptcha"):
        return "recaptcha"
    if kind.startswith("geetest"):
        return "geetest"
    return kind


def error_body(dialect: Dialect, code: str, description: str, *, on_create: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"errorId": dialect.error_ids.get(code, 1), "errorCode": code,
                            "errorDescription": description}
    if dialect.task_id_on_error and on_create:
        body["taskId"] = 0
    return body


def table() -> list[dict[str, Any]]:
    """Every (dialect, type) with its kind, fields and source: for docs/sandbox.md and the report."""
    rows = []
    for dialect in DIALECTS.values():
        if not dialect.strict:
            continue
        for schema in dialect.schemas.values():
            rows.append({
                "dialect": dialect.name, "type": schema.key, "kind": schema.kind,
                "required": [f.name for f in schema.fields if f.required],
                "optional": [f.name for f in schema.fields if not f.required],
                "proxy": schema.proxy if schema.proxy == "none" else f"{schema.proxy} ({schema.proxy_form})",
                "source": schema.source,
            })
    return rows


def _json_blob(value: Any) -> str | None:
    """Arkose's ``data`` field: a JSON string ``{"blob": "..."}`` (anticaptcha/2captcha/capmonster docs)."""
    if not isinstance(value, str):
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data.get("blob") if isinstance(data, dict) and isinstance(data.get("blob"), str) else None


blob_of = _json_blob

__all__ = ["DIALECTS", "Dialect", "TaskSchema", "FieldSpec", "ParsedTask", "Refusal", "ProxySpec", "Outcome",
           "validate", "resolve_kind", "solution", "voucher_mode", "report_family", "error_body", "masked_task",
           "table", "blob_of", "KINDS", "SITUATIONS"]
