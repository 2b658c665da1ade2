"""How failures become exit codes and one readable line (pure: no click, no rich).

Exit codes: 0 success; 1 the API or the task failed (or any item of a batch); 2 the command
was used wrongly (bad option value, no API key, a missing extra); 130 interrupted (Ctrl-C);
143 terminated (SIGTERM, e.g. a container platform stopping the process).
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Sequence
from typing import Any

from flux_flex.errors import (
    APIConnectionError,
    ConfigurationError,
    FluxFlexError,
    RequestValidationError,
    ServerError,
    TaskError,
)

__all__ = [
    "BalanceTooLow",
    "CliUsageError",
    "ExitCode",
    "Interrupted",
    "PaidTaskError",
    "Terminated",
    "UncertainTaskError",
    "describe",
    "error_payload",
    "error_type",
    "exit_code_for",
    "failure_json",
    "option_for_field",
    "resume_command",
]


class ExitCode(enum.IntEnum):
    """The process exit codes of ``flux-flex``."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 130
    TERMINATED = 143


class CliUsageError(Exception):
    """The command was used wrongly in a way click cannot see (no key, unset env var…)."""


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) arrived. ``hint`` says what happens to the task and how to pick
    it up again; ``resume`` is the command that does (None when there is nothing to resume);
    ``code`` the exit code (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(
        self,
        hint: str,
        *,
        task_id: str | None = None,
        resume: str | None = None,
        code: int = 130,
    ) -> None:
        super().__init__(hint)
        self.hint = hint
        self.task_id = task_id
        self.resume = resume
        self.code = code


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (raised in the main thread, where Ctrl-C's KeyboardInterrupt is)."""


class BalanceTooLow(Exception):
    """A batch's estimated cost is above the account's balance; nothing was sent."""


class UncertainTaskError(Exception):
    """A submission whose answer was lost: a task may exist (and be billed); ``error`` is
    what happened, the message says how the journal treats it and what to do."""

    def __init__(self, error: BaseException, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.task_id: str | None = getattr(error, "task_id", None)


class PaidTaskError(Exception):
    """A failure after a billed submit: ``error`` is what went wrong, ``task_id`` the paid
    task, ``resume`` the exact command that picks it up again (wait and save)."""

    def __init__(self, error: BaseException, *, task_id: str, resume: str, why: str) -> None:
        super().__init__(f"{why}; task {task_id} is paid for. Resume with: {resume}")
        self.error = error
        self.task_id = task_id
        self.resume = resume
        self.why = why


# API field name -> the option that sets it, so a refused value names what the user typed.
_FIELD_OPTIONS = {
    "prompt": "PROMPT",
    "width": "--width",
    "height": "--height",
    "seed": "--seed",
    "steps": "--steps",
    "guidance": "--guidance",
    "safety_tolerance": "--safety-tolerance",
    "output_format": "--format",
    "prompt_upsampling": "--no-upsampling",
    "webhook_url": "--webhook-url",
    "webhook_secret": "--webhook-secret-env",
    "input_images": "--input-image",
    "user": "--user",
    "save_to": "-o/--output",
}


def option_for_field(field: str) -> str | None:
    """The CLI option behind API field ``field`` (``input_image_3`` -> ``--input-image``)."""
    name = field.rsplit(".", 1)[-1]
    if name.startswith("input_image"):
        return "--input-image"
    return _FIELD_OPTIONS.get(name)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an exception that ended a command."""
    if isinstance(exc, PaidTaskError | UncertainTaskError):
        return exit_code_for(exc.error)
    if isinstance(exc, Interrupted):
        return ExitCode(exc.code)
    if isinstance(exc, Terminated):
        return ExitCode.TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(exc, CliUsageError | ConfigurationError):
        return ExitCode.USAGE
    # Refused locally, before anything was sent: the values the user typed are wrong.
    if isinstance(exc, RequestValidationError) and exc.status_code is None:
        return ExitCode.USAGE
    return ExitCode.FAILED


def describe(exc: BaseException) -> str:
    """One line saying what went wrong and what to do next (never a traceback)."""
    if isinstance(exc, Interrupted):
        return exc.hint
    if isinstance(exc, PaidTaskError | UncertainTaskError):
        return str(exc)
    if isinstance(exc, RequestValidationError):
        options = [option for option in map(option_for_field, exc.fields) if option]
        message = exc.message
        if options and exc.status_code is None:
            message += f" (check {', '.join(dict.fromkeys(options))})"
        return message
    if isinstance(exc, FluxFlexError):
        return exc.message
    if isinstance(exc, CliUsageError | BalanceTooLow):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return (
        f"unexpected error: {exc or 'no details'}. This is a bug in flux-flex: rerun with "
        "--debug for the traceback and report it."
    )


def error_type(exc: BaseException) -> str:
    """The documented name of a failure: a `flux_flex.errors` class, ``UsageError``,
    ``Interrupted``, ``FileError``, or ``UnexpectedError`` (never an internal class)."""
    if isinstance(exc, PaidTaskError | UncertainTaskError):
        return error_type(exc.error)
    if isinstance(exc, KeyboardInterrupt | Interrupted):
        return "Interrupted"
    if isinstance(exc, FluxFlexError):
        # The public hierarchy: the nearest class `flux_flex` exports.
        import flux_flex

        for cls in type(exc).__mro__:
            if getattr(flux_flex, cls.__name__, None) is cls:
                return str(cls.__name__)
        return "FluxFlexError"
    if isinstance(exc, CliUsageError):
        return "UsageError"
    if isinstance(exc, BalanceTooLow):
        return "BalanceTooLow"
    if isinstance(exc, OSError):
        return "FileError"
    return "UnexpectedError"


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The ``error`` member of a ``--json`` answer for a failed command.

    Always ``type``, ``message`` and ``exit_code``; ``task_id`` when a task is concerned,
    ``resume`` when a paid task can be picked up again (the exact command), and what the
    error knows besides (``status``, ``fields``, ``status_code``, ``task_may_exist``).
    """
    payload: dict[str, Any] = {
        "type": error_type(exc),
        "message": describe(exc),
        "exit_code": int(exit_code_for(exc)),
    }
    task_id = getattr(exc, "task_id", None)
    if task_id is not None:
        payload["task_id"] = task_id
    resume = getattr(exc, "resume", None)
    if resume is not None:
        payload["resume"] = resume
    if isinstance(exc, PaidTaskError | UncertainTaskError):
        exc = exc.error
    if isinstance(exc, TaskError):
        payload["status"] = exc.status
    if isinstance(exc, RequestValidationError):
        payload["fields"] = exc.fields
    if isinstance(exc, ServerError | APIConnectionError):
        payload["task_may_exist"] = exc.task_may_exist
    status_code = getattr(exc, "status_code", None)
    if status_code is not None:
        payload["status_code"] = status_code
    return payload


def failure_json(exc: BaseException) -> dict[str, Any]:
    """The one ``--json`` answer of every failed command: ``{"ok": false, "id", "error"}``."""
    return {"ok": False, "id": getattr(exc, "task_id", None), "error": error_payload(exc)}


def resume_command(task_id: str, output: str | None, extra: Sequence[str] = ()) -> str:
    """The exact shell command that resumes waiting for ``task_id`` (quoted for a shell)."""
    argv = ["flux-flex", "wait", task_id]
    if output is not None:
        argv += ["-o", output]
    argv += list(extra)
    return shlex.join(argv)
