"""The sans-I/O protocol: task building per dialect and every parsing quirk of spec §1."""

from __future__ import annotations

import json

import pytest

from scrapy_captcha import Challenge, Reaction, ServiceError, TransportFault
from scrapy_captcha.service import PRESETS, get_preset
from scrapy_captcha.service import protocol as p

KEY = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"
V2 = Challenge(kind="recaptcha_v2", sitekey=KEY, page_url="https://example.com/login")


def body(obj) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("preset", "base_url", "task_type"),
    [
        ("yescaptcha", "https://api.yescaptcha.com", "NoCaptchaTaskProxyless"),
        ("capsolver", "https://api.capsolver.com", "ReCaptchaV2TaskProxyLess"),
        ("anticaptcha", "https://api.anti-captcha.com", "RecaptchaV2TaskProxyless"),
        ("2captcha", "https://api.2captcha.com", "RecaptchaV2TaskProxyless"),
        ("capmonster", "https://api.capmonster.cloud", "RecaptchaV2Task"),
        ("sandbox", "http://127.0.0.1:8975", "NoCaptchaTaskProxyless"),
    ],
)
def test_presets_have_the_real_base_urls_and_v2_task_types(preset, base_url, task_type):
    dialect = get_preset(preset)
    assert dialect.base_url == base_url
    call = p.create_task_call(dialect, "k", V2)
    assert call.path == "/createTask"
    assert call.payload["task"] == {"type": task_type, "websiteURL": V2.page_url, "websiteKey": KEY}


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="yescaptcha.*capsolver"):
        get_preset("nope")


def test_v2_fields_invisible_data_s_enterprise_and_api_domain():
    ch = Challenge(kind="recaptcha_v2", sitekey=KEY, page_url="https://www.google.com/sorry/index",
                   invisible=True, data_s="S-VALUE", api_domain="www.recaptcha.net")
    task = p.build_task(PRESETS["capsolver"], ch)
    assert task["isInvisible"] is True
    assert task["recaptchaDataSValue"] == "S-VALUE"
    assert task["apiDomain"] == "www.recaptcha.net"
    # yescaptcha has no apiDomain field
    assert "apiDomain" not in p.build_task(PRESETS["yescaptcha"], ch)
    ent = Challenge(kind="recaptcha_v2", sitekey=KEY, page_url="https://e.com/", enterprise=True, data_s="S")
    task = p.build_task(PRESETS["yescaptcha"], ent)
    assert task["type"] == "RecaptchaV2EnterpriseTaskProxyless"
    assert task["enterprisePayload"] == {"s": "S"}


def test_soft_id_uses_the_dialects_field():
    assert p.create_task_call(PRESETS["yescaptcha"], "k", V2, soft_id=7).payload["softId"] == 7
    assert p.create_task_call(PRESETS["capsolver"], "k", V2, soft_id="app").payload["appId"] == "app"
    assert "softId" not in p.create_task_call(PRESETS["capmonster"], "k", V2, soft_id=7).payload


def test_a_kind_the_provider_lacks_is_a_configuration_outcome():
    hc = Challenge(kind="hcaptcha", sitekey="10000000-ffff-ffff-ffff-000000000001", page_url="https://e.com/")
    with pytest.raises(ServiceError) as info:
        p.build_task(PRESETS["capsolver"], hc)
    assert info.value.code == "ERROR_TASK_NOT_SUPPORTED"
    assert info.value.reaction is Reaction.MISCONFIGURED


def test_call_repr_masks_the_key():
    call = p.create_task_call(PRESETS["yescaptcha"], "SUPER-SECRET", V2)
    assert "SUPER-SECRET" not in repr(call)
    assert call.payload["clientKey"] == "SUPER-SECRET"


def test_report_calls_per_dialect():
    assert p.report_call(PRESETS["yescaptcha"], "k", "id") is None  # none documented
    capsolver = p.report_call(PRESETS["capsolver"], "k", "id")
    assert capsolver.path == "/feedbackTask" and capsolver.payload["result"] == {"invalid": True}
    assert p.report_call(PRESETS["anticaptcha"], "k", 5).path == "/reportIncorrectRecaptcha"
    assert p.report_call(PRESETS["2captcha"], "k", 5).path == "/reportIncorrect"
    assert p.report_call(PRESETS["capmonster"], "k", 5).path == "/reportIncorrectTokenCaptcha"


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


def test_create_task_without_task_id_is_a_fault():
    with pytest.raises(TransportFault):
        p.parse_create_task(200, body({"errorId": 0}))


@pytest.mark.parametrize("status", ["processing", "idle"])
def test_pending_statuses(status):
    assert p.parse_task_result(200, body({"errorId": 0, "status": status}), "t") is None


def test_ready_with_string_numbers_and_user_agent():
    solution = p.parse_task_result(200, body({
        "errorId": 0, "status": "ready", "cost": "0.00120", "solveCount": "1",
        "solution": {"token": "0.tok", "userAgent": "UA/1"}}), "t")
    assert solution.token == "0.tok"
    assert solution.cost == pytest.approx(0.0012)
    assert solution.user_agent == "UA/1"
    assert solution.task_id == "t"


@pytest.mark.parametrize("answer", [
    {"errorId": 0, "status": "done"},
    {"errorId": 0, "status": None},
    {"errorId": 0, "status": "ready"},
    {"errorId": 0, "status": "ready", "solution": {}},
    {"errorId": 0, "status": "ready", "solution": "03A"},
])
def test_unknown_status_or_broken_solution_is_a_fault_never_success(answer):
    with pytest.raises(TransportFault) as info:
        p.parse_task_result(200, body(answer), "t")
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
