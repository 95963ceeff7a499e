"""The crawl journal: what it records, its bounds, its JSON round trip, and that it keeps no secret."""

from __future__ import annotations

import gc
import json
import random
import tracemalloc

import pytest
from scrapy import Request

from scrapy_captcha.journal import BIN_EDGES, OTHER, Distribution, Journal, host_only, scrub
from scrapy_captcha.model import Proxy, Secret

KEY = "key-5f1c0ffee5f1c0ffee5f1c0ffee"
PROXY_PASSWORD = "pr0xy-pa55-QX7"
COOKIE = "cf_clearance_VALUE_93jd8"
TOKEN = "03AGdBq24-TOKEN-lw9x"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_solve_is_counted_by_kind_provider_and_outcome():
    clock = Clock()
    journal = Journal(clock=clock)
    clock.now += 12.5
    journal.solve("recaptcha_v2", "capsolver", 11.0, polls=4, cost=0.0008, estimated=True)
    journal.solve("recaptcha_v2", "2captcha", 20.0, polls=6, cost=0.003, t=30.0)
    journal.solve("turnstile", "capsolver", 5.0, polls=2)
    journal.solve("turnstile", "capsolver", 180.0, polls=58, outcome="SOLVE_TIMEOUT", t=200.0)

    assert journal.solved == 3 and journal.attempts == 4 and journal.polls == 70
    assert journal.solved_by_kind == {"recaptcha_v2": 2, "turnstile": 1}
    assert journal.solve_time_by_provider["capsolver"].count == 2
    assert journal.failed == {("capsolver", "SOLVE_TIMEOUT"): 1}
    assert journal.total_spend == pytest.approx(0.0038)
    assert journal.estimated_spend == pytest.approx(0.0008)
    assert journal.unpriced == 1
    # Times are crawl times: the first solve was recorded 12.5 s after the journal was made.
    assert sorted(s[0] for s in journal.solve_sample) == [12.5, 12.5, 30.0, 200.0]
    assert journal.last_t == 200.0


def test_drops_reschedules_budget_and_balance():
    journal = Journal(clock=Clock())
    journal.drop("ERROR_CAPTCHA_UNSOLVABLE")
    journal.drop("ERROR_CAPTCHA_UNSOLVABLE", count=2)
    journal.drop("CHALLENGE_LOOP", count=0)  # nothing
    journal.reschedule("TOKEN_REJECTED", count=3)
    journal.set_budget(2.0)
    journal.solve("hcaptcha", "2captcha", 30.0, cost=0.5)
    journal.balance("yescaptcha", 12345.0, unit="points", t=5.0)
    assert journal.dropped == {"ERROR_CAPTCHA_UNSOLVABLE": 3}
    assert journal.rescheduled == {"TOKEN_REJECTED": 3}
    assert journal.budget_left == pytest.approx(1.5)
    assert journal.balances["yescaptcha"] == [5.0, 12345.0, "points"]
    journal.balance("yescaptcha", float("nan"))  # no reading
    assert journal.balances["yescaptcha"] == [5.0, 12345.0, "points"]
    with pytest.raises(ValueError, match="budget"):
        journal.set_budget(-1)


def test_gates_keep_host_only_scope_changes_and_outcomes():
    journal = Journal(clock=Clock())
    journal.gate_opened(1, "https://user:pw@Shop.Example.com:8443/cart?id=7#x", "page", kind="turnstile", t=1.0)
    journal.gate_scope(1, "session", t=3.0)
    journal.gate_closed(1, "passed", released=12, t=9.0)
    journal.gate_opened(2, "shop.example.com:8443", "page", t=10.0)
    journal.gate_closed(2, "ERROR_CAPTCHA_UNSOLVABLE", dropped=1, t=14.0)
    journal.gate_opened(3, "other.example", "request", t=15.0)
    journal.gate_closed(99, "passed")  # never opened: ignored

    assert journal.gates == [
        [1.0, 9.0, "shop.example.com:8443", "session", "turnstile", "passed", 12, 0, "page>session"],
        [10.0, 14.0, "shop.example.com:8443", "page", "", "ERROR_CAPTCHA_UNSOLVABLE", 0, 1, "page"],
    ]
    assert journal.gate_table[("shop.example.com:8443", "session", "passed")] == [1, 12, 0, 8.0, 8.0]
    assert list(journal.open_gates) == [3]
    assert journal.gates_opened == 3 and journal.gates_closed == 2
    with pytest.raises(ValueError, match="scope"):
        journal.gate_opened(4, "x.example", "unknown")


