from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.async_response import AsyncResponse
from ...models.async_webhook_response import AsyncWebhookResponse
from ...models.error_response import ErrorResponse
from ...models.flux_2_flex_inputs import Flux2FlexInputs
from ...models.http_validation_error import HTTPValidationError
from ...types import Response


def _get_kwargs(
    *,
    body: Flux2FlexInputs,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/flux-2-flex",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AsyncResponse | AsyncWebhookResponse | ErrorResponse | HTTPValidationError | None:
    if response.status_code == 200:

        def _parse_response_200(data: object) -> AsyncResponse | AsyncWebhookResponse:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_200_type_0 = AsyncResponse.from_dict(data)

                return response_200_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            response_200_type_1 = AsyncWebhookResponse.from_dict(data)

            return response_200_type_1

        response_200 = _parse_response_200(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 402:
        response_402 = ErrorResponse.from_dict(response.json())

        return response_402

    if response.status_code == 403:
        response_403 = ErrorResponse.from_dict(response.json())

        return response_403

    if response.status_code == 422:
        response_422 = HTTPValidationError.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = ErrorResponse.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorResponse.from_dict(response.json())

        return response_500

    if response.status_code == 502:
        response_502 = ErrorResponse.from_dict(response.json())

        return response_502

    if response.status_code == 503:
        response_503 = ErrorResponse.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[
    AsyncResponse | AsyncWebhookResponse | ErrorResponse | HTTPValidationError
]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: Flux2FlexInputs,
) -> Response[
    AsyncResponse | AsyncWebhookResponse | ErrorResponse | HTTPValidationError
]:
    """Generate or edit an image with FLUX.2 [FLEX]

     Submits a task and answers at once with its id and where to poll it (or, with
    `webhook_url`, the webhook it will be delivered to). Billed; not idempotent.

    Args:
        body (Flux2FlexInputs):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AsyncResponse | AsyncWebhookResponse | ErrorResponse | HTTPValidationError]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: Flux2FlexInputs,
) -> AsyncResponse | AsyncWebhookResponse | ErrorResponse | HTTPValidationError | None:
    """Generate or edit an image with FLUX.2 [FLEX]

     Submits a task and answers at once with its id and where to poll it (or, with
    `webhook_url`, the webhook it will be delivered to). Billed; not idempotent.

    Args:
        body (Flux2FlexInputs):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AsyncResponse | AsyncWebhookResponse | ErrorResponse | HTTPValidationError
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: Flux2FlexInputs,
) -> Response[
    AsyncResponse | AsyncWebhookResponse | ErrorResponse | HTTPValidationError
]:
    """Generate or edit an image with FLUX.2 [FLEX]

     Submits a task and answers at once with its id and where to poll it (or, with
    `webhook_url`, the webhook it will be delivered to). Billed; not idempotent.

    Args:
        body (Flux2FlexInputs):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AsyncResponse | AsyncWebhookResponse | ErrorResponse | HTTPValidationError]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: Flux2FlexInputs,
) -> AsyncResponse | AsyncWebhookResponse | ErrorResponse | HTTPValidationError | None:
    """Generate or edit an image with FLUX.2 [FLEX]

     Submits a task and answers at once with its id and where to poll it (or, with
    `webhook_url`, the webhook it will be delivered to). Billed; not idempotent.

    Args:
        body (Flux2FlexInputs):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AsyncResponse | AsyncWebhookResponse | ErrorResponse | HTTPValidationError
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
