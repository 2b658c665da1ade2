"""``generate``, ``status`` and ``wait``: one task, with progress, resume hints and output."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flux_flex.cli.connection import (
    DEFAULT_KEY_ENV,
    Connection,
    Endpoint,
    open_endpoint,
    read_secret_env,
)
from flux_flex.cli.failures import ExitCode, Interrupted, resume_command
from flux_flex.cli.output import emit_json, format_cost, print_fields
from flux_flex.cli.progress import TaskProgress

if TYPE_CHECKING:
    from flux_flex.models import Job, Result

__all__ = ["FAILED_STATUSES", "generate", "resume_hint", "status", "wait"]

# Final statuses without an image: `status` exits 1 on them.
FAILED_STATUSES = frozenset({"Request Moderated", "Content Moderated", "Error", "Task not found"})


def _announce_mock(endpoint: Endpoint) -> None:
    if endpoint.mock:
        print(
            f"--mock: using the built-in fake API at {endpoint.base_url} "
            "(offline, synthetic image, nothing billed)",
            file=sys.stderr,
            flush=True,
        )


def _api_host(connection: Connection) -> str:
    # The host the client talks to, resolved in the client's order (base URL, region, env).
    if connection.base_url:
        url = connection.base_url
    elif connection.region:
        url = f"https://api.{connection.region}.bfl.ai"
    else:
        url = os.environ.get("BFL_BASE_URL") or "https://api.bfl.ai"
    return urlsplit(url).netloc.lower()


def resume_hint(
    task_id: str,
    output: str,
    connection: Connection,
    *,
    why: str,
    polling_url: str | None = None,
) -> str:
    """What to tell a user who stopped waiting: the task runs on, and the command to resume.

    The command repeats the connection options given, and ``--polling-url`` when the task
    is polled on another host than the API's (a regional host).
    """
    extra: list[str] = []
    if connection.base_url:
        extra += ["--base-url", connection.base_url]
    if connection.region:
        extra += ["--region", connection.region]
    if connection.api_key_env != DEFAULT_KEY_ENV:
        extra += ["--api-key-env", connection.api_key_env]
    if polling_url and urlsplit(polling_url).netloc.lower() != _api_host(connection):
        extra += ["--polling-url", polling_url]
    command = resume_command(task_id, output, extra)
    hint = f"{why}; task {task_id} keeps running. Resume with: {command}"
    if connection.mock:
        hint += " (with --mock the fake API stops with this command: nothing is left to resume)"
    return hint


def _wait_and_save(
    job: Job,
    output: str,
    progress: TaskProgress,
    *,
    timeout: float,
    connection: Connection,
    status: str,
) -> tuple[Result, str]:
    """Wait for ``job``, save its image; Ctrl-C or the deadline name the resume command."""
    from flux_flex.errors import WaitTimeoutError

    try:
        progress.track(job.id, status)
        result = job.wait(timeout=timeout, on_progress=progress.update)
        progress.show("downloading", 1.0)
        path = result.save(output)
        progress.show("saved", 1.0)
    except KeyboardInterrupt:
        raise Interrupted(
            resume_hint(job.id, output, connection, why="interrupted", polling_url=job.polling_url),
            task_id=job.id,
        ) from None
    except WaitTimeoutError as exc:
        why = f"no result after {exc.waited:.0f} s (--timeout {timeout:g})"
        raise WaitTimeoutError(
            resume_hint(job.id, output, connection, why=why, polling_url=job.polling_url),
            task_id=job.id,
            waited=exc.waited,
        ) from exc
    return result, path


def _prepare_output(output: str) -> None:
    """Create the output's folder now: a paid task must not fail at the very last step."""
    target = Path(output)
    folder = target if target.is_dir() else target.parent
    folder.mkdir(parents=True, exist_ok=True)


