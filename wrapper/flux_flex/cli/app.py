"""The click application: commands, their options, and the error -> exit code boundary.

Commands stay thin: they turn options into plain values and call the module that does
the work (`tasks`, `batch`, `servers`). Only stdlib, click and this package's light
modules are imported here, so ``flux-flex --help`` starts fast.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ParamSpec

import click

from flux_flex.cli.connection import DEFAULT_KEY_ENV, Connection
from flux_flex.cli.failures import ExitCode, describe, exit_code_for, failure_json
from flux_flex.cli.output import emit_json

__all__ = ["cli", "run"]

P = ParamSpec("P")
MAX_INPUT_IMAGES = 8
CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); the exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="flux-flex")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _report_failure(exc: BaseException, *, debug: bool, as_json: bool) -> int:
    code = exit_code_for(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if as_json:
        emit_json(failure_json(exc))
    message = "interrupted." if isinstance(exc, KeyboardInterrupt) else describe(exc)
    interrupted = code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED)
    click.echo(message if interrupted else f"error: {message}", err=True)
    return int(code)


def reports_errors(func: Callable[P, int | None]) -> Callable[P, None]:
    """Run a command; turn any failure into one line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        ctx = click.get_current_context()
        debug = bool(kwargs.get("debug")) or bool(ctx.find_root().params.get("debug"))
        _show_retries()
        if debug:
            _enable_debug_logging()
        try:
            code = func(*args, **kwargs) or 0
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            code = _report_failure(exc, debug=debug, as_json=bool(kwargs.get("as_json")))
        ctx.exit(code)

    return wrapper


class _DebugHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes flux_flex's debug log to the current stderr (one per process)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # follow redirections (tests, pipes)
        super().emit(record)


class _RetryLines(logging.Handler):
    """Prints each resend the client announces as a plain line on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(record.getMessage(), err=True)


def _show_retries() -> None:
    # The client decides and words each resend (flux_flex._core.flows); the CLI only prints.
    logger = logging.getLogger("flux_flex.retry")
    if not any(isinstance(handler, _RetryLines) for handler in logger.handlers):
        logger.addHandler(_RetryLines())
    logger.setLevel(logging.INFO)
    logger.propagate = False  # once, even with --debug or FLUX_FLEX_LOG


def _enable_debug_logging() -> None:
    # Only our own loggers: the client masks secrets in what it logs.
    logger = logging.getLogger("flux_flex")
    if not any(isinstance(handler, _DebugHandler) for handler in logger.handlers):
        logger.addHandler(_DebugHandler())
    logger.setLevel(logging.DEBUG)


# --- shared options -------------------------------------------------------------------------


def debug_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--debug``: show the traceback of a failure (and the client's debug log)."""
    return click.option(
        "--debug", is_flag=True, help="Show the traceback of a failure and debug logs."
    )(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``: print one JSON object on stdout instead of text."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON object on stdout instead of text."
    )(func)


