"""The target checks: PASS/MISS and margins from a results document (pure, no timing)."""

from __future__ import annotations

from typing import Any

from benchmarks.polling import durations
from benchmarks.targets import evaluate


def _results(**overrides: Any) -> dict[str, Any]:
    results: dict[str, Any] = {
        "overhead": {"cpu_ratio_median": 1.1},
        "polling": {
            "strategies": {
                "schedule": {"polls_per_task_mean": 4.0, "delay_mean_s": 0.3},
                "fixed_1s": {"polls_per_task_mean": 11.0, "delay_mean_s": 0.5},
                "webhook": {"polls_per_task_max": 1, "delay_mean_s": 0.004},
            }
        },
        "batch": {
            "ratio_to_ideal": 1.05,
            "rate_limited_seen_by_caller": 0,
            "tcp_connections_opened": 25,
            "requests_total": 960,
            "concurrency": 24,
        },
    }
    results.update(overrides)
    return results


def _by_target(results: dict[str, Any]) -> dict[str, Any]:
    return {check.target: check for check in evaluate(results)}


def test_all_pass_when_every_figure_is_inside_its_limit() -> None:
    checks = evaluate(_results())
    assert checks
    assert all(check.passed for check in checks), [c.as_dict() for c in checks if not c.passed]


def test_a_figure_past_its_limit_is_a_miss_with_negative_margin() -> None:
    checks = _by_target(_results(overhead={"cpu_ratio_median": 1.5}))
    ratio = checks["client CPU / raw httpx CPU (median)"]
    assert not ratio.passed
    assert ratio.margin is not None
    assert abs(ratio.margin - (1.25 - 1.5)) < 1e-9


def test_polls_are_compared_to_half_the_one_second_baseline() -> None:
    strategies = _results()["polling"]["strategies"]
    strategies["schedule"]["polls_per_task_mean"] = 6.0  # 6/11 > 0.5
    check = _by_target(_results(polling={"strategies": strategies}))[
        "schedule polls / 1 s baseline polls"
    ]
    assert not check.passed
    assert check.value == round(6 / 11, 3)


def test_more_delay_than_the_baseline_is_a_miss() -> None:
    strategies = _results()["polling"]["strategies"]
    strategies["schedule"]["delay_mean_s"] = 0.6
    check = _by_target(_results(polling={"strategies": strategies}))[
        "schedule mean delay - 1 s baseline mean delay"
    ]
    assert not check.passed
    assert check.value is not None
    assert abs(check.value - 0.1) < 1e-9


def test_a_connection_per_request_is_a_miss() -> None:
    batch = dict(_results()["batch"], tcp_connections_opened=960)
    check = _by_target(_results(batch=batch))["requests per TCP connection (1 = no reuse)"]
    assert not check.passed
    assert check.value == 1.0


def test_a_missing_figure_is_a_miss_not_a_crash() -> None:
    checks = evaluate({"overhead": {"error": "boom"}, "polling": {}, "batch": {}})
    assert len(checks) == len(evaluate(_results()))
    assert not any(check.passed for check in checks)
    assert all(check.value is None for check in checks)
    assert all(check.margin is None for check in checks)


def test_benchmarks_not_run_have_no_targets() -> None:
    assert {check.benchmark for check in evaluate({"batch": _results()["batch"]})} == {"batch"}


def test_durations_spread_evenly_over_the_range_in_a_fixed_shuffled_order() -> None:
    spread = durations(10, 2.0, 20.0)
    assert sorted(spread) == [2.0 + 2.0 * i for i in range(10)]
    assert spread == durations(10, 2.0, 20.0)
    assert spread != sorted(spread)


def test_compare_table_shows_the_relative_change_of_each_headline() -> None:
    from rich.console import Console

    from benchmarks.report import compare_table

    old = {"machine": {"started_at": "then"}, "benchmarks": {"overhead": {"cpu_ratio_median": 1.2}}}
    new = {"benchmarks": {"overhead": {"cpu_ratio_median": 1.5}, "batch": {"ratio_to_ideal": 1.1}}}
    console = Console(record=True, width=200)
    console.print(compare_table(old, new))
    text = console.export_text()
    assert "+25.0%" in text  # 1.2 -> 1.5
    assert "1.100" in text  # a figure only the new run has is shown, without a change
