from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.http_validation_error import HTTPValidationError
from ...models.result_response import ResultResponse
from ...models.result_with_cost_response import ResultWithCostResponse
from ...types import UNSET, Response


def _get_kwargs(
    *,
    id: str,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["id"] = id

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/get_result",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> (
    ErrorResponse | HTTPValidationError | ResultResponse | ResultWithCostResponse | None
):
    if response.status_code == 200:

        def _parse_response_200(
            data: object,
        ) -> ResultResponse | ResultWithCostResponse:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_200_type_0 = ResultWithCostResponse.from_dict(data)

                return response_200_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            response_200_type_1 = ResultResponse.from_dict(data)

            return response_200_type_1

        response_200 = _parse_response_200(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

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
    ErrorResponse | HTTPValidationError | ResultResponse | ResultWithCostResponse
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
    id: str,
) -> Response[
    ErrorResponse | HTTPValidationError | ResultResponse | ResultWithCostResponse
]:
    """Get the result of a task

     One poll of a task. Final statuses: `Ready`, `Error`, `Request Moderated`,
    `Content Moderated`, `Task not found`. Every other status, known or not, means the
    task is still running. Not billed; safe to repeat.

    Args:
        id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | HTTPValidationError | ResultResponse | ResultWithCostResponse]
    """

    kwargs = _get_kwargs(
        id=id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    id: str,
) -> (
    ErrorResponse | HTTPValidationError | ResultResponse | ResultWithCostResponse | None
):
    """Get the result of a task

     One poll of a task. Final statuses: `Ready`, `Error`, `Request Moderated`,
    `Content Moderated`, `Task not found`. Every other status, known or not, means the
    task is still running. Not billed; safe to repeat.

    Args:
        id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | HTTPValidationError | ResultResponse | ResultWithCostResponse
    """

    return sync_detailed(
        client=client,
        id=id,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    id: str,
) -> Response[
    ErrorResponse | HTTPValidationError | ResultResponse | ResultWithCostResponse
]:
    """Get the result of a task

     One poll of a task. Final statuses: `Ready`, `Error`, `Request Moderated`,
    `Content Moderated`, `Task not found`. Every other status, known or not, means the
    task is still running. Not billed; safe to repeat.

    Args:
        id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | HTTPValidationError | ResultResponse | ResultWithCostResponse]
    """

    kwargs = _get_kwargs(
        id=id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    id: str,
) -> (
    ErrorResponse | HTTPValidationError | ResultResponse | ResultWithCostResponse | None
):
    """Get the result of a task

     One poll of a task. Final statuses: `Ready`, `Error`, `Request Moderated`,
    `Content Moderated`, `Task not found`. Every other status, known or not, means the
    task is still running. Not billed; safe to repeat.

    Args:
        id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | HTTPValidationError | ResultResponse | ResultWithCostResponse
    """

    return (
        await asyncio_detailed(
            client=client,
            id=id,
        )
    ).parsed