def connection_options(*, mock: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Where to connect: ``--base-url``, ``--region``, ``--api-key-env`` (and ``--mock``)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option(
                "--api-key-env",
                metavar="NAME",
                default=DEFAULT_KEY_ENV,
                show_default=True,
                help="Environment variable holding the API key (never pass the key itself).",
            ),
            click.option(
                "--base-url",
                metavar="URL",
                default=None,
                help="API base URL [default: $BFL_BASE_URL, else https://api.bfl.ai].",
            ),
            click.option(
                "--region",
                type=click.Choice(["eu", "us"]),
                default=None,
                help="Use a regional host instead of the global one.",
            ),
        ]
        if mock:
            options += [
                click.option(
                    "--mock",
                    is_flag=True,
                    help="Run offline against the built-in fake API (no key, no cost).",
                ),
                click.option(
                    "--mock-task-seconds",
                    type=click.FloatRange(min=0),
                    default=1.0,
                    hidden=True,
                    help="How long each task of the --mock fake runs.",
                ),
            ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _connection(kwargs: dict[str, Any]) -> Connection:
    return Connection(
        offers_mock="mock" in kwargs,
        mock=bool(kwargs.pop("mock", False)),
        mock_task_seconds=float(kwargs.pop("mock_task_seconds", 1.0)),
        api_key_env=kwargs.pop("api_key_env"),
        base_url=kwargs.pop("base_url"),
        region=kwargs.pop("region"),
    )


def image_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The generation parameters shared by ``generate`` and ``batch``."""
    options = [
        click.option("--width", type=int, help="Width in pixels (>= 64; 0: the model picks)."),
        click.option("--height", type=int, help="Height in pixels (>= 64; 0: the model picks)."),
        click.option("--steps", type=int, help="Inference steps (1..50; API default 50)."),
        click.option("--guidance", type=float, help="Guidance scale (1.5..10; API default 5)."),
        click.option(
            "--safety-tolerance", type=int, help="0 (strictest) .. 5 (least strict); default 2."
        ),
        click.option(
            "--format",
            "output_format",
            type=click.Choice(["png", "jpeg", "webp"]),
            default=None,
            help="Image format [default: from the file name's extension, else the API's: jpeg].",
        ),
        click.option(
            "--no-upsampling", is_flag=True, help="Do not let the API rewrite the prompt."
        ),
        click.option(
            "--user",
            metavar="ID",
            default=None,
            help="Your end user's id (1..256 characters), passed to the API as `user`.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _image_params(kwargs: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in ("width", "height", "seed", "steps", "guidance", "safety_tolerance", "user"):
        value = kwargs.pop(name, None)
        if value is not None:
            params[name] = value
    output_format = kwargs.pop("output_format", None)
    if output_format is not None:
        params["output_format"] = output_format
    if kwargs.pop("no_upsampling", False):
        params["prompt_upsampling"] = False
    return params


def _check_input_images(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    if len(value) > MAX_INPUT_IMAGES:
        raise click.BadParameter(
            f"at most {MAX_INPUT_IMAGES} reference images, got {len(value)}.", ctx, param
        )
    return value


def timeout_option(covers: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--timeout``: the whole of each task, as the library's ``timeout`` (``covers`` says
    what that is for the command). Checked here only: the library takes it as given."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=300.0,
        show_default=True,
        help=f"Seconds for {covers}; after that the command gives up (the task keeps running "
        "on the API, and the command says how to resume it).",
    )


def journal_options(*, batch: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--journal`` and ``--resubmit-uncertain`` (and, for batch, ``--retry-failed``)."""
    where = "DIR" if batch else "the folder of FILE"

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option(
                "--journal",
                metavar="PATH|URL",
                default=None,
                help=f"Task journal that makes a re-run resume instead of paying again: a "
                "SQLite file (PATH or sqlite:///PATH), or postgresql://user@host/db shared by "
                "processes on several machines [default: $FLUX_FLEX_JOURNAL, else "
                f"{where}/.flux-flex-journal.sqlite].",
            ),
            click.option(
                "--resubmit-uncertain",
                is_flag=True,
                help="Send again requests that were sent without an answer (a task may exist "
                "and be billed: check your tasks first).",
            ),
        ]
        if batch:
            options.append(
                click.option(
                    "--retry-failed",
                    is_flag=True,
                    help="Try again lines that failed in an earlier run (billed again).",
                )
            )
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


# --- the group ----------------------------------------------------------------------------

ARGV_KEY = "flux_flex.argv"


def _wants_json(argv: Sequence[str]) -> bool:
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


