"""``generate``, ``status`` and ``wait``: one task, with progress, resume hints and output."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flux_flex.cli.connection import (
    DEFAULT_KEY_ENV,
    Connection,
    Endpoint,
    open_endpoint,
    read_secret_env,
)
from flux_flex.cli.failures import (
    ExitCode,
    Interrupted,
    PaidTaskError,
    describe,
    error_payload,
    resume_command,
)
from flux_flex.cli.output import emit_json, format_cost, print_fields
from flux_flex.cli.paths import prepare_output
from flux_flex.cli.progress import TaskProgress

if TYPE_CHECKING:
    from flux_flex.models import Job, Result

__all__ = ["FAILED_STATUSES", "generate", "resume_for", "resume_hint", "status", "wait"]

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


def resume_for(
    task_id: str, output: str, connection: Connection, *, polling_url: str | None = None
) -> str:
    """The exact command that resumes ``task_id`` into ``output`` (quoted for a shell).

    It repeats the connection options given, and ``--polling-url`` when the task is polled
    on another host than the API's (a regional host).
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
    return resume_command(task_id, output, extra)


def resume_hint(
    task_id: str,
    output: str,
    connection: Connection,
    *,
    why: str,
    polling_url: str | None = None,
) -> str:
    """What to tell a user who stopped waiting: the task runs on, and the command to resume."""
    command = resume_for(task_id, output, connection, polling_url=polling_url)
    hint = f"{why}; task {task_id} keeps running. Resume with: {command}"
    return hint + _MOCK_NOTE if connection.mock else hint


_MOCK_NOTE = " (with --mock the fake API stops with this command: nothing is left to resume)"


def _why(exc: BaseException, output: str, timeout: float) -> str:
    from flux_flex.errors import WaitTimeoutError

    if isinstance(exc, WaitTimeoutError):
        return f"no result after {exc.waited:.0f} s (--timeout {timeout:g})"
    if isinstance(exc, OSError):
        return f"could not save the image to {output} ({describe(exc)})"
    return describe(exc).rstrip(".")


def _wait_and_save(
    job: Job,
    output: str,
    progress: TaskProgress,
    *,
    timeout: float,
    connection: Connection,
    status: str,
) -> tuple[Result, str]:
    """Wait for ``job``, save its image. Any failure but the task's own end (moderated,
    error) names the paid task and the exact command that resumes it."""
    from flux_flex.errors import FluxFlexError, TaskError

    resume = resume_for(job.id, output, connection, polling_url=job.polling_url)
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
            resume=resume,
        ) from None
    except TaskError:
        raise  # the task ended without an image: nothing to resume; its id is in the message
    except (FluxFlexError, OSError) as exc:
        why = _why(exc, output, timeout)
        if connection.mock:
            why += _MOCK_NOTE
        raise PaidTaskError(exc, task_id=job.id, resume=resume, why=why) from exc
    return result, path


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
    prepare_output(output)
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
    prepare_output(output)
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


def _as_text(value: object) -> str | None:
    """A value from an answer as users read it: JSON for objects, never a Python repr."""
    if value is None or isinstance(value, str | int | float):
        return None if value is None else str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def status(task_id: str, polling_url: str | None, *, connection: Connection, as_json: bool) -> int:
    """Poll ``task_id`` once; exit 1 when it ended without an image."""
    from flux_flex._core.status import task_error

    with open_endpoint(connection) as endpoint, endpoint.sync_client() as client:
        snapshot = client.get_result(task_id, polling_url=polling_url)
    error = task_error(snapshot.id, snapshot.status, snapshot.raw)
    result = snapshot.result if isinstance(snapshot.result, dict) else {}
    if as_json:
        payload: dict[str, Any] = {
            "ok": error is None,
            "id": snapshot.id,
            "status": snapshot.status,
            "progress": snapshot.progress,
            "result": snapshot.result,
            "details": snapshot.raw.get("details"),
        }
        if error is not None:
            payload["error"] = error_payload(error)
        emit_json(payload)
    else:
        progress = None if snapshot.progress is None else f"{snapshot.progress:.0%}"
        print_fields(
            f"task {snapshot.id}: {snapshot.status}",
            [
                ("progress", progress if error is None and snapshot.status != "Ready" else None),
                ("image", result.get("sample")),
                ("seed", result.get("seed")),
                ("details", _as_text(snapshot.raw.get("details"))),
            ],
        )
        if snapshot.status == "Ready":
            print(f"save it with: {resume_command(task_id, 'IMAGE.png')}", file=sys.stderr)
    return ExitCode.FAILED if error is not None else ExitCode.OK
