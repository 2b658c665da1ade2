"""Smoke test of `make bench`: every benchmark runs once at tiny size and reports every figure.

Timings are not tests: nothing here checks a target, only that each figure exists and is
physically sane (positive, counts at least one, no delay before the task was ready).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.simulate import SCENARIOS
from benchmarks.targets import evaluate

REPO = Path(__file__).resolve().parents[2]
STRATEGIES = (
    "schedule",
    "fixed_0.5s",
    "fixed_1s",
    "schedule_no_progress",
    "fixed_1s_alike",
    "schedule_no_progress_alike",
    "webhook",
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``python -m benchmarks --quick`` run, as `make bench` runs it; its JSON."""
    output = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,  # every benchmark at tiny size; gzip_bombs alone starts 4 processes
    )
    assert done.returncode == 0, f"bench failed:\n{done.stdout}\n{done.stderr}"
    results: dict[str, Any] = json.loads(output.read_text())
    results["_stdout"] = done.stdout
    return results


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_machine_info_is_recorded(quick_run: dict[str, Any]) -> None:
    machine = quick_run["machine"]
    assert machine["cpu_model"]
    assert machine["cores"] >= 1
    assert machine["python"].startswith("3.")
    assert quick_run["settings"]["preset"] == "quick"


def test_overhead_figures(quick_run: dict[str, Any]) -> None:
    r = quick_run["benchmarks"]["overhead"]
    for key in ("client_cpu_us_per_op", "raw_cpu_us_per_op", "cpu_ratio_median"):
        assert _positive(r[key]), (key, r)
    assert r["cpu_ratio_min"] <= r["cpu_ratio_median"] <= r["cpu_ratio_max"]
    assert r["polls_per_task"] == 5


def test_polling_figures(quick_run: dict[str, Any]) -> None:
    r = quick_run["benchmarks"]["polling"]
    assert set(r["strategies"]) == set(STRATEGIES)
    for name, s in r["strategies"].items():
        assert s["tasks"] == quick_run["settings"]["polling_tasks"], name
        if name != "webhook":  # a waiter without a webhook must poll to see the result
            assert s["polls_per_task_min"] >= 1, (name, s)
        assert s["polls_per_task_mean"] >= 0, (name, s)
        # The fake's ready_at and the client's clock are the same CLOCK_MONOTONIC: no result
        # can reach the caller before the task was ready.
        assert s["delay_min_s"] >= 0, (name, s)
        assert s["delay_min_s"] <= s["delay_mean_s"] <= s["delay_max_s"], (name, s)
        assert len(s["per_task"]) == s["tasks"]


def test_batch_figures(quick_run: dict[str, Any]) -> None:
    r = quick_run["benchmarks"]["batch"]
    tasks = quick_run["settings"]["batch_tasks"]
    assert r["outcomes"] == tasks
    assert r["results"] + r["errors_seen_by_caller"] == tasks
    assert r["tasks_created_on_fake"] >= r["results"]
    # A count, not a timing: a poll near the predicted finish, and one before it at most
    # (a generous bound: a loaded machine may cost a missed prediction or two).
    assert 1 <= r["polls_per_task"] <= 4
    assert 1 <= r["tcp_connections_opened"] <= r["requests_total"]
    # The ideal is a lower bound no run can beat (not a target: a sanity check of the sums).
    assert r["ratio_to_ideal"] >= 0.99
    assert r["rate_limited_sent_by_fake"] >= r["rate_limited_seen_by_caller"] >= 0


def test_coldstart_figures(quick_run: dict[str, Any]) -> None:
    r = quick_run["benchmarks"]["coldstart"]
    for name in ("python_pass", "import_httpx", "import_flux_flex", "import_client", "cli_help"):
        assert _positive(r["median_s"][name]), name
    for name in ("import_flux_flex", "import_client", "cli_help"):
        assert _positive(r["ratio_to_python"][name]), name
    assert _positive(r["import_client_over_httpx"])
    assert "httpx" in r["heaviest_imports_ms"]  # the client cannot work without it


def test_coldstart_reports_what_the_client_adds_over_httpx(quick_run: dict[str, Any]) -> None:
    r = quick_run["benchmarks"]["coldstart"]
    assert isinstance(r["import_client_over_httpx_s"], float)
    assert isinstance(r["import_client_over_httpx_cpu_s"], float)
    assert all(_positive(v) for v in r["cpu_median_s"].values())


def test_the_simulation_runs_every_scenario(quick_run: dict[str, Any]) -> None:
    r = quick_run["benchmarks"]["simulate"]
    assert set(r["scenarios"]) == {s.name for s in SCENARIOS}
    for name, scenario in r["scenarios"].items():
        assert scenario["schedule"]["polls_per_task_mean"] >= 1, name
        assert scenario["schedule"]["delay_p50_s"] >= 0, name


def test_plugged_benchmarks_run_or_say_not_run(quick_run: dict[str, Any]) -> None:
    for name in ("receiver", "batch_memory"):
        section = quick_run["benchmarks"][name]
        if section.get("not_run"):
            assert "not in this checkout" in section["error"]
        else:
            assert "error" not in section, section


def test_every_target_is_reported_with_a_value(quick_run: dict[str, Any]) -> None:
    targets = quick_run["targets"]
    assert {t["benchmark"] for t in targets} == {
        "overhead",
        "polling",
        "batch",
        "coldstart",
        "receiver",
        "batch_memory",
        "first_image",
        "cpu_task",
        "result_size",
        "gzip_bombs",
    }
    assert len(targets) == len(evaluate(quick_run["benchmarks"]))
    for target in targets:
        if target["not_run"]:
            assert target["value"] is None, target
        else:
            # A figure a quick run on a loaded machine could not take is a MISS, never a pass.
            assert target["value"] is not None or target["passed"] is False, target
        assert isinstance(target["passed"], bool)
    for word in ("Overhead", "Polling", "Batch", "Cold start", "simulation", "Targets"):
        assert word in quick_run["_stdout"]


def test_gzip_bombs_report_peaks_of_real_processes(quick_run: dict[str, Any]) -> None:
    section = quick_run["benchmarks"]["gzip_bombs"]
    assert "error" not in section, section
    for client in ("sync", "async"):
        for figure in ("normal_download_mb", "bomb_download_mb", "bomb_poll_mb"):
            assert section["calls"][client][figure] >= 0, (client, figure)
    # A whole interpreter with flux_flex imported: tens of MB, whatever the machine.
    assert section["cli_batch_normal_peak_mb"] > 10
    assert section["cli_batch_bombs_peak_mb"] > 10
