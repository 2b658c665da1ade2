"""``generate``, ``status`` and ``wait``: one task, with progress, resume hints and output."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

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
    UncertainTaskError,
    describe,
    error_payload,
    resume_command,
)
from flux_flex.cli.output import emit_json, format_cost, print_fields
from flux_flex.cli.paths import journal_file as journal_sqlite_file
from flux_flex.cli.paths import journal_target, output_folder, prepare_folder, prepare_output
from flux_flex.cli.progress import FINAL_KINDS, TaskProgress

if TYPE_CHECKING:
    from flux_flex import BatchEvent, PreparedRequest
    from flux_flex.client import FluxFlex
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
        # The timeout given, not the time measured: rounded, that says "1 s" for 0.5.
        return f"no result within --timeout {timeout:g} s"
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
    """Wait for ``job`` and save its image, both within ``timeout``. Any failure but the
    task's own end (moderated, error) names the paid task and the exact command that resumes
    it."""
    from flux_flex.errors import FluxFlexError, TaskError

    resume = resume_for(job.id, output, connection, polling_url=job.polling_url)
    try:
        progress.track(job.id, status)
        result = job.wait(timeout=timeout, on_progress=progress.update, save_to=output)
        assert result.path is not None
        path = result.path
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


@attrs.frozen
class Saved:
    """A saved image, as the summary of ``generate`` and ``wait`` shows it."""

    task_id: str
    path: str
    url: str
    seed: int | None
    prompt: str | None
    cost: float | None
    input_mp: float | None = None
    output_mp: float | None = None


def _report_result(saved: Saved, *, elapsed: float, mock: bool, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "ok": True,
                "id": saved.task_id,
                "status": "Ready",
                "path": saved.path,
                "url": saved.url,
                "seed": saved.seed,
                "prompt": saved.prompt,
                "cost": saved.cost,
                "input_mp": saved.input_mp,
                "output_mp": saved.output_mp,
                "elapsed_seconds": round(elapsed, 3),
                "mock": mock,
            }
        )
        return
    print_fields(
        f"saved {saved.path}",
        [
            ("task", saved.task_id),
            ("seed", saved.seed),
            ("cost", format_cost(saved.cost)),
            ("time", f"{elapsed:.1f} s"),
        ],
    )


def _output_mp(path: str) -> float | None:
    """The megapixels of the image saved at ``path`` (as the API reports them)."""
    from flux_flex._core.imagesize import image_size
    from flux_flex._core.pricing import reported_mp

    try:
        with open(path, "rb") as image:
            size = image_size(image.read(65536))
    except OSError:
        return None
    return None if size is None else reported_mp(*size)


def _forget_finished(journal: str, output: str) -> None:
    """Forget a finished earlier run of this very request: generating again makes a new
    image (a journal is there to resume paid tasks, not to refuse a second picture)."""
    from flux_flex import Journal
    from flux_flex._core.journal import State

    target = os.path.abspath(output)
    with Journal(journal) as opened:
        for entry in opened.entries(State.SAVED):
            if entry.save_to == target:
                opened.forget(entry.fingerprint)


@attrs.define
class _Seen:
    """What the engine's events told about the one task of a ``generate``."""

    task_id: str | None = None
    kind: str | None = None
    credits: float = 0.0


def _run_one(
    client: FluxFlex,
    request: PreparedRequest,
    journal: str | None,
    progress: TaskProgress,
    seen: _Seen,
    *,
    timeout: float,
    resubmit_uncertain: bool,
) -> Any:
    """One request through the library's batch engine (with the journal): its outcome;
    ``seen`` learns the task id and how the request ended as the events come."""

    def on_event(event: BatchEvent) -> None:
        seen.credits = event.counts.credits
        if event.task_id:
            seen.task_id = event.task_id
        if event.kind == "submitted" and event.task_id:
            progress.track(event.task_id, "submitted")
        elif event.kind == "resumed" and event.task_id:
            progress.track(event.task_id, "resumed", "paid earlier")
        elif event.kind in FINAL_KINDS:
            seen.kind = event.kind
            label = "saved" if event.kind == "done" else event.kind
            imaged = event.kind in ("done", "skipped")  # only an image ends at 100 %
            progress.show(label, 1.0 if imaged else None)

    outcome: Any = None
    with client.generate_as_completed(
        [request],
        concurrency=1,
        timeout=timeout,
        journal=journal,
        resubmit_uncertain=resubmit_uncertain,
        retry_failed=True,  # running generate again is asking again (a failed task is over)
        on_event=on_event,
        on_progress=lambda _index, snapshot: progress.update(snapshot),
    ) as run:
        for _index, found in run:  # one request: one outcome
            outcome = found
    return outcome


