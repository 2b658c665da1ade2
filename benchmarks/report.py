"""The terminal tables (rich) and the JSON file of one benchmark run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.targets import Check


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _error_table(title: str, error: str) -> Table:
    lines = [line for line in error.splitlines() if line.strip()]
    # The first line says what failed, the last why; the whole text is in the JSON file.
    shown = lines if len(lines) <= 2 else [lines[0], "...", lines[-1]]
    table = Table(title=title, title_justify="left")
    table.add_column("error (full text in the JSON file)", style="red")
    table.add_row("\n".join(shown))
    return table


def overhead_table(r: dict[str, Any]) -> Table:
    """Section 1: CPU per task (submit + 5 polls + parse)."""
    title = "1. Overhead: CPU per task (submit + 5 polls + parse)"
    if "error" in r:
        return _error_table(title, r["error"])
    table = Table(title=title, title_justify="left")
    for column in ("", "CPU µs/task", "wall ms/task"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row("FluxFlex", _fmt(r["client_cpu_us_per_op"], 1), _fmt(r["client_wall_ms_per_op"]))
    table.add_row("raw httpx", _fmt(r["raw_cpu_us_per_op"], 1), _fmt(r["raw_wall_ms_per_op"]))
    table.add_row(
        f"ratio (median of {r['pairs']} pairs x {r['ops_per_block']} ops)",
        f"{r['cpu_ratio_median']:.3f}x",
        f"range {r['cpu_ratio_min']:.2f}-{r['cpu_ratio_max']:.2f}",
    )
    return table


def polling_table(r: dict[str, Any]) -> Table:
    """Section 2: polls per task and delay after Ready, per strategy."""
    title = "2. Polling: polls per task and delay after Ready (real-API seconds)"
    if "error" in r:
        return _error_table(title, r["error"])
    low, high = r["task_seconds_range"]
    table = Table(
        title=f"{title}\n   {r['tasks']} tasks of {low:g}-{high:g} s x scale {r['scale']:g}, "
        f"{r['concurrency']} at a time",
        title_justify="left",
    )
    for column in ("strategy", "polls/task", "max", "delay mean", "p50", "p90", "max"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, s in r["strategies"].items():
        if "error" in s:
            table.add_row(name, f"[red]error: {s['error']}[/red]", "", "", "", "", "")
            continue
        table.add_row(
            name + (" (wall)" if name == "webhook" else ""),
            _fmt(s["polls_per_task_mean"], 2),
            _fmt(s["polls_per_task_max"]),
            _fmt(s["delay_mean_s"]),
            _fmt(s["delay_p50_s"]),
            _fmt(s["delay_p90_s"]),
            _fmt(s["delay_max_s"]),
        )
    return table


def batch_table(r: dict[str, Any]) -> Table:
    """Section 3: generate_many against the ideal."""
    title = "3. Batch: generate_many against ceil(tasks/concurrency) x duration"
    if "error" in r:
        return _error_table(title, r["error"])
    table = Table(title=title, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("tasks / concurrency", f"{r['tasks']} / {r['concurrency']}"),
        ("task duration (scaled)", f"{r['task_seconds'] * r['scale']:.3f} s"),
        (
            "wall / ideal",
            f"{r['wall_s']:.3f} s / {r['ideal_s']:.3f} s = {r['ratio_to_ideal']:.3f}x",
        ),
        ("results / errors seen by caller", f"{r['results']} / {r['errors_seen_by_caller']}"),
        (
            "429s seen by caller / sent by fake",
            f"{r['rate_limited_seen_by_caller']} / {r['rate_limited_sent_by_fake']}",
        ),
        ("polls per task", _fmt(r["polls_per_task"], 2)),
        (
            "TCP connections opened / requests",
            f"{r['tcp_connections_opened']} / {r['requests_total']}",
        ),
        ("excess per round (measured)", f"{r['excess_per_round_measured_ms']:.1f} ms"),
        (
            "  delay after Ready, mean (measured)",
            f"{r['breakdown']['measured_delay_after_ready_mean_ms']} ms",
        ),
        (
            "  slot freed -> next task created, mean",
            f"{r['breakdown']['measured_slot_refill_mean_ms']} ms",
        ),
        ("projected ratio at unscaled durations", f"{r['projected_ratio_unscaled']:.3f}x"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def coldstart_table(r: dict[str, Any]) -> Table:
    """Section 4: cold start medians and ratios to bare Python."""
    title = "4. Cold start (fresh interpreter, median wall time)"
    if "error" in r:
        return _error_table(title, r["error"])
    table = Table(title=f"{title}, {r['runs']} runs", title_justify="left")
    for column in ("command", "median s", "min s", "x python", "+ s", "CPU s"):
        table.add_column(column, justify="left" if column == "command" else "right")
    labels = {
        "python_pass": "python -c pass",
        "import_httpx": 'python -c "import httpx"',
        "import_flux_flex": 'python -c "import flux_flex"',
        "import_client": 'python -c "from flux_flex import FluxFlex"',
        "httpx_client": "... import httpx; httpx.Client()",
        "client_ready": "... from flux_flex import FluxFlex; FluxFlex()",
        "cli_help": "flux-flex --help",
    }
    for name, label in labels.items():
        table.add_row(
            label,
            _fmt(r["median_s"].get(name)),
            _fmt(r["min_s"].get(name)),
            _fmt(r["ratio_to_python"].get(name), 2),
            _fmt(r["added_s"].get(name)),
            _fmt(r.get("cpu_median_s", {}).get(name)),
        )
    heavy = ", ".join(f"{name} {ms:.0f}" for name, ms in r["heaviest_imports_ms"].items())
    table.caption = (
        f"from flux_flex import FluxFlex / import httpx = {r['import_client_over_httpx']:.2f}x, "
        f"+{r.get('import_client_over_httpx_s', float('nan')) * 1000:.0f} ms wall, "
        f"+{r.get('import_client_over_httpx_cpu_s', float('nan')) * 1000:.0f} ms CPU "
        f"(built clients: +{r.get('client_ready_over_httpx_client_cpu_s', float('nan')) * 1000:.0f}"
        " ms CPU); "
        f"what it imports, heaviest first (ms, one -X importtime run): {heavy}"
    )
    return table


def simulate_table(r: dict[str, Any]) -> Table:
    """Section 7: the schedule on a virtual clock, per simulated lifecycle."""
    title = "7. Schedule simulation (virtual clock, exact): against a fixed 1 s poller"
    if "error" in r:
        return _error_table(title, r["error"])
    table = Table(
        title=f"{title}\n   {r['tasks']} tasks per scenario, {r['concurrency']} at a time, "
        "one client's history",
        title_justify="left",
    )
    for column in ("scenario", "polls/task", "x 1 s", "delay p50", "x 1 s", "p90", "max"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for name, sc in r["scenarios"].items():
        ours = sc["schedule"]
        table.add_row(
            f"{name}: {sc['description']}",
            _fmt(ours["polls_per_task_mean"], 2),
            _fmt(sc["polls_ratio"], 2),
            _fmt(ours["delay_p50_s"]),
            _fmt(sc["delay_p50_ratio"], 2),
            _fmt(ours["delay_p90_s"]),
            _fmt(ours["delay_max_s"]),
        )
    return table


def plugged_table(title: str) -> Callable[[dict[str, Any]], Table]:
    """A table maker for a contributed benchmark: its numbers as figure/value rows."""

    def make(r: dict[str, Any]) -> Table:
        if "error" in r:
            return _error_table(title, r["error"])
        table = Table(title=title, title_justify="left")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in _flatten(r):
            if key not in ("seconds", "load_average_after"):
                table.add_row(key, _fmt(value))
        return table

    return make


def _flatten(node: Any, name: str = "") -> list[tuple[str, Any]]:
    """(dotted name, value) of every leaf; long lists shown by their length."""
    if isinstance(node, dict):
        rows: list[tuple[str, Any]] = []
        for key, value in node.items():
            rows += _flatten(value, f"{name}.{key}" if name else str(key))
        return rows
    if isinstance(node, list) and len(node) > 6:
        return [(name, f"[{len(node)} values]")]
    return [(name, node)]


def targets_table(checks: list[Check]) -> Table:
    """PASS/MISS per target, with the margin (negative: missed by); issue 14's rows first."""
    table = Table(
        title="Targets (* = issue 14's table, written to the docs' benchmarks page)",
        title_justify="left",
    )
    for column in ("benchmark", "target", "baseline", "value", "limit", "", "margin"):
        table.add_column(
            column, justify="right" if column in ("value", "limit", "margin") else "left"
        )
    for c in sorted(checks, key=lambda c: not c.headline):
        verdict = "[green]PASS[/green]" if c.passed else "[red]MISS[/red]"
        table.add_row(
            ("* " if c.headline else "  ") + c.benchmark,
            c.target + (f" ({c.note})" if c.note else ""),
            c.baseline,
            c.shown_value,
            c.shown_limit,
            verdict,
            "-" if c.margin is None else f"{c.margin:+.3g}{c.unit}",
        )
    return table


