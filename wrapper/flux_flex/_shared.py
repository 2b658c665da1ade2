"""What the sync and async clients share: settings, request preparation, flow set-up, and
turning the core's answers into the public objects."""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import functools
import math
import os
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import attrs
import httpx

from flux_flex import _inputs
from flux_flex._config import resolve_settings
from flux_flex._core import pricing
from flux_flex._core.account import credits_flow
from flux_flex._core.actions import HttpRequest
from flux_flex._core.body import body_fields, submit_request_kwargs
from flux_flex._core.flows import (
    Flow,
    FlowEnv,
    download_flow,
    poll_flow,
    submit_flow,
    wait_flow,
)
from flux_flex._core.hosts import KeyDestinations
from flux_flex._core.imagesize import image_size
from flux_flex._core.redact import mask_error, masked_flow
from flux_flex._core.retry import RetryPolicy
from flux_flex._core.schedule import PollSchedule, TaskTimings
from flux_flex._core.sniff import format_for_path
from flux_flex._core.status import default_polling_url
from flux_flex._core.validation import (
    IMAGE_FIELDS,
    body_errors,
    image_count_error,
    raise_if_invalid,
)
from flux_flex._version import package_version
from flux_flex.errors import ConfigurationError, FieldError, RequestValidationError
from flux_flex.params import SubmitParams

__all__ = [
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_WEBHOOK_GRACE",
    "SUBMIT_KEYS",
    "ClientCore",
    "Submission",
    "user_agent",
]

DEFAULT_WEBHOOK_GRACE = 5.0
# A 4 MP PNG is at most ~16 MB of pixels (uncompressed RGBA); these leave a wide margin.
DEFAULT_DOWNLOAD_TIMEOUT = 120.0
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
SUBMIT_KEYS = frozenset(SubmitParams.__annotations__)
# The deadline (env.clock time) shared by every flow started inside `ClientCore.deadline`.
_call_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "flux_flex_call_deadline", default=None
)


@functools.cache
def user_agent() -> str:
    """``flux-flex/<version> (python-httpx/<version>)``: what our own HTTP clients send."""
    return f"flux-flex/{package_version()} (python-httpx/{httpx.__version__})"