def generate(
    prompt: str,
    output: str,
    params: dict[str, Any],
    *,
    connection: Connection,
    timeout: float,
    webhook_secret_env: str | None,
    journal: str | None,
    resubmit_uncertain: bool,
    as_json: bool,
) -> int:
    """Submit ``prompt``, show progress, save the image to ``output``, print the outcome.

    The task is recorded in a journal beside ``output`` before its POST leaves, so a run
    that stops after paying is resumed by the next run of the same command.
    """
    from flux_flex import prepare_request

    if webhook_secret_env:
        params["webhook_secret"] = read_secret_env(webhook_secret_env, what="the webhook secret")
    # Bad input is refused before anything is sent; this one prepared request is what the
    # engine sends (its input images read once).
    request = prepare_request(prompt, save_to=output, **params)
    prepare_output(output)
    journal_file = None if connection.mock else journal_target(output_folder(output), journal)
    if journal_file is not None:
        file = journal_sqlite_file(journal_file)
        if file is not None:
            prepare_folder(file.parent, option="--journal", given=str(file))
        if file is None or file.is_file():
            _forget_finished(journal_file, output)
    seen = _Seen()
    with open_endpoint(connection) as endpoint, endpoint.sync_client() as client:
        _announce_mock(endpoint)
        started = time.monotonic()
        with TaskProgress("task") as progress:
            try:
                outcome = _run_one(
                    client,
                    request,
                    journal_file,
                    progress,
                    seen,
                    timeout=timeout,
                    resubmit_uncertain=resubmit_uncertain,
                )
            except KeyboardInterrupt:
                raise _interrupted(seen.task_id, output, connection) from None
        if isinstance(outcome, BaseException):
            raise _after_submit(outcome, seen, output, timeout, connection)
        estimate = request.estimate()
        saved = Saved(
            task_id=outcome.id,
            path=_as_given(outcome.path or output, output),
            url=outcome.url,
            seed=outcome.seed,
            prompt=outcome.prompt,
            cost=getattr(outcome, "cost", None) or seen.credits or None,
            input_mp=estimate.input_mp if "input_images" in params else None,
            output_mp=_output_mp(outcome.path or output),
        )
        _report_result(
            saved, elapsed=time.monotonic() - started, mock=endpoint.mock, as_json=as_json
        )
    return ExitCode.OK


def _as_given(path: str, output: str) -> str:
    """``path`` relative when the user gave a relative ``-o`` (as they typed it)."""
    if os.path.isabs(output):
        return path
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _interrupted(task_id: str | None, output: str, connection: Connection) -> Interrupted:
    if task_id is None:
        return Interrupted(
            "interrupted before the API answered the submission: nothing is known to be "
            "billed. Running the same command again reports the request as uncertain (a "
            "task may exist); check your tasks, and add --resubmit-uncertain to send it again."
        )
    return Interrupted(
        resume_hint(task_id, output, connection, why="interrupted"),
        task_id=task_id,
        resume=resume_for(task_id, output, connection),
    )


def _after_submit(
    error: BaseException, seen: _Seen, output: str, timeout: float, connection: Connection
) -> BaseException:
    """The failure to report for ``generate``'s outcome ``error``."""
    from flux_flex.errors import TaskError

    task_id = getattr(error, "task_id", None) or seen.task_id
    if task_id and not isinstance(error, TaskError):  # paid, and reachable by its id
        resume = resume_for(task_id, output, connection)
        why = _why(error, output, timeout) + (_MOCK_NOTE if connection.mock else "")
        return PaidTaskError(error, task_id=task_id, resume=resume, why=why)
    if seen.kind == "uncertain":
        return UncertainTaskError(
            error,
            f"{describe(error).rstrip('.')}. Running this command again will not send it "
            "again (it could pay twice): check your tasks, then add --resubmit-uncertain to "
            "send it anyway.",
        )
    return error


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
        saved = Saved(
            task_id=job.id,
            path=path,
            url=result.url,
            seed=result.seed,
            prompt=result.prompt,
            cost=getattr(result, "cost", None),
            output_mp=_output_mp(path),
        )
        _report_result(
            saved, elapsed=time.monotonic() - started, mock=endpoint.mock, as_json=as_json
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