# The headline figures, by path into the results document, for ``--compare``.
HEADLINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("overhead: CPU ratio", ("overhead", "cpu_ratio_median")),
    ("overhead: client CPU µs/task", ("overhead", "client_cpu_us_per_op")),
    ("overhead: raw CPU µs/task", ("overhead", "raw_cpu_us_per_op")),
    ("polling: schedule polls/task", ("polling", "strategies", "schedule", "polls_per_task_mean")),
    ("polling: schedule delay p50 s", ("polling", "strategies", "schedule", "delay_p50_s")),
    (
        "polling: no progress polls/task",
        ("polling", "strategies", "schedule_no_progress", "polls_per_task_mean"),
    ),
    (
        "polling: no progress delay p50 s",
        ("polling", "strategies", "schedule_no_progress", "delay_p50_s"),
    ),
    (
        "polling: 1 s baseline polls/task",
        ("polling", "strategies", "fixed_1s", "polls_per_task_mean"),
    ),
    ("polling: 1 s baseline delay p50 s", ("polling", "strategies", "fixed_1s", "delay_p50_s")),
    ("polling: webhook polls/task", ("polling", "strategies", "webhook", "polls_per_task_mean")),
    ("polling: webhook delay s", ("polling", "strategies", "webhook", "delay_mean_s")),
    ("batch: wall / ideal", ("batch", "ratio_to_ideal")),
    ("batch: polls per task", ("batch", "polls_per_task")),
    ("batch: TCP connections", ("batch", "tcp_connections_opened")),
    ("cold start: import flux_flex s", ("coldstart", "median_s", "import_flux_flex")),
    ("cold start: from flux_flex import FluxFlex s", ("coldstart", "median_s", "import_client")),
    ("cold start: FluxFlex over httpx s", ("coldstart", "import_client_over_httpx_s")),
    ("cold start: flux-flex --help s", ("coldstart", "median_s", "cli_help")),
)