def test_hosts_can_be_hashed():
    journal = Journal(hosts="hash", clock=Clock())
    journal.gate_opened(1, "secret-client.example.com", "session")
    journal.gate_closed(1, "passed")
    assert "secret-client" not in json.dumps(journal.to_dict())
    assert journal.gates[0][2].startswith("host-")
    with pytest.raises(ValueError):
        Journal(hosts="maybe")


def test_provider_states_changes_and_time_in_each():
    clock = Clock()
    journal = Journal(clock=clock)
    journal.provider_state("capsolver", "ok", t=0.0)
    journal.provider_state("capsolver", "ok", t=5.0)  # no change: ignored
    journal.provider_state("capsolver", "paused:ERROR_ZERO_BALANCE", detail="balance is zero", t=10.0)
    journal.provider_state("capsolver", "Cooldown", t=40.0)
    journal.provider_state("capsolver", "out of rotation", t=50.0)
    journal.provider_state("capsolver", "ok", t=70.0)
    assert [c[1:3] for c in journal.provider_log["capsolver"]] == [
        ["ok", ""], ["paused", "ERROR_ZERO_BALANCE"], ["cooldown", ""], ["out_of_rotation", ""], ["ok", ""]]
    assert journal.time_in_states(until=100.0)["capsolver"] == {
        "ok": 40.0, "paused": 30.0, "cooldown": 10.0, "out_of_rotation": 20.0}
    with pytest.raises(ValueError, match="provider state"):
        journal.provider_state("capsolver", "sleeping")
    journal.failover("capsolver", "2captcha", "ERROR_TASK_NOT_SUPPORTED", t=80.0)
    journal.failover("capsolver", "2captcha", "ERROR_TASK_NOT_SUPPORTED", t=81.0)
    assert journal.failover_count == {("capsolver", "2captcha", "ERROR_TASK_NOT_SUPPORTED"): 2}


def test_an_untouched_journal_is_empty_and_one_solve_is_not():
    journal = Journal(clock=Clock())
    journal.provider_state("capsolver", "ok")
    journal.set_budget(5)
    journal.balance("capsolver", 3.0)
    assert journal.is_empty()
    journal.drop("unsupported_datadome")
    assert not journal.is_empty()
    paused = Journal(clock=Clock())
    paused.provider_state("capsolver", "paused:ERROR_KEY_DOES_NOT_EXIST")
    assert not paused.is_empty()