def _report_result(
    result: Result, path: str, job: Job, *, elapsed: float, mock: bool, as_json: bool
) -> None:
    if as_json:
        emit_json(
            {
                "ok": True,
                "id": job.id,
                "status": "Ready",
                "path": path,
                "url": result.url,
                "seed": result.seed,
                "prompt": result.prompt,
                "cost": job.cost,
                "input_mp": job.input_mp,
                "output_mp": job.output_mp,
                "elapsed_seconds": round(elapsed, 3),
                "mock": mock,
            }
        )
        return
    print_fields(
        f"saved {path}",
        [
            ("task", job.id),
            ("seed", result.seed),
            ("cost", format_cost(job.cost)),
            ("time", f"{elapsed:.1f} s"),
        ],
    )


def generate(
    prompt: str,
    output: str,
    params: dict[str, Any],
    *,
    connection: Connection,
    timeout: float,
    webhook_secret_env: str | None,
    as_json: bool,
) -> int:
    """Submit ``prompt``, show progress, save the image to ``output``, print the outcome."""
    if webhook_secret_env:
        params["webhook_secret"] = read_secret_env(webhook_secret_env, what="the webhook secret")
    _prepare_output(output)
    with open_endpoint(connection) as endpoint, endpoint.sync_client() as client:
        _announce_mock(endpoint)
        started = time.monotonic()
        with TaskProgress("task") as progress:
            try:
                job = client.submit(prompt, **params)
            except KeyboardInterrupt:
                raise Interrupted(
                    "interrupted while submitting: if the request reached the API a task may "
                    "exist (and be billed); check your dashboard before submitting again."
                ) from None
            result, path = _wait_and_save(
                job, output, progress, timeout=timeout, connection=connection, status="submitted"
            )
        _report_result(
            result,
            path,
            job,
            elapsed=time.monotonic() - started,
            mock=endpoint.mock,
            as_json=as_json,
        )
    return ExitCode.OK


def wait(
    task_id: str,
    output: str,
    polling_url: str | None,
    *,
    connection: Connection,
    timeout: float,
    as_json: bool,
) -> int:
    """Resume ``task_id``: wait until it is ready and save the image to ``output``."""
    _prepare_output(output)
    with open_endpoint(connection) as endpoint, endpoint.sync_client() as client:
        started = time.monotonic()
        job = client.job(task_id, polling_url=polling_url)
        with TaskProgress(f"task {task_id}", first_status="resuming") as progress:
            result, path = _wait_and_save(
                job, output, progress, timeout=timeout, connection=connection, status="resuming"
            )
        _report_result(
            result,
            path,
            job,
            elapsed=time.monotonic() - started,
            mock=endpoint.mock,
            as_json=as_json,
        )
    return ExitCode.OK


def status(task_id: str, polling_url: str | None, *, connection: Connection, as_json: bool) -> int:
    """Poll ``task_id`` once; exit 1 when it ended without an image."""
    with open_endpoint(connection) as endpoint, endpoint.sync_client() as client:
        snapshot = client.get_result(task_id, polling_url=polling_url)
    failed = snapshot.status in FAILED_STATUSES
    result = snapshot.result if isinstance(snapshot.result, dict) else {}
    if as_json:
        emit_json(
            {
                "ok": not failed,
                "id": snapshot.id,
                "status": snapshot.status,
                "progress": snapshot.progress,
                "result": snapshot.result,
                "details": snapshot.raw.get("details"),
            }
        )
    else:
        progress = None if snapshot.progress is None else f"{snapshot.progress:.0%}"
        print_fields(
            f"task {snapshot.id}: {snapshot.status}",
            [
                ("progress", progress if snapshot.is_pending else None),
                ("image", result.get("sample")),
                ("seed", result.get("seed")),
                ("details", snapshot.raw.get("details")),
            ],
        )
        if snapshot.status == "Ready":
            print(f"save it with: {resume_command(task_id, 'IMAGE.png')}", file=sys.stderr)
    return ExitCode.FAILED if failed else ExitCode.OK