def _dig(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = document.get("benchmarks", {})
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def compare_table(old: dict[str, Any], new: dict[str, Any]) -> Table:
    """The headline figures of an earlier run beside this one's, with the relative change."""
    before = old.get("machine", {})
    table = Table(
        title=f"Compared with the run of {before.get('started_at', '?')} "
        f"(commit {str((before.get('checkout') or {}).get('commit'))[:10]}, "
        f"load {before.get('load_average_at_start')})",
        title_justify="left",
    )
    for column in ("figure", "before", "now", "change"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for label, path in HEADLINES:
        a, b = _dig(old, path), _dig(new, path)
        change = "-"
        if isinstance(a, int | float) and isinstance(b, int | float) and a:
            change = f"{(b - a) / abs(a):+.1%}"
        table.add_row(label, _fmt(a), _fmt(b), change)
    return table


SECTION_TABLES = {
    "overhead": overhead_table,
    "polling": polling_table,
    "batch": batch_table,
    "coldstart": coldstart_table,
    "receiver": plugged_table("5. Webhook receiver against a minimal Starlette HMAC endpoint"),
    "batch_memory": plugged_table("6. generate_many peak memory, N = 5,000 against N = 100"),
    "simulate": simulate_table,
    "gzip_bombs": plugged_table("gzip bombs (1 GB inflated): peak RSS of one call, of a CLI batch"),
}


def print_report(results: dict[str, Any], checks: list[Check], console: Console) -> None:
    """Every section present in ``results``, then the targets."""
    m = results["machine"]
    console.print(
        f"[bold]flux-flex benchmarks[/bold]  {m['cpu_model']}, {m['cores']} cores, "
        f"Python {m['python']}, load {m['load_average_at_start']}, "
        f"settings {results['settings']['preset']} (scale {results['settings']['scale']:g})"
    )
    for name, make in SECTION_TABLES.items():
        if name in results["benchmarks"]:
            console.print()
            console.print(make(results["benchmarks"][name]))
    if checks:
        console.print()
        console.print(targets_table(checks))
        missed = [c for c in checks if not c.passed]
        console.print(
            f"targets: {len(checks) - len(missed)} PASS, {len(missed)} MISS"
            + (
                " (" + "; ".join(f"{c.benchmark}: {c.target}" for c in missed) + ")"
                if missed
                else ""
            )
        )


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write ``results`` as indented JSON (creating the parent folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