class FluxFlexGroup(click.Group):
    """The command group: remembers the command line (for "re-run the same command"
    hints) and answers usage errors with the one ``--json`` failure object when asked."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        argv = list(args)
        ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta[ARGV_KEY] = argv
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if not _wants_json(ctx.meta.get(ARGV_KEY, [])):
                raise
            from flux_flex.cli.failures import CliUsageError

            emit_json(failure_json(CliUsageError(exc.format_message())))
            exc.show()
            ctx.exit(exc.exit_code)


def command_line(ctx: click.Context | None = None, *, drop: Sequence[str] = ()) -> list[str]:
    """The ``flux-flex ...`` command being run, as an argv (without flags in ``drop``)."""
    ctx = ctx or click.get_current_context()
    argv = [arg for arg in ctx.meta.get(ARGV_KEY, []) if arg not in drop]
    return ["flux-flex", *argv]


# --- commands -------------------------------------------------------------------------------


@click.group(cls=FluxFlexGroup, context_settings=CONTEXT)
@click.version_option(package_name="flux-flex", prog_name="flux-flex")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs for any command.")
def cli(debug: bool) -> None:
    """Generate images with FLUX.2 [FLEX] from the command line.

    The API key is read from $BFL_API_KEY. Add --mock to any generation command to try it
    offline against the built-in fake API. Exit codes: 0 success, 1 the API or a task
    failed, 2 wrong usage (bad option, no key), 130 interrupted.
    """


@cli.command(context_settings=CONTEXT)
@click.argument("prompt")
@click.option(
    "-o", "--output", metavar="FILE", required=True, help="Where to save the image (or a dir)."
)
@image_options
@click.option("--seed", type=int, help="Seed, for a reproducible image.")
@click.option(
    "--input-image",
    "input_images",
    metavar="PATH_OR_URL",
    multiple=True,
    callback=_check_input_images,
    help="Reference image to edit or combine (repeat, up to 8): a path or URL.",
)
@click.option("--webhook-url", metavar="URL", help="Also have the API POST the result here.")
@click.option(
    "--webhook-secret-env",
    metavar="NAME",
    help="Environment variable holding the webhook signing secret.",
)
@journal_options(batch=False)
@timeout_option("the whole task: its submission, the wait and saving the image")
@json_option
@connection_options(mock=True)
@debug_option
@reports_errors
def generate(prompt: str, output: str, **kwargs: Any) -> int:
    """Generate one image from PROMPT and save it to FILE.

    Shows the task's progress, then prints the path, seed and cost. A journal beside FILE
    records the task: if the command stops after the task was paid for, re-running it
    resumes that task instead of paying again.
    """
    from flux_flex.cli import tasks
    from flux_flex.cli.prompts_file import format_for_suffix

    connection = _connection(kwargs)
    params = _image_params(kwargs)
    from_suffix = format_for_suffix(output)
    chosen = params.get("output_format")
    if from_suffix is not None and chosen is not None and chosen != from_suffix:
        raise click.BadParameter(
            f"--format {chosen} contradicts the extension of {output!r}: drop --format, or "
            f"end the file name with {'.jpg' if chosen == 'jpeg' else '.' + chosen}.",
            param_hint="--format",
        )
    if from_suffix is not None:
        params.setdefault("output_format", from_suffix)
    if kwargs["input_images"]:
        params["input_images"] = list(kwargs["input_images"])
    if kwargs["webhook_url"]:
        params["webhook_url"] = kwargs["webhook_url"]
    return tasks.generate(
        prompt,
        output,
        params,
        connection=connection,
        timeout=kwargs["timeout"],
        webhook_secret_env=kwargs["webhook_secret_env"],
        journal=kwargs["journal"],
        resubmit_uncertain=kwargs["resubmit_uncertain"],
        as_json=kwargs["as_json"],
    )


@cli.command(context_settings=CONTEXT)
@click.argument("task_id", metavar="ID")
@click.option("--polling-url", metavar="URL", help="The task's polling_url, if it was regional.")
@json_option
@connection_options(mock=False)
@debug_option
@reports_errors
def status(task_id: str, polling_url: str | None, **kwargs: Any) -> int:
    """Poll task ID once and print its status (exit 1 if the task failed)."""
    from flux_flex.cli import tasks

    connection = _connection(kwargs)
    return tasks.status(task_id, polling_url, connection=connection, as_json=kwargs["as_json"])


@cli.command(context_settings=CONTEXT)
@click.argument("task_id", metavar="ID")
@click.option("-o", "--output", metavar="FILE", required=True, help="Where to save the image.")
@click.option("--polling-url", metavar="URL", help="The task's polling_url, if it was regional.")
@timeout_option("waiting for the task and saving its image")
@json_option
@connection_options(mock=False)
@debug_option
@reports_errors
def wait(task_id: str, output: str, polling_url: str | None, **kwargs: Any) -> int:
    """Resume task ID: wait until it is ready and save the image to FILE."""
    from flux_flex.cli import tasks

    connection = _connection(kwargs)
    return tasks.wait(
        task_id,
        output,
        polling_url,
        connection=connection,
        timeout=kwargs["timeout"],
        as_json=kwargs["as_json"],
    )


@cli.command("tasks", context_settings=CONTEXT)
@click.argument("journal", metavar="[PATH|DIR|URL]", required=False, default=None)
@click.option(
    "--journal",
    "journal_option",
    metavar="PATH|URL",
    default=None,
    help="The journal, as the argument gives it (one of the two).",
)
@json_option
@debug_option
@reports_errors
def list_tasks(journal: str | None, journal_option: str | None, as_json: bool, debug: bool) -> int:
    """List what a task journal holds: id, state, prompt, cost, host and file of every task.

    The journal is a file, a folder holding .flux-flex-journal.sqlite (what batch and
    generate write), sqlite:///PATH or postgresql://user@host/db [default:
    $FLUX_FLEX_JOURNAL, else the current folder].
    """
    from flux_flex.cli import journal_view
    from flux_flex.cli.failures import CliUsageError

    if journal is not None and journal_option is not None and journal != journal_option:
        raise CliUsageError("give the journal once: as the argument or with --journal")
    return journal_view.list_tasks(journal or journal_option, as_json=as_json)


@cli.command("credits", context_settings=CONTEXT)
@json_option
@connection_options(mock=False)
@debug_option
@reports_errors
def show_credits(**kwargs: Any) -> int:
    """Print the account's credit balance (GET /v1/credits; nothing is billed)."""
    from flux_flex.cli import account

    connection = _connection(kwargs)
    return account.show_credits(connection, as_json=kwargs["as_json"])