@attrs.frozen
class Submission:
    """A checked submission, ready to send: the request (its ``json`` is the body) and the
    flow environment (with the webhook secret among the secrets to mask)."""

    request: HttpRequest
    env: FlowEnv = attrs.field(repr=False)

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body that would be POSTed."""
        return dict(self.request.json)


class ClientCore:
    """Configuration and the flows a client runs; no I/O beyond reading input images."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        region: str | None,
        *,
        timeout: float | httpx.Timeout,
        max_retries: int | None,
        retry: RetryPolicy | None,
        poll_schedule: PollSchedule | None,
        trusted_hosts: Sequence[str] = (),
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> None:
        self.settings = resolve_settings(api_key, base_url, region)
        self._options: dict[str, Any] = {
            "timeout": timeout,
            "max_retries": max_retries,
            "retry": retry,
            "poll_schedule": poll_schedule,
            "trusted_hosts": tuple(trusted_hosts),
            "download_timeout": download_timeout,
            "max_download_bytes": max_download_bytes,
        }
        # Hosts besides the base URL's (and HTTPS hosts under bfl.ai) that may receive x-key.
        self.trusted_hosts = tuple(host.lower() for host in trusted_hosts)
        # A download's own whole-transfer bound (seconds) and size cap (bytes).
        self.download_timeout = download_timeout
        self.max_download_bytes = max_download_bytes
        if isinstance(timeout, httpx.Timeout):
            self.timeout = timeout
        else:
            if not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
                raise ConfigurationError(
                    f"timeout must be a positive number of seconds, not {timeout!r}: requests "
                    "must never hang."
                )
            self.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = RetryPolicy(
                max_retries=max_retries,
                backoff_initial=policy.backoff_initial,
                backoff_factor=policy.backoff_factor,
                backoff_max=policy.backoff_max,
                retry_after_max=policy.retry_after_max,
            )
        self.retry = policy
        self.schedule = poll_schedule or PollSchedule()
        # How long this client's tasks took: times the polls of its next waits.
        self.timings = TaskTimings()
        self.env = FlowEnv(
            retry=policy,
            clock=time.monotonic,
            rng=random.Random(),
            secrets=(self.settings.api_key,),
            key_destinations=KeyDestinations(self.settings.base_url, self.trusted_hosts),
        )

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def describe(self, cls: str) -> str:
        return f"{cls}(base_url={self.base_url!r}, api_key='***')"

    def secrets(self, webhook_secret: Any = None) -> tuple[str, ...]:
        """What must never be shown: the API key, and ``webhook_secret`` when given."""
        key = self.settings.api_key
        return (key, webhook_secret) if isinstance(webhook_secret, str) else (key,)

    def submit_flow(self, prompt: Any, params: Mapping[str, Any]) -> Flow:
        """Validate (nothing is sent on bad input), encode images, build, submit."""
        return self.submission_flow(self.prepare_submission(prompt, params))

    def submission_flow(self, submission: Submission) -> Flow:
        """The flow that sends a prepared submission (billed)."""
        flow = submit_flow(
            submission.request,
            submission.env,
            base_url=self.base_url,
            deadline=_call_deadline.get(),
        )
        return masked_flow(flow, submission.env.secrets)

    def prepare_submission(self, prompt: Any, params: Mapping[str, Any]) -> Submission:
        """Check and build a submission without sending it.

        Raises `RequestValidationError` (every refused field) or `TypeError` (an unknown
        keyword); ``body`` is exactly what would be POSTed.
        """
        try:
            return self._prepare_submission(prompt, params)
        except Exception as error:  # a refused webhook_url may spell out the secret
            mask_error(error, self.secrets(params.get("webhook_secret")))
            raise

    def _prepare_submission(self, prompt: Any, params: Mapping[str, Any]) -> Submission:
        unknown = set(params) - SUBMIT_KEYS
        if unknown:
            raise TypeError(f"submit() got unexpected keyword arguments: {sorted(unknown)}")
        errors: list[FieldError] = []
        images = params.get("input_images") or ()
        if isinstance(images, str | bytes) or not isinstance(images, Sequence):
            images = [images]  # one image given where a list was expected
        count_error = image_count_error(len(images))
        encoded: list[str] = []
        if count_error is not None:
            errors.append(count_error)
        else:
            encoded, image_errors = _inputs.encode_images(images)
            errors.extend(image_errors)
        fields = body_fields(prompt, params, encoded)
        errors.extend(body_errors(fields))
        raise_if_invalid(errors)
        kwargs = submit_request_kwargs(fields)
        request = HttpRequest(
            kwargs["method"].upper(),
            self.base_url + kwargs["url"],
            idempotent=False,
            json=kwargs["json"],
        )
        secret = params.get("webhook_secret")
        env = self.env
        if secret:
            env = attrs.evolve(env, secrets=(*env.secrets, secret))
        return Submission(request=request, env=env)

    def polling_url(self, task_id: str, polling_url: str | None) -> str:
        return polling_url or default_polling_url(self.base_url, task_id)

    def poll_flow(
        self, task_id: str, polling_url: str | None, *, webhook_secret: str | None = None
    ) -> Flow:
        flow = poll_flow(
            self.polling_url(task_id, polling_url), task_id, self.env, deadline=_call_deadline.get()
        )
        return masked_flow(flow, self.secrets(webhook_secret))

    def wait_flow(
        self,
        task_id: str,
        polling_url: str | None,
        *,
        timeout: float,
        webhook: bool,
        webhook_grace: float | None,
        submitted_at: float | None = None,
        webhook_secret: str | None = None,
    ) -> Flow:
        if not (isinstance(timeout, int | float) and 0 <= timeout < math.inf):
            raise ValueError(f"timeout must be a finite number of seconds, not {timeout!r}")
        flow = wait_flow(
            task_id,
            self.polling_url(task_id, polling_url),
            self.env,
            schedule=self.schedule,
            timeout=timeout,
            webhook=webhook,
            webhook_grace=DEFAULT_WEBHOOK_GRACE if webhook_grace is None else webhook_grace,
            submitted_at=submitted_at,
            deadline=_call_deadline.get(),
            timings=self.timings,
        )
        return masked_flow(flow, self.secrets(webhook_secret))

    def download_flow(self, url: str, task_id: str, download_dir: str | None) -> Flow:
        """Fetch a sample (into ``download_dir``, else into memory), checked and bounded."""
        flow = download_flow(
            url,
            self.env,
            task_id=task_id,
            download_dir=download_dir,
            timeout=self.download_timeout,
            max_bytes=self.max_download_bytes,
            deadline=_call_deadline.get(),
        )
        return masked_flow(flow, self.env.secrets)

    @contextlib.contextmanager
    def deadline(self, timeout: float) -> Iterator[None]:
        """Every flow started within the block ends ``timeout`` s from now at the latest
        (``generate``: its submit, wait and save share one deadline)."""
        if not (isinstance(timeout, int | float) and 0 <= timeout < math.inf):
            raise ValueError(f"timeout must be a finite number of seconds, not {timeout!r}")
        end = self.env.clock() + timeout
        outer = _call_deadline.get()
        token = _call_deadline.set(end if outer is None else min(outer, end))
        try:
            yield
        finally:
            _call_deadline.reset(token)

    def credits_flow(self) -> Flow:
        """The account's balance (``GET /v1/credits``)."""
        return masked_flow(credits_flow(self.base_url, self.env), self.env.secrets)

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll_schedule: PollSchedule | None = None,
        trusted_hosts: Sequence[str] | None = None,
        download_timeout: float | None = None,
        max_download_bytes: int | None = None,
    ) -> ClientCore:
        """A new core with the same key and host; each option given (not None) replaces
        this one's, the others are kept (``max_retries`` applies to the ``retry`` in force)."""
        given = {
            "timeout": timeout,
            "retry": retry,
            "poll_schedule": poll_schedule,
            "trusted_hosts": trusted_hosts,
            "download_timeout": download_timeout,
            "max_download_bytes": max_download_bytes,
        }
        options = {
            **self._options,
            **{name: value for name, value in given.items() if value is not None},
        }
        if retry is not None:
            options["max_retries"] = None
        if max_retries is not None:
            options["max_retries"] = max_retries
        core = ClientCore(self.settings.api_key, self.settings.base_url, None, **options)
        core.timings = self.timings  # the copy shares the history of waits, as the connections
        return core

    def params_for_target(
        self, params: Mapping[str, Any], save_to: str | os.PathLike[str] | None
    ) -> SubmitParams:
        """``params`` with ``output_format`` chosen by ``save_to``'s extension when not given.

        Raises `RequestValidationError` on ``save_to`` (nothing sent) for an extension that
        contradicts ``output_format`` or is not an image format the API makes.
        """
        chosen = dict(params)
        if save_to is not None:
            fmt = self.target_format(save_to, chosen.get("output_format"), field="save_to")
            if fmt is not None:
                chosen["output_format"] = fmt
        return cast(SubmitParams, chosen)

    @staticmethod
    def target_format(
        path: str | os.PathLike[str], output_format: str | None, *, field: str
    ) -> str | None:
        """The output format saving to ``path`` means (`format_for_path`), or
        `RequestValidationError` on ``field`` for a contradicting or unknown extension."""
        target = os.fspath(path)
        try:
            return format_for_path(target, output_format, is_dir=os.path.isdir(target))
        except ValueError as exc:
            raise_if_invalid([FieldError(field, "extension", f"{field}: {exc}")])
            raise  # pragma: no cover - raise_if_invalid raised

    def validate(
        self, prompt: Any, params: Mapping[str, Any], save_to: str | os.PathLike[str] | None
    ) -> None:
        """Check a request as `generate` would, sending nothing: one
        `RequestValidationError` listing every problem (an unknown parameter included: a
        request given as data, e.g. a batch item, has typos rather than wrong calls)."""
        problems = [_unknown_parameter(name) for name in params if name not in SUBMIT_KEYS]
        known: Mapping[str, Any] = {k: v for k, v in params.items() if k in SUBMIT_KEYS}
        try:
            self.prepare_submission(prompt, known)
        except RequestValidationError as error:
            problems.extend(error.errors)
        try:
            self.params_for_target(known, save_to)
        except RequestValidationError as error:
            problems.extend(error.errors)
        try:
            raise_if_invalid(problems)
        except RequestValidationError as error:
            mask_error(error, self.secrets(params.get("webhook_secret")))
            raise

    def estimate(self, prompt: Any, params: Mapping[str, Any]) -> pricing.Estimate:
        """The estimated cost of a checked submission; input images measured as they would
        be sent (decoded base64); URLs and blob paths are of unknown size."""
        body = self.prepare_submission(prompt, params).body
        sizes = [_measure(body[name]) for name in IMAGE_FIELDS if name in body]
        if body.get("input_image_blob_path"):
            sizes.append(None)
        return pricing.estimate(body.get("width"), body.get("height"), sizes)


def _unknown_parameter(name: str) -> FieldError:
    import difflib  # only on this rare path: it is not free to import

    close = difflib.get_close_matches(name, sorted(SUBMIT_KEYS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return FieldError(name, "unknown", f"{name} is not a parameter of a request{hint}")


def _measure(image: str) -> tuple[int, int] | None:
    """(width, height) of an encoded input image; None for a URL or an unknown format."""
    if image[:8].lower().startswith(("http://", "https://")):
        return None
    try:
        data = base64.b64decode(image)
    except (binascii.Error, ValueError):
        return None
    return image_size(data)
