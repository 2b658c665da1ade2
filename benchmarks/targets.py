"""The issue's targets, checked against a results document: PASS or MISS, with the margin.

Each target is a ratio against a baseline measured in the same run (or, for cold start, a
difference of two timings of the same run). The first seven are issue 14's table (the
``headline`` ones, written into the README); the rest guard what must not regress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """One target: the measured value against its limit."""

    benchmark: str
    target: str
    value: float | None
    limit: float
    at_most: bool = True  # the value must be <= limit (else >=)
    unit: str = ""
    note: str = ""
    baseline: str = ""  # what the value is measured against, in the same run
    headline: bool = False  # one of the rows (the README's table)
    readme: bool = False  # shown in the README's table too (context for a headline row)
    not_run: bool = False  # the benchmark did not run (its module missing, or it failed)

    @property
    def passed(self) -> bool:
        """True when the value is known and on the right side of the limit."""
        if self.value is None:
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    @property
    def margin(self) -> float | None:
        """How far inside the limit the value is (negative: by how much it missed)."""
        if self.value is None:
            return None
        return self.limit - self.value if self.at_most else self.value - self.limit

    @property
    def shown_value(self) -> str:
        """The value with its unit, or why there is none."""
        if self.value is None:
            return "not run" if self.not_run else "-"
        return f"{self.value:g}{self.unit}"

    @property
    def shown_limit(self) -> str:
        """The limit with its comparison and unit."""
        return f"{'<=' if self.at_most else '>='} {self.limit:g}{self.unit}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "benchmark": self.benchmark,
            "target": self.target,
            "value": self.value,
            "limit": self.limit,
            "comparison": "<=" if self.at_most else ">=",
            "unit": self.unit,
            "passed": self.passed,
            "margin": None if self.margin is None else round(self.margin, 4),
            "note": self.note,
            "baseline": self.baseline,
            "headline": self.headline,
            "readme": self.readme,
            "not_run": self.not_run,
        }


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    return float(value) if isinstance(value, int | float) else None


def _ratio(a: Any, b: Any) -> float | None:
    top, bottom = _num(a), _num(b)
    if top is None or bottom is None or bottom == 0:
        return None
    return round(top / bottom, 3)


def _first(section: Any, *keys: str) -> float | None:
    """The first of ``keys`` (dotted paths) that holds a number in ``section``."""
    if not isinstance(section, dict):
        return None
    for key in keys:
        value = _num(_get(section, *key.split(".")))
        if value is not None:
            return value
    return None


def _not_run(r: dict[str, Any], name: str) -> bool:
    section = r.get(name)
    return not isinstance(section, dict) or "error" in section


def _overhead(r: dict[str, Any]) -> list[Check]:
    return [
        Check(
            "overhead",
            "sync CPU per task (submit + 5 polls + parse)",
            _num(_get(r, "overhead", "cpu_ratio_median")),
            1.15,
            unit="x",
            baseline="raw httpx, same requests + json.loads",
            headline=True,
            not_run=_not_run(r, "overhead"),
        )
    ]


def _polling(r: dict[str, Any]) -> list[Check]:
    s = _get(r, "polling", "strategies") or {}
    ours, bare = s.get("schedule", {}), s.get("schedule_no_progress", {})
    base, hook = s.get("fixed_1s", {}), s.get("webhook", {})
    alike, alike_base = s.get("schedule_no_progress_alike", {}), s.get("fixed_1s_alike", {})
    missing = _not_run(r, "polling")
    vs_fixed = "fixed 1 s poller, same tasks"
    return [
        Check(
            "polling",
            "no progress: median Ready->known delay",
            _ratio(bare.get("delay_p50_s"), base.get("delay_p50_s")),
            1.0,
            unit="x",
            baseline=vs_fixed,
            headline=True,
            not_run=missing,
        ),
        Check(
            "polling",
            "no progress: polls per task",
            _ratio(bare.get("polls_per_task_mean"), base.get("polls_per_task_mean")),
            0.7,
            unit="x",
            baseline=vs_fixed,
            headline=True,
            not_run=missing,
        ),
        Check(
            "polling",
            "with progress: polls per task (keep 0.33x)",
            _ratio(ours.get("polls_per_task_mean"), base.get("polls_per_task_mean")),
            0.35,
            unit="x",
            baseline=vs_fixed,
            headline=True,
            not_run=missing,
        ),
        Check(
            "polling",
            "with progress: median Ready->known delay (keep 0.13 s)",
            _num(ours.get("delay_p50_s")),
            0.13,
            unit=" s",
            note="real-API seconds (measured / scale)",
            baseline=f"{_num(base.get('delay_p50_s')) or 0:.2f} s for the {vs_fixed}",
            headline=True,
            not_run=missing,
        ),
        Check(
            "polling",
            "no progress, alike tasks: median Ready->known delay",
            _ratio(alike.get("delay_p50_s"), alike_base.get("delay_p50_s")),
            1.0,
            unit="x",
            baseline=f"{vs_fixed}, alike tasks",
            readme=True,
            not_run=missing,
        ),
        Check(
            "polling",
            "no progress, alike tasks: polls per task",
            _ratio(alike.get("polls_per_task_mean"), alike_base.get("polls_per_task_mean")),
            0.7,
            unit="x",
            baseline=f"{vs_fixed}, alike tasks",
            readme=True,
            not_run=missing,
        ),
        Check(
            "polling",
            "webhook: polls per task (max)",
            _num(hook.get("polls_per_task_max")),
            1.0,
            not_run=missing,
        ),
        Check(
            "polling",
            "webhook: mean delay after Ready",
            _num(hook.get("delay_mean_s")),
            0.050,
            unit=" s",
            note="measured wall-clock",
            not_run=missing,
        ),
    ]


def _batch(r: dict[str, Any]) -> list[Check]:
    b = _get(r, "batch") or {}
    missing = _not_run(r, "batch")
    return [
        Check(
            "batch",
            f"{b.get('tasks', 240)} x {b.get('task_seconds', 1):g} s tasks at "
            f"{b.get('concurrency', 24)} in flight: wall time",
            _num(b.get("ratio_to_ideal")),
            1.10,
            unit="x",
            note=f"{b.get('polls_per_task')} polls per task",
            baseline=f"ideal ceil(N/{b.get('concurrency', 24)}) x duration",
            headline=True,
            not_run=missing,
        ),
        Check(
            "batch",
            "429s seen by the caller",
            _num(b.get("rate_limited_seen_by_caller")),
            0.0,
            not_run=missing,
        ),
        Check(
            "batch",
            "requests per TCP connection (1 = no reuse)",
            _ratio(b.get("requests_total"), b.get("tcp_connections_opened")),
            10.0,
            at_most=False,
            note=f"{b.get('tcp_connections_opened')} connections, "
            f"{b.get('requests_total')} requests",
            not_run=missing,
        ),
    ]


def _coldstart(r: dict[str, Any]) -> list[Check]:
    cpu = _num(_get(r, "coldstart", "import_client_over_httpx_cpu_s"))
    wall = _num(_get(r, "coldstart", "import_client_over_httpx_s"))
    ready = _num(_get(r, "coldstart", "client_ready_over_httpx_client_cpu_s"))
    return [
        Check(
            "coldstart",
            "`from flux_flex import FluxFlex` import time",
            None if cpu is None else round(cpu * 1000, 1),
            40.0,
            unit=" ms",
            note="CPU time, median of per-round differences; wall "
            + ("?" if wall is None else f"{wall * 1000:+.0f} ms")
            + ("" if ready is None else f"; with a client built: {ready * 1000:+.0f} ms CPU"),
            baseline="`import httpx`",
            headline=True,
            not_run=_not_run(r, "coldstart"),
        )
    ]


def _receiver(r: dict[str, Any]) -> list[Check]:
    section = r.get("receiver")
    value = _first(section, "ratio", "ratio_16", "ratio_to_starlette")
    if value is None:
        value = _ratio(
            _first(section, "receiver_per_s_16", "receiver_per_s"),
            _first(section, "baseline_per_s_16", "baseline_per_s", "starlette_per_s"),
        )
    return [
        Check(
            "receiver",
            "webhook receiver deliveries/s, 16 keep-alive connections",
            value,
            0.8,
            at_most=False,
            unit="x",
            baseline="minimal Starlette HMAC endpoint",
            headline=True,
            not_run=_not_run(r, "receiver"),
        )
    ]


def _batch_memory(r: dict[str, Any]) -> list[Check]:
    section = r.get("batch_memory")
    value = _first(section, "peak_rss_ratio", "ratio", "peak_ratio")
    if value is None:
        value = _ratio(
            _first(section, "peak_bytes.5000", "peak_mb.5000", "peak_5000"),
            _first(section, "peak_bytes.100", "peak_mb.100", "peak_100"),
        )
    return [
        Check(
            "batch_memory",
            "generate_many peak memory, N = 5,000 (0.05 s tasks)",
            value,
            1.2,
            unit="x",
            baseline="the same at N = 100",
            headline=True,
            not_run=_not_run(r, "batch_memory"),
        )
    ]


def _first_image(r: dict[str, Any]) -> list[Check]:
    not_run = _not_run(r, "first_image")
    rows = []
    for row, polls, delay in (("fresh", 1.0, 1.0), ("warm", 0.7, 1.0)):
        label = "fresh process" if row == "fresh" else "warm (history kept by an earlier process)"
        rows += [
            Check(
                "first_image",
                f"first wait, {label}, no progress: polls",
                _num(_get(r, "first_image", row, "polls_ratio")),
                polls,
                unit="x",
                baseline="fixed 1 s loop, same tasks (simulated)",
                not_run=not_run,
            ),
            Check(
                "first_image",
                f"first wait, {label}, no progress: median delay after Ready",
                _num(_get(r, "first_image", row, "delay_p50_ratio")),
                delay,
                unit="x",
                baseline="fixed 1 s loop, same tasks (simulated)",
                not_run=not_run,
            ),
        ]
    return rows


def _cpu_task(r: dict[str, Any]) -> list[Check]:
    return [
        Check(
            "cpu_task",
            "sync CPU per task (1024x1024 submit, 5 polls with progress, Ready)",
            _num(_get(r, "cpu_task", "cpu_ratio_median")),
            1.15,
            unit="x",
            baseline="raw httpx.Client, same requests + json.loads",
            not_run=_not_run(r, "cpu_task"),
        )
    ]


def _result_size(r: dict[str, Any]) -> list[Check]:
    section = r.get("result_size")
    return [
        Check(
            "result_size",
            "bytes per Result in generate_many's list (vendor-like answers)",
            _first(section, "bytes_per_result_vendor"),
            512,
            unit=" B",
            not_run=_not_run(r, "result_size") or bool((section or {}).get("not_run")),
        )
    ]


def _gzip_bombs(r: dict[str, Any]) -> list[Check]:
    not_run = _not_run(r, "gzip_bombs")
    normal = _num(_get(r, "gzip_bombs", "cli_batch_normal_peak_mb"))
    normal_text = "?" if normal is None else f"{normal:g}"
    return [
        Check(
            "gzip_bombs",
            "one download of a 1 GB gzip bomb: peak RSS growth",
            _num(_get(r, "gzip_bombs", "download_growth_mb")),
            64.0,
            unit=" MB",
            note="the larger of FluxFlex and AsyncFluxFlex",
            baseline="RSS just before the call",
            not_run=not_run,
        ),
        Check(
            "gzip_bombs",
            "one poll answer that is a 1 GB gzip bomb: peak RSS growth",
            _num(_get(r, "gzip_bombs", "poll_growth_mb")),
            64.0,
            unit=" MB",
            note="the larger of FluxFlex and AsyncFluxFlex",
            baseline="RSS just before the call",
            not_run=not_run,
        ),
        Check(
            "gzip_bombs",
            "CLI batch of 8 gzip-bombed images: peak RSS over a normal batch",
            _num(_get(r, "gzip_bombs", "cli_batch_over_normal_mb")),
            100.0,
            unit=" MB",
            baseline=f"the same batch of normal images ({normal_text} MB)",
            not_run=not_run,
        ),
    ]


def _journal_postgres(r: dict[str, Any]) -> list[Check]:
    section = r.get("journal_postgres") or {}
    return [
        Check(
            "journal_postgres",
            "PostgreSQL journal: wall time per task, p50, 25 in flight",
            _num(section.get("overhead_ms_p50")),
            5.0,
            unit=" ms",
            note=f"inside the journal's calls: p50 {_shown(section.get('journal_ms_p50'))} ms, "
            f"p90 {_shown(section.get('journal_ms_p90'))} ms",
            baseline="the same tasks without a journal",
            not_run=_not_run(r, "journal_postgres"),
        )
    ]


def _cluster(r: dict[str, Any]) -> list[Check]:
    section = r.get("cluster") or {}
    tasks = section.get("tasks", "?")
    return [
        Check(
            "cluster",
            f"{tasks}-task batch over {section.get('workers', '?')} workers, one PostgreSQL "
            "journal: wall time",
            _num(section.get("ratio")),
            1.10,
            unit="x",
            note=f"{section.get('rate_limited', '?')} 429s, peak {section.get('peak_running', '?')}"
            f" running; first task to last final: {_shown(section.get('api_span_ratio'))}x",
            baseline="ideal ceil(N/24) x task time",
            not_run=_not_run(r, "cluster"),
        )
    ]


def _shown(value: Any) -> str:
    number = _num(value)
    return "?" if number is None else f"{number:.3g}"


CHECKS: dict[str, Callable[[dict[str, Any]], list[Check]]] = {
    "first_image": _first_image,
    "cpu_task": _cpu_task,
    "result_size": _result_size,
    "gzip_bombs": _gzip_bombs,
    "receiver": _receiver,
    "batch_memory": _batch_memory,
    "polling": _polling,
    "batch": _batch,
    "overhead": _overhead,
    "coldstart": _coldstart,
    "journal_postgres": _journal_postgres,
    "cluster": _cluster,
}


def evaluate(results: dict[str, Any]) -> list[Check]:
    """The targets of each benchmark in ``results`` (a missing figure is a MISS)."""
    return [check for name, make in CHECKS.items() if name in results for check in make(results)]