@cli.command(context_settings=CONTEXT)
@click.argument("prompts_file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--out-dir",
    metavar="DIR",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for the images (created if missing).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=24,
    show_default=True,
    help="Tasks in flight at once in this process (most accounts may have 24; more get "
    "429s, retried).",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(min=1),
    default=24,
    show_default=True,
    help="Tasks running at once across every process sharing the --journal (the account's "
    "limit; --concurrency stays this process's own).",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=1, max=3600),
    default=30.0,
    show_default=True,
    help="Seconds this process's claims outlive it if it dies without a word (renewed every "
    "third of it): then other processes sharing the journal take its lines over.",
)
@image_options
@click.option(
    "--force",
    is_flag=True,
    help="Generate every line again, even those whose image is already there (billed).",
)
@journal_options(batch=True)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Say how many tasks would be submitted, their estimated cost and (with a key) the "
    "balance; send nothing billed.",
)
@click.option(
    "--yes",
    is_flag=True,
    help="Submit even when the estimated cost exceeds the balance (or it cannot be checked).",
)
@timeout_option("each line: its submission, wait and image, counted from when it starts")
@json_option
@connection_options(mock=True)
@debug_option
@reports_errors
def batch(prompts_file: str, out_dir: str, **kwargs: Any) -> int:
    """Generate one image per line of PROMPTS_FILE into DIR (exit 1 if any failed).

    Each line is a prompt, or a JSON object with "prompt" and parameters (width, seed,
    output_format, user, ...; "name" starts the file name). Every line is checked, and the
    estimated cost held against your balance, before anything is sent. Images are named
    <slug or name>-<hash>.<ext> from the request; a journal in DIR records every task, so
    re-running the same command skips what is saved and resumes what was paid for.
    """
    from flux_flex.cli import batch as batch_module
    from flux_flex.cli.failures import option_for_field

    connection = _connection(kwargs)
    defaults = _image_params(kwargs)
    options = batch_module.BatchOptions(
        concurrency=kwargs["concurrency"],
        timeout=kwargs["timeout"],
        journal=kwargs["journal"],
        max_in_flight=kwargs["max_in_flight"],
        lease=kwargs["lease"],
        force=kwargs["force"],
        resubmit_uncertain=kwargs["resubmit_uncertain"],
        retry_failed=kwargs["retry_failed"],
        dry_run=kwargs["dry_run"],
        yes=kwargs["yes"],
        as_json=kwargs["as_json"],
        mock=connection.mock,
        command=command_line(),
    )
    return batch_module.run_batch(
        prompts_file,
        Path(out_dir),
        defaults,
        options_by_key={key: option_for_field(key) or key for key in defaults},
        connection=connection,
        options=options,
    )