def test_bounds_hold_and_aggregates_stay_exact_on_a_long_crawl():
    rng = random.Random(3)
    journal = Journal(max_events=50, max_buckets=16, max_names=4, max_hosts=3, clock=Clock())
    kinds = [f"kind{i}" for i in range(8)]
    hours = 10 * 3600
    solves = 20_000
    for i in range(solves):
        t = i * hours / solves
        journal.solve(kinds[i % 8], f"provider{i % 6}", rng.uniform(1, 60), polls=2, cost=0.001, t=t)
        journal.drop(f"CODE_{i % 7}", t=t)
        journal.gate_opened(i, f"host{i % 9}.example", "page", t=t)
        journal.gate_closed(i, "passed" if i % 5 else f"FAIL_{i % 11}", released=1, t=t + 3)
        journal.provider_state(f"provider{i % 6}", "cooldown" if (i // 6) % 2 else "ok", t=t)
        journal.failover("provider0", f"provider{i % 6}", f"CODE_{i % 13}", t=t)

    assert len(journal.solve_sample) == 50
    assert len(journal.gates) == 50 and journal.gates_closed == solves
    assert len(journal.failovers) == 50 and sum(journal.failover_count.values()) == solves
    assert all(len(log) <= 50 for log in journal.provider_log.values())
    assert len(journal.provider_log) <= 4 and journal.provider_changes_unkept > 0
    assert len(journal.solved_by_kind) == 4 + 1 and OTHER in journal.solved_by_kind  # 4 names + (other)
    assert sum(journal.solved_by_kind.values()) == solves
    assert len(journal.dropped) <= 5 and sum(journal.dropped.values()) == solves
    assert journal.total_spend == pytest.approx(solves * 0.001)
    assert sum(row[0] for row in journal.gate_table.values()) == solves
    assert {h for h, _, _ in journal.gate_table} <= {"host0.example", "host1.example", "host2.example",
                                                     "(other hosts)"}
    # Time buckets: never more than the limit, the width doubled as the crawl went on, nothing lost.
    assert all(len(v) <= 16 for v in journal.grid.series.values())
    assert journal.grid.width * 16 >= hours
    assert sum(journal.grid.get("solved")) + sum(journal.grid.get("failed")) == solves
    assert len(journal.open_gates) == 0


def test_memory_stays_flat_however_many_events():
    journal = Journal(clock=Clock())
    rng = random.Random(5)

    def crawl(start: int, n: int) -> None:
        for i in range(start, start + n):
            t = i * 0.5
            journal.solve("recaptcha_v2" if i % 3 else "turnstile", "capsolver" if i % 4 else "2captcha",
                          rng.uniform(2, 90), polls=3, cost=0.001, t=t)
            journal.gate_opened(i, f"h{i % 50}.example", "page", t=t)
            journal.gate_closed(i, "passed", released=1, t=t + 10)
            journal.drop("ERROR_CAPTCHA_UNSOLVABLE", t=t)

    tracemalloc.start()
    try:
        crawl(0, 5_000)  # every kept list is full by now
        gc.collect()
        before = tracemalloc.take_snapshot()
        crawl(5_000, 20_000)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename")
                if stat.traceback[0].filename.endswith("journal.py"))
    # 20 000 more solves, gates and drops: the journal grew by a few time buckets at most.
    print(f"journal grew by {grown} bytes over 20 000 more solves, gates and drops")
    assert grown < 64 * 1024, grown
    assert journal.attempts == 25_000


def test_quantiles_are_within_a_bin_of_the_exact_value():
    rng = random.Random(11)
    values = [rng.lognormvariate(2.5, 0.5) for _ in range(5000)]
    dist = Distribution()
    for v in values:
        dist.add(v)
    values.sort()
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        exact = values[int(q * len(values))]
        i = min(range(len(BIN_EDGES)), key=lambda k: abs(BIN_EDGES[k] - exact))
        width = BIN_EDGES[i] - BIN_EDGES[i - 1]
        assert abs(dist.quantile(q) - exact) <= width, q
    assert dist.quantile(0) == values[0] and dist.quantile(1) == values[-1]
    assert dist.mean == pytest.approx(sum(values) / len(values))


def full_journal() -> Journal:
    clock = Clock()
    journal = Journal(max_events=20, max_buckets=8, clock=clock, started_at=1_700_000_000.0)
    journal.set_budget(1.0)
    for i in range(60):
        t = i * 7.0
        journal.solve("recaptcha_v2", "capsolver", 5 + i % 13, polls=i % 5, cost=0.001 if i % 3 else None,
                      estimated=True, t=t)
        journal.gate_opened(i, "shop.example.com", "page" if i % 4 else "session", kind="recaptcha_v2", t=t)
        if i % 10:
            journal.gate_closed(i, "passed" if i % 6 else "TOKEN_REJECTED", released=2, t=t + 4)
    journal.solve("turnstile", "2captcha", 180, outcome="SOLVE_TIMEOUT", t=500)
    journal.drop("CHALLENGE_LOOP", t=510)
    journal.reschedule("SOLVE_TIMEOUT", t=500)
    journal.provider_state("capsolver", "paused:ERROR_ZERO_BALANCE", detail="no money", t=300)
    journal.provider_state("capsolver", "ok", t=360)
    journal.failover("capsolver", "2captcha", "ERROR_TASK_NOT_SUPPORTED", t=20)
    journal.balance("capsolver", 4.5, t=360)
    clock.now += 600
    return journal


def test_json_round_trip_gives_the_same_journal():
    journal = full_journal()
    data = json.loads(json.dumps(journal.to_dict()))
    again = Journal.from_dict(data)
    assert again.to_dict() == data
    assert again.now() == pytest.approx(600.0)  # its clock stopped when it was saved
    assert again.solve_time_by_kind["recaptcha_v2"].quantile(0.5) == journal.solve_time_by_kind[
        "recaptcha_v2"].quantile(0.5)
    # A loaded journal keeps recording like any other.
    again.drop("CHALLENGE_LOOP")
    assert again.dropped["CHALLENGE_LOOP"] == 2


def test_from_dict_refuses_what_is_not_a_journal():
    with pytest.raises(ValueError, match="not a scrapy-captcha journal"):
        Journal.from_dict({"format": "something-else"})
    with pytest.raises(ValueError, match="not a scrapy-captcha journal"):
        Journal.from_dict([])  # type: ignore[arg-type]
    data = full_journal().to_dict()
    del data["gates"]["closed"]
    with pytest.raises(ValueError, match="damaged"):
        Journal.from_dict(data)
    data = full_journal().to_dict()
    data["solves"]["sample"] = [["x", 1, "k", "p", "solved"]]
    with pytest.raises(ValueError, match="damaged"):
        Journal.from_dict(data)


def test_objects_are_refused_not_kept():
    journal = Journal(clock=Clock())
    request = Request("https://shop.example.com/", meta={"proxy": f"http://u:{PROXY_PASSWORD}@p.example:8080"})
    for bad in (Secret(KEY), Proxy.from_url(f"http://u:{PROXY_PASSWORD}@p.example:8080"), request, None, 3):
        with pytest.raises(TypeError, match="must be a str"):
            journal.solve(bad, "capsolver", 1.0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be a str"):
            journal.gate_opened(1, bad, "page")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be a str"):
            journal.provider_state("capsolver", "paused", detail=bad)  # type: ignore[arg-type]
    assert journal.is_empty()


def test_no_secret_survives_into_the_journal():
    journal = Journal(clock=Clock())
    journal.gate_opened(1, f"https://login:{PROXY_PASSWORD}@shop.example.com/?token={TOKEN}", "session")
    journal.gate_closed(1, "passed")
    journal.provider_state("capsolver", "paused:ERROR_KEY_DOES_NOT_EXIST",
                           detail=f"POST https://api.capsolver.com/createTask?clientKey={KEY} refused; "
                                  f"clientKey={KEY}; proxy http://user:{PROXY_PASSWORD}@10.0.0.1:3128 "
                                  f"cookie cf_clearance={COOKIE} token: {TOKEN} api_key='{KEY}'")
    journal.provider_state("2captcha", "cooldown", detail=f"proxyPassword={PROXY_PASSWORD} session_id={TOKEN}")
    dumped = json.dumps(journal.to_dict())
    for secret in (KEY, PROXY_PASSWORD, COOKIE, TOKEN):
        assert secret not in dumped
    detail = journal.provider_log["capsolver"][0][3]
    assert "api.capsolver.com/createTask" in detail and "10.0.0.1:3128" in detail  # the useful part stays
    assert journal.gates[0][2] == "shop.example.com"


def test_scrub_and_host_only():
    assert host_only("HTTP://a:b@Example.COM:81/x?y") == "example.com:81"
    assert host_only("a:b@example.com") == "example.com"
    assert host_only("[::1]:8080") == "[::1]:8080"
    assert scrub("password = hunter2, next") == "password = …, next"
    assert scrub("x" * 500).endswith("…") and len(scrub("x" * 500)) == 200
    assert scrub("line\nbreak\x00") == "line break "


def test_names_are_bounded_and_printable():
    journal = Journal(clock=Clock())
    journal.drop("A" * 500 + "\n<b>")
    (code,) = journal.dropped
    assert len(code) == 80 and code.isprintable()
