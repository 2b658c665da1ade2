"""Contains all the data models used in inputs/outputs"""

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
from .result_with_cost_response_details_type_0 import ResultWithCostResponseDetailsType0
from .result_with_cost_response_preview_type_0 import ResultWithCostResponsePreviewType0
from .status_response import StatusResponse
from .validation_error import ValidationError
from .webhook_error_payload import WebhookErrorPayload
from .webhook_ready_payload import WebhookReadyPayload

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
