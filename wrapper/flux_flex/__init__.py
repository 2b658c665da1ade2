"""flux-flex: the client for the FLUX.2 [FLEX] image API.

from flux_flex import FluxFlex

with FluxFlex() as client:               # BFL_API_KEY, BFL_BASE_URL
    result = client.generate("a red fox in snow", save_to="fox.png")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# THE export table: every public name, and the module it lives in, written once. Type
# checkers read these imports; at run time `_exports` reads them from this file, and each
# name is imported on first use (PEP 562), so that `import flux_flex` stays cheap (which
# keeps `flux-flex --help` and programs that only touch the errors fast: httpx alone costs
# ~0.2 s when click and rich are installed, because it loads its own command line).
if TYPE_CHECKING:
    from flux_flex._batch.engine import BatchCounts as BatchCounts
    from flux_flex._batch.engine import BatchEvent as BatchEvent
    from flux_flex._batch.engine import BatchOptions as BatchOptions
    from flux_flex._batch.tasks import AsyncBatchRun as AsyncBatchRun
    from flux_flex._batch.threads import BatchRun as BatchRun
    from flux_flex._core.pricing import Estimate as Estimate
    from flux_flex._core.request import PreparedRequest as PreparedRequest
    from flux_flex._core.retry import RetryPolicy as RetryPolicy
    from flux_flex._core.schedule import PollSchedule as PollSchedule
    from flux_flex._core.status import FINAL_STATUSES as FINAL_STATUSES
    from flux_flex._core.status import KNOWN_STATUSES as KNOWN_STATUSES
    from flux_flex._core.status import Status as Status
    from flux_flex._core.status import is_final as is_final
    from flux_flex._requests import prepare_request as prepare_request
    from flux_flex.async_client import AsyncFluxFlex as AsyncFluxFlex
    from flux_flex.client import FluxFlex as FluxFlex
    from flux_flex.completion import CompletionSource as CompletionSource
    from flux_flex.errors import APIConnectionError as APIConnectionError
    from flux_flex.errors import APIError as APIError
    from flux_flex.errors import APITimeoutError as APITimeoutError
    from flux_flex.errors import AuthenticationError as AuthenticationError
    from flux_flex.errors import BatchValidationError as BatchValidationError
    from flux_flex.errors import ConfigurationError as ConfigurationError
    from flux_flex.errors import DownloadError as DownloadError
    from flux_flex.errors import FieldError as FieldError
    from flux_flex.errors import FluxFlexError as FluxFlexError
    from flux_flex.errors import IdempotencyConflictError as IdempotencyConflictError
    from flux_flex.errors import InsufficientCreditsError as InsufficientCreditsError
    from flux_flex.errors import JournalError as JournalError
    from flux_flex.errors import ModerationError as ModerationError
    from flux_flex.errors import PermissionDeniedError as PermissionDeniedError
    from flux_flex.errors import PreviouslyFailedError as PreviouslyFailedError
    from flux_flex.errors import ProtocolError as ProtocolError
    from flux_flex.errors import RateLimitError as RateLimitError
    from flux_flex.errors import RequestValidationError as RequestValidationError
    from flux_flex.errors import ServerError as ServerError
    from flux_flex.errors import TaskError as TaskError
    from flux_flex.errors import TaskFailedError as TaskFailedError
    from flux_flex.errors import TaskInProgressError as TaskInProgressError
    from flux_flex.errors import TaskNotFoundError as TaskNotFoundError
    from flux_flex.errors import TaskUncertainError as TaskUncertainError
    from flux_flex.errors import UntrustedHostError as UntrustedHostError
    from flux_flex.errors import WaitTimeoutError as WaitTimeoutError
    from flux_flex.errors import WebhookVerificationError as WebhookVerificationError
    from flux_flex.journal import Journal as Journal
    from flux_flex.journal import JournalEntry as JournalEntry
    from flux_flex.models import AsyncJob as AsyncJob
    from flux_flex.models import AsyncResult as AsyncResult
    from flux_flex.models import Job as Job
    from flux_flex.models import JobInfo as JobInfo
    from flux_flex.models import Result as Result
    from flux_flex.models import ResultInfo as ResultInfo
    from flux_flex.models import TaskSnapshot as TaskSnapshot
    from flux_flex.models import WaitOptions as WaitOptions
    from flux_flex.params import ImageInput as ImageInput
    from flux_flex.params import SubmitParams as SubmitParams
    from flux_flex.recovery import ReconciledTask as ReconciledTask
    from flux_flex.recovery import ReconcileReport as ReconcileReport
    from flux_flex.recovery import UncertainSubmission as UncertainSubmission
    from flux_flex.recovery import reconcile as reconcile


def __getattr__(name: str) -> Any:
    if name.startswith("_") and name not in ("__all__", "__version__"):
        # A private name (a submodule being imported, say) is never an export.
        raise AttributeError(f"module 'flux_flex' has no attribute {name!r}")
    from flux_flex import _exports

    return _exports.resolve(globals(), name)


def __dir__() -> list[str]:
    from flux_flex import _exports

    return _exports.public_names(__file__)