def _mock_server_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """One click option per setting of the fake, from the table ``python -m
    flux_flex.testing`` also reads (a stdlib-only module: ``--help`` stays fast)."""
    from flux_flex.testing._options import OPTIONS

    for option in reversed(OPTIONS):
        if option.switch is not None:
            func = click.option(
                option.flag,
                option.key,
                is_flag=True,
                flag_value=option.switch,
                default=None,
                help=option.help,
            )(func)
        else:
            func = click.option(
                option.flag,
                option.key,
                metavar=option.metavar,
                multiple=option.multiple,
                default=None,
                help=option.help,
            )(func)
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="Settings file: JSON, or TOML by its .toml suffix (flags override it).",
    )(func)


@cli.command("mock-server", context_settings=CONTEXT)
@_mock_server_options
@debug_option
@reports_errors
def mock_server(config_file: str | None, debug: bool, **options: Any) -> int:
    """Serve the fake API until interrupted (point BFL_BASE_URL at it).

    Every setting is a flag or a key of the --config file; the fake's module docs
    (flux_flex.testing) say what each does.
    """
    from flux_flex.cli import servers

    return servers.mock_server(options, config_file=config_file)


@cli.command("webhook-listen", context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8788, show_default=True)
@click.option(
    "--secret-env",
    "secret_envs",
    metavar="NAME",
    multiple=True,
    required=True,
    help="Environment variable holding the webhook secret (repeat to accept old ones too).",
)
@click.option(
    "--save-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also save each verified event as JSON in this directory.",
)
@click.option(
    "--journal",
    metavar="URL",
    default=None,
    help="Record every final delivery in this task journal (a path, sqlite:///path or "
    "postgresql://...), once across all receivers sharing it; 503 while it is unreachable.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Save each Ready task's image here as <name or task id>.<ext>, once across the "
    "receivers sharing --journal (needs --journal).",
)
@debug_option
@reports_errors
def webhook_listen(
    host: str,
    port: int,
    secret_envs: tuple[str, ...],
    save_dir: str | None,
    journal: str | None,
    out_dir: str | None,
    debug: bool,
) -> int:
    """Receive webhook deliveries, verify them, and print (or save) each event.

    With --journal, deliveries are recorded in the task journal that workers share, and
    --out-dir saves each image once across every receiver of that journal.
    """
    from flux_flex.cli import servers

    return servers.webhook_listen(
        host, port, secret_envs=secret_envs, save_dir=save_dir, journal=journal, out_dir=out_dir
    )


@cli.command("reconcile", context_settings=CONTEXT)
@click.option(
    "--journal",
    metavar="URL",
    required=True,
    help="The task journal workers and receivers share (a path, sqlite:///path or "
    "postgresql://...).",
)
@click.option(
    "--out-dir",
    metavar="DIR",
    required=True,
    type=click.Path(file_okay=False),
    help="Where the images of the tasks it finishes go, as <name or task id>.<ext>.",
)
@click.option(
    "--after",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds after which a task a live worker holds counts as overdue and is taken "
    "over [default: twice the task's expected time].",
)
@timeout_option("waiting for running tasks and finishing the overdue ones")
@json_option
@connection_options(mock=False)
@debug_option
@reports_errors
def reconcile(journal: str, out_dir: str, after: float | None, **kwargs: Any) -> int:
    """Finish what died: poll, save and settle the journal's overdue tasks and those whose
    worker is gone, once across any number of reconcilers; wait for running ones; list
    uncertain submissions with the command that resends each (never resent on its own).

    Exit 0 when everything is settled, 1 when some tasks failed, still run, or stay
    uncertain.
    """
    from flux_flex.cli.reconcile import run_reconcile

    connection = _connection(kwargs)
    return run_reconcile(
        journal,
        out_dir,
        connection=connection,
        after=after,
        timeout=kwargs["timeout"],
        as_json=kwargs["as_json"],
    )
