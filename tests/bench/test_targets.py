"""The target checks, the docs page's table and the plug-in benchmarks (pure, no timing)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import docs_page
from benchmarks.__main__ import PLUGGED, run_plugged
from benchmarks.polling import durations
from benchmarks.targets import evaluate


def _results(**overrides: Any) -> dict[str, Any]:
    results: dict[str, Any] = {
        "overhead": {"cpu_ratio_median": 1.1},
        "polling": {
            "strategies": {
                "schedule": {"polls_per_task_mean": 3.5, "delay_p50_s": 0.05},
                "schedule_no_progress": {"polls_per_task_mean": 7.0, "delay_p50_s": 0.45},
                "fixed_1s": {"polls_per_task_mean": 11.0, "delay_p50_s": 0.5},
                "schedule_no_progress_alike": {"polls_per_task_mean": 5.0, "delay_p50_s": 0.4},
                "fixed_1s_alike": {"polls_per_task_mean": 11.0, "delay_p50_s": 0.5},
                "webhook": {"polls_per_task_max": 1, "delay_mean_s": 0.004},
            }
        },
        "batch": {
            "ratio_to_ideal": 1.04,
            "rate_limited_seen_by_caller": 0,
            "tcp_connections_opened": 25,
            "requests_total": 960,
            "concurrency": 24,
        },
        "coldstart": {"import_client_over_httpx_cpu_s": 0.030, "import_client_over_httpx_s": 0.05},
        "receiver": {"ratio": 0.9},
        "batch_memory": {"ratio": 1.1},
    }
    results.update(overrides)
    return results


def _by_target(results: dict[str, Any]) -> dict[str, Any]:
    return {check.target: check for check in evaluate(results)}


def test_all_pass_when_every_figure_is_inside_its_limit() -> None:
    checks = evaluate(_results())
    assert checks
    assert all(check.passed for check in checks), [c.as_dict() for c in checks if not c.passed]


def test_the_issue_table_is_seven_targets_plus_the_second_polling_limit() -> None:
    headline = [c for c in evaluate(_results()) if c.headline]
    assert [c.benchmark for c in headline] == [
        "receiver",
        "batch_memory",
        "polling",
        "polling",
        "polling",
        "polling",
        "batch",
        "overhead",
        "coldstart",
    ]
    assert all(c.baseline for c in headline)


def test_gzip_bombs_are_megabytes_against_the_issue_bounds() -> None:
    def checks(**figures: float) -> list[Any]:
        section = {"cli_batch_normal_peak_mb": 45.5, **figures}
        return [c for c in evaluate(_results(gzip_bombs=section)) if c.benchmark == "gzip_bombs"]

    now = checks(download_growth_mb=0.4, poll_growth_mb=15.5, cli_batch_over_normal_mb=4.8)
    assert [(c.value, c.limit, c.passed) for c in now] == [
        (0.4, 64.0, True),
        (15.5, 64.0, True),
        (4.8, 100.0, True),
    ]
    assert "45.5 MB" in now[2].baseline
    # The figures measured with each network chunk inflated in one go (before issue 19).
    before = checks(download_growth_mb=125.8, poll_growth_mb=124.4, cli_batch_over_normal_mb=567)
    assert not any(c.passed for c in before)
    failed = evaluate(_results(gzip_bombs={"error": "the bomb server did not start"}))
    assert [c.not_run for c in failed if c.benchmark == "gzip_bombs"] == [True] * 3


def test_a_figure_past_its_limit_is_a_miss_with_negative_margin() -> None:
    checks = _by_target(_results(overhead={"cpu_ratio_median": 1.5}))
    ratio = checks["sync CPU per task (submit + 5 polls + parse)"]
    assert not ratio.passed
    assert ratio.margin is not None
    assert abs(ratio.margin - (1.15 - 1.5)) < 1e-9


def test_no_progress_polling_is_two_ratios_against_the_one_second_poller() -> None:
    strategies = _results()["polling"]["strategies"]
    strategies["schedule_no_progress"] = {"polls_per_task_mean": 8.0, "delay_p50_s": 0.6}
    checks = _by_target(_results(polling={"strategies": strategies}))
    delay = checks["no progress: median Ready->known delay"]
    polls = checks["no progress: polls per task"]
    assert delay.value == pytest.approx(1.2)
    assert not delay.passed
    assert polls.value == round(8 / 11, 3)
    assert not polls.passed


def test_a_receiver_below_the_floor_is_a_miss_and_the_ratio_can_come_from_rates() -> None:
    assert not _by_target(_results(receiver={"ratio": 0.5}))[
        "webhook receiver deliveries/s, 16 keep-alive connections"
    ].passed
    check = _by_target(_results(receiver={"receiver_per_s": 4000.0, "starlette_per_s": 5000.0}))[
        "webhook receiver deliveries/s, 16 keep-alive connections"
    ]
    assert check.value == pytest.approx(0.8)
    assert check.passed


def test_import_time_is_the_added_cpu_milliseconds() -> None:
    check = _by_target(_results(coldstart={"import_client_over_httpx_cpu_s": 0.12}))[
        "`from flux_flex import FluxFlex` import time"
    ]
    assert check.value == pytest.approx(120.0)
    assert not check.passed


def test_a_connection_per_request_is_a_miss() -> None:
    batch = dict(_results()["batch"], tcp_connections_opened=960)
    check = _by_target(_results(batch=batch))["requests per TCP connection (1 = no reuse)"]
    assert not check.passed
    assert check.value == 1.0


def test_a_missing_figure_is_a_miss_not_a_crash() -> None:
    broken = {name: {"error": "boom"} for name in _results()}
    checks = evaluate(broken)
    assert len(checks) == len(evaluate(_results()))
    assert not any(check.passed for check in checks)
    assert all(check.value is None for check in checks)
    assert all(check.margin is None for check in checks)
    assert all(check.shown_value == "not run" for check in checks)


def test_benchmarks_not_run_have_no_targets() -> None:
    assert {check.benchmark for check in evaluate({"batch": _results()["batch"]})} == {"batch"}


def test_a_plugged_module_that_is_missing_is_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PLUGGED, "receiver", "benchmarks.no_such_module_here")
    section = run_plugged("receiver", quick=True)
    assert section["not_run"] is True
    assert "not in this checkout" in section["error"]
    check = _by_target({"receiver": section})[
        "webhook receiver deliveries/s, 16 keep-alive connections"
    ]
    assert check.shown_value == "not run"
    assert not check.passed


def test_a_plugged_module_gets_only_the_options_it_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bench_plug_probe.py").write_text(
        "def run(quick=False):\n    return {'ratio': 1.5 if quick else 0.5}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(PLUGGED, "receiver", "bench_plug_probe")
    try:
        assert run_plugged("receiver", quick=True, unknown_option=1) == {"ratio": 1.5}
    finally:
        sys.modules.pop("bench_plug_probe", None)


def test_the_page_block_is_rewritten_between_its_markers() -> None:
    results = {"machine": {"cpu_model": "CPU X", "load_average_at_start": [1.5, 1, 0.5]}}
    block = docs_page.render(results, evaluate(_results(receiver={"error": "not run"})))
    start, end = docs_page.START, docs_page.END
    text = f"# T\n\n## Benchmarks\n\nintro\n\n{start}\nold table\n{end}\n\n## Next\n"
    rewritten = docs_page.replace_block(text, block)
    assert "old table" not in rewritten
    assert rewritten.startswith("# T\n\n## Benchmarks\n\nintro\n\n" + docs_page.START)
    assert rewritten.endswith(docs_page.END + "\n\n## Next\n")
    assert docs_page.replace_block(rewritten, block) == rewritten  # idempotent
    rows = [line for line in block.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 9 + 2  # header + the issue's rows + the alike-task context rows
    assert "| not run | MISS |" in block
    assert block.count("| PASS |") == 10
    assert "CPU X" in block
    assert "1.5/1/0.5" in block
    with pytest.raises(ValueError, match="no"):
        docs_page.replace_block("# no markers\n", block)


def test_the_benchmarks_page_has_the_block_a_full_run_rewrites() -> None:
    # A full `make bench` ends by rewriting it: a page without the markers would waste the run.
    text = docs_page.PAGE.read_text(encoding="utf-8")
    rewritten = docs_page.replace_block(text, "| new table |")
    assert "| new table |" in rewritten
    assert rewritten.startswith(text[: text.index(docs_page.START)])


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


def test_issue_20_rows_are_the_journal_cost_and_the_shared_batch_ratio() -> None:
    results = _results(
        journal_postgres={"overhead_ms_p50": 6.2, "journal_ms_p50": 5.9, "journal_ms_p90": 9.0},
        cluster={"ratio": 1.08, "tasks": 3000, "workers": 3, "rate_limited": 0},
    )
    checks = {check.benchmark: check for check in evaluate(results)}
    assert (checks["journal_postgres"].value, checks["journal_postgres"].passed) == (6.2, False)
    assert (checks["cluster"].value, checks["cluster"].passed) == (1.08, True)
    assert "3000-task batch over 3 workers" in checks["cluster"].target
    assert not checks["cluster"].headline


def test_a_quick_run_leaves_out_the_postgres_rows_unless_named() -> None:
    from benchmarks.__main__ import NAMES, selected

    assert selected(None, quick=False) == list(NAMES)
    quick = selected(None, quick=True)
    assert "cluster" not in quick
    assert "journal_postgres" not in quick
    assert "overhead" in quick
    assert selected(["cluster"], quick=True) == ["cluster"]
