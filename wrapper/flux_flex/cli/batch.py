"""``flux-flex batch``: every line of a prompts file through the library's batch engine
(`FluxFlex.generate_as_completed`), with a task journal in the output folder.

Before anything is sent: every line is checked, the plan is made (images already there are
skipped; the journal says what to resume) and the estimated cost is held against the
balance (`flux_flex.cli.preflight`). The engine does the rest — submits, resumes, records
every task before and after its POST — so a re-run of the same command never pays twice.
With ``--mock`` there is no journal: the built-in fake, and its tasks, end with the command.

Several ``batch`` processes, on any hosts, share one batch through one ``--journal`` (a
PostgreSQL URL, or a SQLite file they all reach): each line is paid and saved once, by one of
them, into its own ``--out-dir``; together they keep at most ``--max-in-flight`` tasks
running. SIGTERM is handled like Ctrl-C: POSTs on the wire get up to `POST_GRACE` seconds
for their answer, tasks in flight stay recorded, and the message says how to resume.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from flux_flex.cli.connection import Connection, Endpoint, open_endpoint
from flux_flex.cli.failures import (
    BalanceTooLow,
    CliUsageError,
    ExitCode,
    Interrupted,
    Terminated,
    describe,
)
from flux_flex.cli.output import emit_json, format_cost, number
from flux_flex.cli.paths import journal_file, journal_shown, journal_target, prepare_folder
from flux_flex.cli.preflight import (
    Action,
    CostEstimate,
    Line,
    Planned,
    check_defaults,
    estimate_cost,
    plan_batch,
    prepare_lines,
)
from flux_flex.cli.progress import FINAL_KINDS, BatchProgress
from flux_flex.cli.prompts_file import BatchItem, line_of, scan_prompts, suffix_for_format

if TYPE_CHECKING:
    from flux_flex import BatchEvent

__all__ = ["BatchOptions", "ItemOutcome", "read_lines", "run_batch", "target_path"]

# What the engine's final event kinds are called in the summary.
_STATE = {
    "done": "generated",
    "skipped": "skipped",
    "failed": "failed",
    "uncertain": "uncertain",
    "unfinished": "unfinished",
    "held": "held",
}
_BAD_STATES = ("failed", "uncertain", "unfinished")
# Flags a "re-run the same command" hint leaves out: they would pay again without asking.
_NOT_REPEATED = ("--force", "--resubmit-uncertain", "--retry-failed", "--dry-run")
POST_GRACE = 8.0
"""Seconds a stopped batch (Ctrl-C, SIGTERM) waits for the answers of POSTs on the wire; one
still unanswered is recorded as uncertain, so the process ends well within 10 s."""


@attrs.frozen
class BatchOptions:
    """How to run a batch (the command's options, as plain values)."""

    concurrency: int = 24
    timeout: float = 300.0
    journal: str | None = None
    max_in_flight: int = 24
    """Tasks running at once across every process sharing the journal."""
    lease: float = 30.0
    """Seconds this process's claims outlive it if it dies without a word."""
    force: bool = False
    resubmit_uncertain: bool = False
    retry_failed: bool = False
    dry_run: bool = False
    yes: bool = False
    as_json: bool = False
    mock: bool = False
    command: Sequence[str] = ("flux-flex", "batch")
    """The command line being run, for "re-run the same command" hints."""


@attrs.frozen
class ItemOutcome:
    """What happened to one line of the prompts file."""

    item: BatchItem
    state: str  # generated | skipped | failed | uncertain | unfinished | held
    path: str | None = None
    task_id: str | None = None
    seed: int | None = None
    cost: float | None = None
    error: str | None = None
    by: str | None = None
    """``pid@host`` of another process sharing the journal that saved (``skipped``) or
    still handles (``held``) this line."""

    def as_json(self) -> dict[str, Any]:
        """This outcome as a JSON-ready dict."""
        return {
            "line": self.item.line,
            "prompt": self.item.prompt,
            "state": self.state,
            "path": self.path,
            "id": self.task_id,
            "seed": self.seed,
            "cost": self.cost,
            "error": self.error,
            "by": self.by,
        }


def target_path(out_dir: Path, item: BatchItem) -> Path:
    """Where ``item``'s image is saved (the client fixes the extension to the real format)."""
    return out_dir / f"{item.stem}{suffix_for_format(item.params.get('output_format'))}"


def _refused(prompts_file: str, problems: Sequence[str]) -> CliUsageError:
    listed = "\n".join(f"  {problem}" for problem in problems)
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return CliUsageError(
        f"{prompts_file}: {count}, nothing was sent. Fix these lines and run again:\n{listed}"
    )


def read_lines(
    prompts_file: str, defaults: dict[str, Any], options: Mapping[str, str], out_dir: Path
) -> list[Line]:
    """Every line of the file, each prepared once (checked against the spec, its input
    images read) to be saved in ``out_dir``; a `CliUsageError` listing every bad line
    (nothing is sent) when any is wrong."""
    check_defaults(defaults)  # a bad option is named once, as the option
    if prompts_file == "-":
        items, problems = scan_prompts(sys.stdin.buffer, defaults, options=options)
    else:
        with open(prompts_file, "rb") as file:
            items, problems = scan_prompts(file, defaults, options=options)
    lines, refused = prepare_lines(items, [target_path(out_dir, item) for item in items])
    problems += refused
    if problems:
        raise _refused(prompts_file, sorted(problems, key=line_of))
    if not lines:
        raise CliUsageError(f"{prompts_file}: no prompts (one per line; # starts a comment)")
    return lines


def _rerun(options: BatchOptions, *extra: str) -> str:
    argv = [arg for arg in options.command if arg not in _NOT_REPEATED]
    return shlex.join([*argv, *extra])


# --- the balance ---------------------------------------------------------------------------


def _balance(endpoint: Endpoint) -> float:
    with endpoint.sync_client() as client:
        return client.credits()


def _check_balance(endpoint: Endpoint, estimate: CostEstimate, options: BatchOptions) -> None:
    from flux_flex.errors import AuthenticationError, FluxFlexError

    try:
        balance = _balance(endpoint)
    except AuthenticationError:
        raise  # a refused key refuses the batch too: --yes would not help
    except FluxFlexError as exc:
        raise BalanceTooLow(
            f"could not check the balance before submitting ({describe(exc).rstrip('.')}); "
            f"nothing was sent. Pass --yes to submit without the check: {_rerun(options, '--yes')}"
        ) from exc
    if estimate.credits > balance:
        raise BalanceTooLow(
            f"the {estimate.tasks} task(s) to submit are estimated at {number(estimate.credits)} "
            f"credits but the balance is {number(balance)}; nothing was sent. Top up your credits, "
            f"or pass --yes to submit anyway: {_rerun(options, '--yes')}"
        )


# --- the run -------------------------------------------------------------------------------


def _forget_saved(journal: str, planned: Sequence[Planned]) -> None:
    """For ``--force``: forget the saved entries of the lines to generate again."""
    from flux_flex import Journal
    from flux_flex._core.journal import State

    stale = [p.entry for p in planned if p.action is Action.SUBMIT and p.entry is not None]
    if not stale:
        return
    with Journal(journal) as opened:
        for entry in stale:
            if entry.state is State.SAVED:
                opened.forget(entry.fingerprint)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread, so it stops
    the batch the way Ctrl-C does; a second SIGTERM while stopping is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the stop finish
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _generate(
    endpoint: Endpoint,
    planned: Sequence[Planned],
    journal: str | None,
    options: BatchOptions,
    progress: BatchProgress,
) -> dict[int, ItemOutcome]:
    """Run the engine over ``planned``; each line's outcome by its index."""
    requests = [p.line.request for p in planned]
    kinds: dict[int, str] = {}
    ids: dict[int, str] = {}
    by: dict[int, str] = {}

    def on_event(event: BatchEvent) -> None:  # from worker threads, one at a time
        if event.task_id:
            ids[event.index] = event.task_id
        if event.by:
            by[event.index] = event.by
        if event.kind in FINAL_KINDS:
            kinds[event.index] = event.kind
        progress.event(event.kind, planned[event.index].item.stem, event.counts)

    outcomes: dict[int, ItemOutcome] = {}
    with endpoint.sync_client() as client:
        shared: dict[str, Any] = {}
        if journal is not None:
            shared = {"max_in_flight": options.max_in_flight, "lease": options.lease}
        run = client.generate_as_completed(
            requests,
            concurrency=options.concurrency,
            timeout=options.timeout,
            journal=journal,
            resubmit_uncertain=options.resubmit_uncertain,
            retry_failed=options.retry_failed,
            on_event=on_event,
            **shared,
        )
        try:
            with _sigterm_as_interrupt():
                try:
                    for index, outcome in run:
                        kind = kinds.get(
                            index, "failed" if isinstance(outcome, BaseException) else "done"
                        )
                        item = planned[index].item
                        outcomes[index] = _outcome(
                            item, kind, outcome, ids.get(index), by.get(index)
                        )
                except KeyboardInterrupt:
                    run.close(timeout=POST_GRACE)  # POSTs on the wire: their answers, briefly
                    raise
                finally:
                    run.close()
        except KeyboardInterrupt as stop:
            in_flight = run.counts.in_flight  # after close(): the tasks left running, paid
            unanswered = [planned[index].item.line for index in run.unanswered]
            terminated = isinstance(stop, Terminated)
            message = _interrupted(in_flight, unanswered, journal, endpoint, options, terminated)
            resume = None if endpoint.mock else _rerun(options)
            code = ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED
            raise Interrupted(message, resume=resume, code=code) from None
    return outcomes


def _interrupted(
    in_flight: int,
    unanswered: Sequence[int],
    journal: str | None,
    endpoint: Endpoint,
    options: BatchOptions,
    terminated: bool,
) -> str:
    what = "terminated (SIGTERM)" if terminated else "interrupted"
    if endpoint.mock:
        return f"{what} (with --mock the fake API stops with this command: nothing to resume)."
    tasks = f"{in_flight} task{'s' if in_flight != 1 else ''}"
    where = journal_shown(journal) if journal is not None else None
    message = (
        f"{what}: {tasks} in flight keep running on the API (already paid); images saved "
        f"so far are kept. Re-run the same command to resume them, nothing is paid twice "
        f"(journal: {where}): {_rerun(options)}"
    )
    if unanswered:
        lines = ", ".join(map(str, unanswered))
        message += (
            f"\n{len(unanswered)} submission(s) got no answer within {POST_GRACE:g} s and are "
            f"recorded as uncertain (a task may exist and be billed; never sent again on "
            f"their own): line(s) {lines}. See them with: flux-flex tasks {shlex.quote(str(where))}"
        )
    return message


def _outcome(
    item: BatchItem, kind: str, outcome: Any, task_id: str | None, by: str | None = None
) -> ItemOutcome:
    if isinstance(outcome, BaseException):
        task_id = getattr(outcome, "task_id", None) or task_id
        return ItemOutcome(
            item, _STATE.get(kind, "failed"), task_id=task_id, error=describe(outcome), by=by
        )
    cost = getattr(outcome, "cost", None)
    return ItemOutcome(
        item,
        _STATE.get(kind, "generated"),
        path=getattr(outcome, "path", None),
        task_id=outcome.id,
        seed=outcome.seed,
        cost=cost,
        by=by,
    )


# --- reporting -----------------------------------------------------------------------------


def _counts(outcomes: Sequence[ItemOutcome]) -> dict[str, int]:
    return {state: sum(o.state == state for o in outcomes) for state in _STATE.values()}


def _next_steps(outcomes: Sequence[ItemOutcome], options: BatchOptions) -> list[str]:
    counts = _counts(outcomes)
    steps: list[str] = []
    if options.mock:
        bad = sum(counts[state] for state in _BAD_STATES)
        if bad:
            steps.append(
                f"{bad} did not produce an image; with --mock there is no journal (the fake "
                "and its tasks end with the command): running it again skips the images that "
                "exist and sends the rest anew."
            )
        return steps
    if counts["unfinished"]:
        steps.append(
            f"{counts['unfinished']} unfinished (paid, still running or not saved): re-run the "
            f"same command to resume them: {_rerun(options)}"
        )
    if counts["uncertain"]:
        steps.append(
            f"{counts['uncertain']} uncertain (sent, no answer: a task may exist and be "
            "billed): check your tasks, then re-run with --resubmit-uncertain to send them "
            f"again: {_rerun(options, '--resubmit-uncertain')}"
        )
    if counts["failed"]:
        steps.append(
            f"{counts['failed']} failed: not retried on their own; re-run with --retry-failed "
            f"to try again (billed again): {_rerun(options, '--retry-failed')}"
        )
    if counts["held"]:
        holders = sorted({o.by for o in outcomes if o.state == "held" and o.by})
        steps.append(
            f"{counts['held']} being handled by another process sharing the journal "
            f"({', '.join(holders) or 'still alive'}): it saves them; nothing was sent for "
            "them here."
        )
    return steps


def _print_summary(
    outcomes: Sequence[ItemOutcome], out_dir: Path, credits: float, options: BatchOptions
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=None if sys.stdout.isatty() else 120)
    table = Table(title=Text(f"batch into {out_dir}"), title_justify="left")
    table.add_column("line", justify="right")
    table.add_column("state")
    table.add_column("file", overflow="fold")
    table.add_column("seed", justify="right")
    table.add_column("error / task", overflow="fold")
    styles = {
        "generated": "green",
        "skipped": "dim",
        "failed": "bold red",
        "uncertain": "bold yellow",
        "unfinished": "yellow",
        "held": "cyan",
    }
    for outcome in outcomes:
        # Text, not markup: prompts and messages may contain [brackets].
        detail = outcome.error or ""
        if outcome.state == "skipped" and outcome.by:
            detail = f"saved by {outcome.by}: {outcome.path}"
        table.add_row(
            str(outcome.item.line),
            Text(outcome.state, style=styles[outcome.state]),
            Text(Path(outcome.path).name if outcome.path else ""),
            "" if outcome.seed is None else str(outcome.seed),
            Text(detail),
        )
    console.print(table)
    counts = _counts(outcomes)
    line = (
        f"{counts['generated']} generated, {counts['skipped']} skipped (already there), "
        f"{counts['failed'] + counts['uncertain'] + counts['unfinished']} failed; "
        + (f"{counts['held']} being handled by another process; " if counts["held"] else "")
        + f"{format_cost(credits)} spent by this run."
    )
    console.print(Text(line))
    for step in _next_steps(outcomes, options):
        console.print(Text(step))


def _emit_summary(
    outcomes: Sequence[ItemOutcome], out_dir: Path, credits: float, options: BatchOptions
) -> None:
    counts = _counts(outcomes)
    bad = sum(counts[state] for state in _BAD_STATES)
    payload: dict[str, Any] = {
        "ok": not bad,
        "id": None,  # a batch has many tasks: each item carries its own id
        "out_dir": str(out_dir),
        "generated": counts["generated"],
        "skipped": counts["skipped"],
        "failed": bad,
        "uncertain": counts["uncertain"],
        "unfinished": counts["unfinished"],
        "held": counts["held"],
        "credits": round(credits, 2),
        "items": [outcome.as_json() for outcome in outcomes],
    }
    if bad:
        steps = _next_steps(outcomes, options)
        payload["error"] = {
            "type": "BatchItemsFailed",
            "message": f"{bad} of {len(outcomes)} items did not produce an image. "
            + " ".join(steps),
            "exit_code": int(ExitCode.FAILED),
        }
        if not options.mock:
            payload["error"]["resume"] = _rerun(options)
    emit_json(payload)


def _report_plan(
    planned: Sequence[Planned],
    estimate: CostEstimate,
    balance: float | None,
    why_no_balance: str | None,
    options: BatchOptions,
    prompts_file: str,
    out_dir: Path,
) -> None:
    counts = {action.value: sum(p.action is action for p in planned) for action in Action}
    covered = None if balance is None else estimate.credits <= balance
    if options.as_json:
        emit_json(
            {
                "ok": True,
                "dry_run": True,
                "out_dir": str(out_dir),
                "lines": len(planned),
                "to_submit": counts["submit"],
                "to_resume": counts["resume"] + counts["redownload"],
                "already_there": counts["exists"],
                "uncertain": counts["uncertain"],
                "failed_before": counts["failed"],
                "held": counts["held"],
                "estimated_credits": estimate.credits,
                "estimate_exact": estimate.exact,
                "assumptions": list(estimate.assumptions),
                "balance": balance,
                "covered": covered,
                "items": [
                    {
                        "line": p.item.line,
                        "prompt": p.item.prompt,
                        "action": p.action.value,
                        "path": str(p.target),
                    }
                    for p in planned
                ],
            }
        )
        return
    rows: list[tuple[str, object]] = [
        ("lines", len(planned)),
        ("to submit", f"{counts['submit']} (billed)"),
        ("to resume", f"{counts['resume'] + counts['redownload']} (already paid)"),
        ("already there", counts["exists"]),
    ]
    if counts["uncertain"]:
        rows.append(
            ("uncertain", f"{counts['uncertain']} (not sent again without --resubmit-uncertain)")
        )
    if counts["failed"]:
        rows.append(("failed before", f"{counts['failed']} (not retried without --retry-failed)"))
    if counts["held"]:
        rows.append(("held", f"{counts['held']} (being handled by another live process)"))
    rows.append(("estimate", format_cost(estimate.credits)))
    if estimate.assumptions:
        rows.append(("assumed", "; ".join(estimate.assumptions)))
    if balance is None:
        rows.append(("balance", f"not checked ({why_no_balance})"))
    else:
        verdict = "covers the batch" if covered else "does NOT cover the batch"
        rows.append(("balance", f"{number(balance)} credits: {verdict}"))
    from flux_flex.cli.output import print_fields

    print_fields(f"dry run: {prompts_file} into {out_dir} (nothing was sent)", rows)


def run_batch(
    prompts_file: str,
    out_dir: Path,
    defaults: dict[str, Any],
    *,
    options_by_key: Mapping[str, str],
    connection: Connection,
    options: BatchOptions,
) -> int:
    """Generate every missing image of ``prompts_file`` into ``out_dir``; 1 if any failed."""
    lines = read_lines(prompts_file, defaults, options_by_key, out_dir)
    if not options.dry_run:
        prepare_folder(out_dir, option="--out-dir", given=str(out_dir))
    journal = None if connection.mock else journal_target(out_dir, options.journal)
    file = None if journal is None else journal_file(journal)
    if file is not None and not options.dry_run:
        prepare_folder(file.parent, option="--journal", given=str(file))
    planned = plan_batch(
        lines,
        journal,
        force=options.force,
        resubmit_uncertain=options.resubmit_uncertain,
        retry_failed=options.retry_failed,
    )
    estimate = estimate_cost([p.line for p in planned if p.action is Action.SUBMIT])
    if options.dry_run:
        return _dry_run(prompts_file, out_dir, planned, estimate, connection, options)
    run = [p for p in planned if p.action is not Action.EXISTS]
    outcomes = {
        p.item.line: ItemOutcome(p.item, "skipped", path=str(_existing(p)))
        for p in planned
        if p.action is Action.EXISTS
    }
    credits = 0.0
    if run:
        if journal is not None and options.force:
            _forget_saved(journal, run)
        with open_endpoint(connection) as endpoint:
            if endpoint.mock:
                print(
                    f"--mock: using the built-in fake API at {endpoint.base_url}", file=sys.stderr
                )
            if estimate.tasks and not options.yes:
                _check_balance(endpoint, estimate, options)
            with BatchProgress(len(run)) as progress:
                done = _generate(endpoint, run, journal, options, progress)
            credits = progress.credits
        for index, outcome in done.items():
            outcomes[run[index].item.line] = outcome
    ordered = [outcomes[line.item.line] for line in lines]
    if options.as_json:
        _emit_summary(ordered, out_dir, credits, options)
    else:
        _print_summary(ordered, out_dir, credits, options)
    bad = any(outcome.state in _BAD_STATES for outcome in ordered)
    return ExitCode.FAILED if bad else ExitCode.OK


def _existing(planned: Planned) -> Path | None:
    from flux_flex.cli.prompts_file import existing_image

    return existing_image(planned.target.parent, planned.item.stem)


def _dry_run(
    prompts_file: str,
    out_dir: Path,
    planned: Sequence[Planned],
    estimate: CostEstimate,
    connection: Connection,
    options: BatchOptions,
) -> int:
    """Report the plan, the estimate and (with a key) the balance; nothing billed is sent."""
    from flux_flex.errors import FluxFlexError

    balance: float | None = None
    why: str | None = None
    try:
        with open_endpoint(connection) as endpoint:
            balance = _balance(endpoint)  # GET /v1/credits: the only request of a dry run
    except CliUsageError:
        why = f"no key in ${connection.api_key_env}"
    except FluxFlexError as exc:
        why = describe(exc).rstrip(".")
    _report_plan(planned, estimate, balance, why, options, prompts_file, out_dir)
    return ExitCode.OK
