"""flux-flex: the client for the FLUX.2 [FLEX] image API.

from flux_flex import FluxFlex

with FluxFlex() as client:               # BFL_API_KEY, BFL_BASE_URL
    result = client.generate("a red fox in snow", save_to="fox.png")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flux_flex._core.pricing import Estimate
    from flux_flex._core.retry import RetryPolicy
    from flux_flex._core.schedule import PollSchedule
    from flux_flex._core.status import FINAL_STATUSES, KNOWN_STATUSES, Status, is_final
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
        UntrustedHostError,
        WaitTimeoutError,
        WebhookVerificationError,
    )
    from flux_flex.models import (
        AsyncJob,
        AsyncResult,
        Job,
        JobInfo,
        Result,
        ResultInfo,
        TaskSnapshot,
    )
    from flux_flex.params import ImageInput, SubmitParams

if TYPE_CHECKING:  # the task journal and batches
    from flux_flex._batch import AsyncBatchRun, BatchCounts, BatchEvent, BatchRun
    from flux_flex.errors import (
        BatchValidationError,
        JournalError,
        PreviouslyFailedError,
        TaskUncertainError,
    )
    from flux_flex.journal import Journal, JournalEntry

# Exports are imported on first use (PEP 562): `import flux_flex` stays cheap, which keeps
# `flux-flex --help` and programs that only touch the errors fast (httpx alone costs ~0.2 s
# when click and rich are installed, because it loads its own command line).
_EXPORTS: dict[str, str] = {
    "APIConnectionError": "flux_flex.errors",
    "APIError": "flux_flex.errors",
    "APITimeoutError": "flux_flex.errors",
    "AsyncFluxFlex": "flux_flex.async_client",
    "AsyncJob": "flux_flex.models",
    "AsyncResult": "flux_flex.models",
    "AuthenticationError": "flux_flex.errors",
    "CompletionSource": "flux_flex.completion",
    "ConfigurationError": "flux_flex.errors",
    "DownloadError": "flux_flex.errors",
    "Estimate": "flux_flex._core.pricing",
    "FINAL_STATUSES": "flux_flex._core.status",
    "FieldError": "flux_flex.errors",
    "FluxFlex": "flux_flex.client",
    "FluxFlexError": "flux_flex.errors",
    "ImageInput": "flux_flex.params",
    "InsufficientCreditsError": "flux_flex.errors",
    "Job": "flux_flex.models",
    "JobInfo": "flux_flex.models",
    "KNOWN_STATUSES": "flux_flex._core.status",
    "ModerationError": "flux_flex.errors",
    "PollSchedule": "flux_flex._core.schedule",
    "ProtocolError": "flux_flex.errors",
    "RateLimitError": "flux_flex.errors",
    "RequestValidationError": "flux_flex.errors",
    "Result": "flux_flex.models",
    "ResultInfo": "flux_flex.models",
    "RetryPolicy": "flux_flex._core.retry",
    "ServerError": "flux_flex.errors",
    "Status": "flux_flex._core.status",
    "SubmitParams": "flux_flex.params",
    "TaskError": "flux_flex.errors",
    "TaskFailedError": "flux_flex.errors",
    "TaskNotFoundError": "flux_flex.errors",
    "TaskSnapshot": "flux_flex.models",
    "UntrustedHostError": "flux_flex.errors",
    "WaitTimeoutError": "flux_flex.errors",
    "WebhookVerificationError": "flux_flex.errors",
    "is_final": "flux_flex._core.status",
    # the task journal and batches
    "AsyncBatchRun": "flux_flex._batch",
    "BatchCounts": "flux_flex._batch",
    "BatchEvent": "flux_flex._batch",
    "BatchRun": "flux_flex._batch",
    "BatchValidationError": "flux_flex.errors",
    "Journal": "flux_flex.journal",
    "JournalEntry": "flux_flex.journal",
    "JournalError": "flux_flex.errors",
    "PreviouslyFailedError": "flux_flex.errors",
    "TaskUncertainError": "flux_flex.errors",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        # Read when first asked: importlib.metadata is slow to import.
        from flux_flex._version import package_version

        return package_version()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flux_flex' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, "__version__"})


__all__ = [
    "FINAL_STATUSES",
    "KNOWN_STATUSES",
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
    "Estimate",
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
    "Status",
    "SubmitParams",
    "TaskError",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskSnapshot",
    "UntrustedHostError",
    "WaitTimeoutError",
    "WebhookVerificationError",
    "is_final",
]
__all__ += [  # the task journal and batches
    "AsyncBatchRun",
    "BatchCounts",
    "BatchEvent",
    "BatchRun",
    "BatchValidationError",
    "Journal",
    "JournalEntry",
    "JournalError",
    "PreviouslyFailedError",
    "TaskUncertainError",
]
