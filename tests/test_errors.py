"""Every row of spec/service-api.md §4, and every code in both seed tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scrapy_captcha import Reaction, reaction_for
from scrapy_captcha.service.errors import RULES, UNKNOWN, rule_for

R = Reaction

# The spec's table, row by row (aliases of one condition share a row).
SPEC_TABLE: list[tuple[list[str], Reaction]] = [
    (["ERROR_ZERO_BALANCE"], R.PAUSE),
    (["ERROR_KEY_BANNED"], R.PAUSE),
    (["ERROR_KEY_DOES_NOT_EXIST", "ERROR_KEY_DENIED_ACCESS", "ERROR_WRONG_USER_KEY"], R.PAUSE),
    (["ERROR_ACCOUNT_SUSPENDED", "ERROR_IP_NOT_ALLOWED"], R.PAUSE),
    (["ERROR_SETTLEMENT_FAILED"], R.PAUSE),
    (["ERROR_IP_BLOCKED_5MIN"], R.COOLDOWN),
    (["ERROR_KEY_TEMP_BLOCKED"], R.COOLDOWN),
    (["ERROR_IP_BANNED", "ERROR_IP_BLOCKED"], R.COOLDOWN),
    (["ERROR_NO_SLOT_AVAILABLE"], R.BACKOFF),
    (["ERROR_NO_SLOT_AVAILABLE_BLOCK"], R.BACKOFF),
    (["ERROR_THREADS_MAXIMUM"], R.BACKOFF),
    (["ERROR_RATE_LIMIT", "ERROR_TOO_MUCH_REQUESTS"], R.BACKOFF),
    (["ERROR_SERVICE_UNAVALIABLE", "ERROR_INTERNAL_SERVER_ERROR"], R.BACKOFF),
    (["ERROR_BAD_REQUEST"], R.BACKOFF),
    (["ERROR_CAPTCHA_UNSOLVABLE"], R.RESCHEDULE),
    (["ERROR_NO_SUCH_CAPCHA_ID", "ERROR_TASKID_INVALID"], R.RESCHEDULE),
    (["ERROR_TASK_TIMEOUT", "ERROR_RECAPTCHA_TIMEOUT"], R.RESCHEDULE),
    (["ERROR_TOKEN_EXPIRED", "ERROR_FAILED_LOADING_WIDGET", "ERROR_BAD_DUPLICATES"], R.RESCHEDULE),
    (["ERROR_RECAPTCHA_INVALID_SITEKEY"], R.DROP),
    (["INVALID_RECAPTCHA_SITEURL", "ERROR_RECAPTCHA_INVALID_DOMAIN", "ERROR_DOMAIN_NOT_ALLOWED"], R.DROP),
    (["ERROR_ILLEGAL_IMAGE", "ERROR_INVALID_IMAGE", "ERROR_PARSE_IMAGE_FAIL", "ERROR_ZERO_CAPTCHA_FILESIZE",
      "ERROR_TOO_BIG_CAPTCHA_FILESIZE", "ERROR_IMAGE_TYPE_NOT_SUPPORTED"], R.DROP),
    (["ERROR_UNKNOWN_QUESTION", "ERROR_UNKNOW_450x450_QUESTION"], R.DROP),
    (["ERROR_TASK_CANCELED"], R.DROP),
    (["ERROR_TASK_NOT_SUPPORTED"], R.MISCONFIGURED),
    (["ERROR_REQUIRED_FIELDS", "ERROR_INVALID_TASK_DATA", "ERROR_BAD_PARAMETERS", "ERROR_TASK_ABSENT",
      "ERROR_VISIBLE_RECAPTCHA", "ERROR_INVISIBLE_RECAPTCHA", "ERROR_WRONG_USERAGENT",
      "ERROR_RECAPTCHA_OLD_BROWSER"], R.MISCONFIGURED),
    (["ERROR_PAGE_NOT_FOUND", "ERROR_NO_SUCH_METHOD"], R.MISCONFIGURED),
    (["ERROR_PROXY_BANNED", "ERROR_PROXY_CONNECT_REFUSED", "ERROR_PROXY_TIMEOUT", "ERROR_BAD_PROXY"], R.DROP),
]

ROWS = [(code, reaction) for codes, reaction in SPEC_TABLE for code in codes]
SEEDS = Path(__file__).parent / "data" / "seeds"
CODE = re.compile(r"\b(?:ERROR_[A-Z0-9]+(?:_[A-Za-z0-9]+)*|INVALID_RECAPTCHA_SITEURL)\b")


@pytest.mark.parametrize(("code", "reaction"), ROWS, ids=[c for c, _ in ROWS])
def test_every_spec_row(code, reaction):
    assert reaction_for(code) is reaction


# The seeds as transcribed; the tests below check the transcription against the files.
SEED_CODES = {
    "yescaptcha-style-error-codes.txt": [
        "ERROR_SERVICE_UNAVALIABLE", "ERROR_REQUIRED_FIELDS", "ERROR_THREADS_MAXIMUM",
        "ERROR_PAGE_NOT_FOUND", "ERROR_BAD_REQUEST", "ERROR_INTERNAL_SERVER_ERROR", "ERROR_IP_BANNED",
        "ERROR_KEY_BANNED", "ERROR_TASKID_INVALID", "ERROR_TASK_TIMEOUT", "ERROR_SETTLEMENT_FAILED",
        "ERROR_KEY_DOES_NOT_EXIST", "ERROR_ZERO_BALANCE", "ERROR_NO_SUCH_METHOD", "ERROR_TASK_NOT_SUPPORTED",
        "ERROR_CAPTCHA_UNSOLVABLE", "ERROR_NO_SUCH_CAPCHA_ID", "ERROR_RECAPTCHA_INVALID_SITEKEY",
        "ERROR_UNKNOWN_QUESTION", "ERROR_ILLEGAL_IMAGE", "ERROR_UNKNOW_450x450_QUESTION",
        "ERROR_PARSE_IMAGE_FAIL", "ERROR_IP_BLOCKED_5MIN", "INVALID_RECAPTCHA_SITEURL",
        "ERROR_NO_SLOT_AVAILABLE", "ERROR_NO_SLOT_AVAILABLE_BLOCK",
    ],
    "capsolver-error-codes.txt": [
        "ERROR_SERVICE_UNAVALIABLE", "ERROR_RATE_LIMIT", "ERROR_INVALID_TASK_DATA", "ERROR_BAD_REQUEST",
        "ERROR_TASKID_INVALID", "ERROR_TASK_TIMEOUT", "ERROR_SETTLEMENT_FAILED", "ERROR_KEY_DENIED_ACCESS",
        "ERROR_ZERO_BALANCE", "ERROR_TASK_NOT_SUPPORTED", "ERROR_CAPTCHA_UNSOLVABLE", "ERROR_UNKNOWN_QUESTION",
        "ERROR_PROXY_BANNED", "ERROR_INVALID_IMAGE", "ERROR_PARSE_IMAGE_FAIL", "ERROR_IP_BANNED",
        "ERROR_KEY_TEMP_BLOCKED",
    ],
}


# The YesCaptcha seed is a page's diff view (old and new revision interleaved):
# these codes are split into fragments there, each next to its own description.
SPLIT_BY_THE_DIFF_VIEW = {
    "ERROR_KEY_BANNED": ["KEY_", "BANNED", "Your client key has been banned"],
    "ERROR_TASKID_INVALID": ["TASKID", "INVALID", "Task ID does not exist or has expired"],
    "ERROR_TASK_TIMEOUT": ["TASK", "TIMEOUT", "任务已超时"],
}


@pytest.mark.parametrize("seed", sorted(SEED_CODES))
def test_the_seed_transcription_matches_the_file(seed):
    text = (SEEDS / seed).read_text(encoding="utf-8")
    codes = SEED_CODES[seed]
    for code in codes:
        if code not in text:
            for fragment in SPLIT_BY_THE_DIFF_VIEW.get(code, [code]):
                assert fragment in text, code
    # Nothing in the file that looks like a code was left out of the transcription
    # (the CapSolver table glues codes to their descriptions, hence the prefix test).
    for token in CODE.findall(text):
        assert any(token.startswith(code) for code in codes), token


@pytest.mark.parametrize("seed", sorted(SEED_CODES))
def test_every_seed_code_has_its_spec_reaction(seed):
    spec = dict(ROWS)
    for code in SEED_CODES[seed]:
        assert code in RULES, code
        assert reaction_for(code) is spec[code], code


def test_unknown_codes_are_transient_with_a_small_budget_then_dropped():
    rule = rule_for("ERROR_SOMETHING_NEW")
    assert rule is UNKNOWN
    assert rule.reaction is R.BACKOFF and rule.attempts and rule.attempts <= 3
    assert reaction_for("") is R.BACKOFF


def test_per_code_delays_follow_the_services_rules():
    assert rule_for("ERROR_NO_SLOT_AVAILABLE").delay == 3.0
    block = rule_for("ERROR_NO_SLOT_AVAILABLE_BLOCK")
    assert block.delay == 20.0 and block.global_wait
    assert rule_for("ERROR_IP_BLOCKED_5MIN").delay == 300
    assert rule_for("ERROR_KEY_TEMP_BLOCKED").delay == 300
    banned = rule_for("ERROR_IP_BANNED")
    assert banned.delay == 600 and banned.check_before_resume
    assert rule_for("ERROR_BAD_REQUEST").attempts == 1
    assert rule_for("ERROR_SERVICE_UNAVALIABLE").exponential
    assert rule_for("ERROR_PROXY_BANNED").proxyless_retry


def test_every_pause_rule_says_what_a_person_should_do():
    for code, rule in RULES.items():
        if rule.reaction in (R.PAUSE, R.MISCONFIGURED):
            assert rule.advice, code


def test_no_rule_repeats_a_call_without_a_delay():
    for code, rule in list(RULES.items()) + [("unknown", UNKNOWN)]:
        if rule.reaction in (R.BACKOFF, R.COOLDOWN):
            assert rule.delay > 0, code
