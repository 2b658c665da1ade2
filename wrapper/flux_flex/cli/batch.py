"""``flux-flex batch``: many prompts through ``AsyncFluxFlex.generate_many``, one progress bar.

Items whose image already exists in the output directory are skipped (see
`flux_flex.cli.prompts_file` for the file naming), so a re-run only does what is missing.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from flux_flex.cli import preflight
from flux_flex.cli.connection import Connection, Endpoint, open_endpoint
from flux_flex.cli.failures import CliUsageError, ExitCode, Interrupted, describe
from flux_flex.cli.output import emit_json
from flux_flex.cli.paths import prepare_folder
from flux_flex.cli.progress import BatchProgress
from flux_flex.cli.prompts_file import (
    BatchItem,
    existing_image,
    line_of,
    scan_prompts,
    suffix_for_format,
)

if TYPE_CHECKING:
    from flux_flex.models import AsyncResult

__all__ = ["ItemOutcome", "run_batch"]


@attrs.frozen
class ItemOutcome:
    """What happened to one line of the prompts file."""

    item: BatchItem
    state: str  # "generated" | "skipped" | "failed"
    path: str | None = None
    task_id: str | None = None
    seed: int | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """This outcome as a JSON-ready dict."""
        return {
            "line": self.item.line,
            "prompt": self.item.prompt,
            "state": self.state,
            "path": self.path,
            "id": self.task_id,
            "seed": self.seed,
            "error": self.error,
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


def read_items(
    prompts_file: str, defaults: dict[str, Any], options: Mapping[str, str]
) -> list[BatchItem]:
    """Every item of the file, each checked against the spec; a `CliUsageError` listing
    every bad line (nothing is sent) when any is wrong."""
    preflight.check_defaults(defaults)  # a bad option is named once, as the option
    if prompts_file == "-":
        items, problems = scan_prompts(sys.stdin.buffer, defaults, options=options)
    else:
        with open(prompts_file, "rb") as lines:
            items, problems = scan_prompts(lines, defaults, options=options)
    problems += preflight.request_problems(items)
    if problems:
        raise _refused(prompts_file, sorted(problems, key=line_of))
    if not items:
        raise CliUsageError(f"{prompts_file}: no prompts (one per line; # starts a comment)")
    return items


async def _generate(
    endpoint: Endpoint,
    items: Sequence[BatchItem],
    out_dir: Path,
    *,
    concurrency: int,
    timeout: float,
    progress: BatchProgress,
) -> list[AsyncResult | BaseException]:
    requests = [{**item.request(), "save_to": str(target_path(out_dir, item))} for item in items]

    def on_result(index: int, outcome: object) -> None:
        progress.item_done(
            items[index].stem,
            ok=not isinstance(outcome, BaseException),
            key=index,
            cost=getattr(outcome, "cost", None),
        )

    async with endpoint.async_client() as client:
        return await client.generate_many(
            requests, concurrency=concurrency, timeout=timeout, on_result=on_result
        )


def _outcome(item: BatchItem, out_dir: Path, outcome: AsyncResult | BaseException) -> ItemOutcome:
    if isinstance(outcome, BaseException):
        return ItemOutcome(
            item, "failed", task_id=getattr(outcome, "task_id", None), error=describe(outcome)
        )
    saved = getattr(outcome, "path", None) or existing_image(out_dir, item.stem)
    return ItemOutcome(
        item, "generated", path=str(saved) if saved else None, task_id=outcome.id, seed=outcome.seed
    )


def _print_summary(outcomes: Sequence[ItemOutcome], out_dir: Path) -> None:
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
    styles = {"generated": "green", "skipped": "dim", "failed": "bold red"}
    for outcome in outcomes:
        # Text, not markup: prompts and messages may contain [brackets].
        table.add_row(
            str(outcome.item.line),
            Text(outcome.state, style=styles[outcome.state]),
            Text(Path(outcome.path).name if outcome.path else ""),
            "" if outcome.seed is None else str(outcome.seed),
            Text(outcome.error or ""),
        )
    console.print(table)
    counts = {state: sum(o.state == state for o in outcomes) for state in styles}
    console.print(
        Text(
            f"{counts['generated']} generated, {counts['skipped']} skipped (already there), "
            f"{counts['failed']} failed."
            + ("  Re-run the same command to retry the failed ones." if counts["failed"] else "")
        )
    )


def run_batch(
    prompts_file: str,
    out_dir: Path,
    defaults: dict[str, Any],
    *,
    options: Mapping[str, str],
    connection: Connection,
    concurrency: int,
    timeout: float,
    force: bool,
    as_json: bool,
) -> int:
    """Generate every missing image of ``prompts_file`` into ``out_dir``; 1 if any failed."""
    items = read_items(prompts_file, defaults, options)
    prepare_folder(out_dir, option="--out-dir", given=str(out_dir))
    outcomes: dict[int, ItemOutcome] = {}
    todo: list[BatchItem] = []
    for item in items:
        found = None if force else existing_image(out_dir, item.stem)
        if found is None:
            todo.append(item)
        else:
            outcomes[item.line] = ItemOutcome(item, "skipped", path=str(found))
    if todo:
        with open_endpoint(connection) as endpoint:
            if endpoint.mock:
                print(
                    f"--mock: using the built-in fake API at {endpoint.base_url}", file=sys.stderr
                )
            try:
                with BatchProgress(len(todo)) as progress:
                    results = asyncio.run(
                        _generate(
                            endpoint,
                            todo,
                            out_dir,
                            concurrency=concurrency,
                            timeout=timeout,
                            progress=progress,
                        )
                    )
            except KeyboardInterrupt:
                raise Interrupted(
                    "interrupted: images saved so far are kept; tasks already submitted may "
                    "still finish (and are billed). Re-run the same command to do the rest "
                    "(existing images are skipped)."
                ) from None
        for item, result in zip(todo, results, strict=True):
            outcomes[item.line] = _outcome(item, out_dir, result)
    ordered = [outcomes[item.line] for item in items]
    failed = sum(outcome.state == "failed" for outcome in ordered)
    if as_json:
        payload: dict[str, Any] = {
            "ok": not failed,
            "id": None,  # a batch has many tasks: each item carries its own id
            "out_dir": str(out_dir),
            "generated": sum(o.state == "generated" for o in ordered),
            "skipped": sum(o.state == "skipped" for o in ordered),
            "failed": failed,
            "items": [outcome.as_json() for outcome in ordered],
        }
        if failed:
            payload["error"] = {
                "type": "BatchItemsFailed",
                "message": f"{failed} of {len(ordered)} items failed (see items); re-run the "
                "same command to retry them.",
                "exit_code": int(ExitCode.FAILED),
            }
        emit_json(payload)
    else:
        _print_summary(ordered, out_dir)
    return ExitCode.FAILED if failed else ExitCode.OK
