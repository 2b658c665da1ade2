"""Contains all the data models used in inputs/outputs (each imported on first use)"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .async_response import AsyncResponse
    from .async_webhook_response import AsyncWebhookResponse
    from .credits_response import CreditsResponse
    from .error_response import ErrorResponse
    from .flux_2_flex_inputs import Flux2FlexInputs
    from .http_validation_error import HTTPValidationError
    from .output_format import OutputFormat
    from .ready_result import ReadyResult
    from .result_response import ResultResponse
    from .result_response_details_type_0 import ResultResponseDetailsType0
    from .result_response_preview_type_0 import ResultResponsePreviewType0
    from .result_with_cost_response import ResultWithCostResponse
    from .result_with_cost_response_details_type_0 import (
        ResultWithCostResponseDetailsType0,
    )
    from .result_with_cost_response_preview_type_0 import (
        ResultWithCostResponsePreviewType0,
    )
    from .status_response import StatusResponse
    from .validation_error import ValidationError
    from .webhook_error_payload import WebhookErrorPayload
    from .webhook_ready_payload import WebhookReadyPayload

_MODULES = {
    "AsyncResponse": ".async_response",
    "AsyncWebhookResponse": ".async_webhook_response",
    "CreditsResponse": ".credits_response",
    "ErrorResponse": ".error_response",
    "Flux2FlexInputs": ".flux_2_flex_inputs",
    "HTTPValidationError": ".http_validation_error",
    "OutputFormat": ".output_format",
    "ReadyResult": ".ready_result",
    "ResultResponse": ".result_response",
    "ResultResponseDetailsType0": ".result_response_details_type_0",
    "ResultResponsePreviewType0": ".result_response_preview_type_0",
    "ResultWithCostResponse": ".result_with_cost_response",
    "ResultWithCostResponseDetailsType0": ".result_with_cost_response_details_type_0",
    "ResultWithCostResponsePreviewType0": ".result_with_cost_response_preview_type_0",
    "StatusResponse": ".status_response",
    "ValidationError": ".validation_error",
    "WebhookErrorPayload": ".webhook_error_payload",
    "WebhookReadyPayload": ".webhook_ready_payload",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})


__all__ = (
    "AsyncResponse",
    "AsyncWebhookResponse",
    "CreditsResponse",
    "ErrorResponse",
    "Flux2FlexInputs",
    "HTTPValidationError",
    "OutputFormat",
    "ReadyResult",
    "ResultResponse",
    "ResultResponseDetailsType0",
    "ResultResponsePreviewType0",
    "ResultWithCostResponse",
    "ResultWithCostResponseDetailsType0",
    "ResultWithCostResponsePreviewType0",
    "StatusResponse",
    "ValidationError",
    "WebhookErrorPayload",
    "WebhookReadyPayload",
)
