"""flux-flex: the client for the FLUX.2 [FLEX] image API.

from flux_flex import FluxFlex

with FluxFlex() as client:               # BFL_API_KEY, BFL_BASE_URL
    result = client.generate("a red fox in snow", save_to="fox.png")
"""

from __future__ import annotations

from flux_flex._core.retry import RetryPolicy
from flux_flex._core.schedule import PollSchedule
from flux_flex.async_client import AsyncFluxFlex
from flux_flex.client import FluxFlex
from flux_flex.completion import CompletionSource
from flux_flex.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    DownloadError,
    FieldError,
    FluxFlexError,
    InsufficientCreditsError,
    ModerationError,
    ProtocolError,
    RateLimitError,
    RequestValidationError,
    ServerError,
    TaskError,
    TaskFailedError,
    TaskNotFoundError,
    WaitTimeoutError,
    WebhookVerificationError,
)
from flux_flex.models import AsyncJob, AsyncResult, Job, JobInfo, Result, ResultInfo, TaskSnapshot
from flux_flex.params import ImageInput, SubmitParams

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncFluxFlex",
    "AsyncJob",
    "AsyncResult",
    "AuthenticationError",
    "CompletionSource",
    "ConfigurationError",
    "DownloadError",
    "FieldError",
    "FluxFlex",
    "FluxFlexError",
    "ImageInput",
    "InsufficientCreditsError",
    "Job",
    "JobInfo",
    "ModerationError",
    "PollSchedule",
    "ProtocolError",
    "RateLimitError",
    "RequestValidationError",
    "Result",
    "ResultInfo",
    "RetryPolicy",
    "ServerError",
    "SubmitParams",
    "TaskError",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskSnapshot",
    "WaitTimeoutError",
    "WebhookVerificationError",
]
