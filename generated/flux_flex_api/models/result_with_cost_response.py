from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.status_response import StatusResponse
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.result_with_cost_response_details_type_0 import (
        ResultWithCostResponseDetailsType0,
    )
    from ..models.result_with_cost_response_preview_type_0 import (
        ResultWithCostResponsePreviewType0,
    )


T = TypeVar("T", bound="ResultWithCostResponse")


@_attrs_define
class ResultWithCostResponse:
    """A poll's answer carrying the task's settled cost (vendor's document from 2026-09)."""

    id: str
    """ Task id for retrieving result """
    status: StatusResponse
    """ State of a task. Final: `Ready`, `Error`, `Request Moderated`, `Content Moderated`,
    `Task not found`. Every other value (`Pending`, `Reasoning`, `Generating`, or one
    added later) means the task is still running.
     """
    cost: float
    """ The settled cost of the task, in credits. """
    result: Any | Unset = UNSET
    """ Any JSON value or null; see ResultResponse. """
    progress: float | None | Unset = UNSET
    details: None | ResultWithCostResponseDetailsType0 | Unset = UNSET
    preview: None | ResultWithCostResponsePreviewType0 | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.result_with_cost_response_details_type_0 import (
            ResultWithCostResponseDetailsType0,  # noqa: PLC0415
        )
        from ..models.result_with_cost_response_preview_type_0 import (
            ResultWithCostResponsePreviewType0,  # noqa: PLC0415
        )

        id = self.id

        status = self.status.value

        cost = self.cost

        result = self.result

        progress: float | None | Unset
        if isinstance(self.progress, Unset):
            progress = UNSET
        else:
            progress = self.progress

        details: dict[str, Any] | None | Unset
        if isinstance(self.details, Unset):
            details = UNSET
        elif isinstance(self.details, ResultWithCostResponseDetailsType0):
            details = self.details.to_dict()
        else:
            details = self.details

        preview: dict[str, Any] | None | Unset
        if isinstance(self.preview, Unset):
            preview = UNSET
        elif isinstance(self.preview, ResultWithCostResponsePreviewType0):
            preview = self.preview.to_dict()
        else:
            preview = self.preview

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "status": status,
                "cost": cost,
            }
        )
        if result is not UNSET:
            field_dict["result"] = result
        if progress is not UNSET:
            field_dict["progress"] = progress
        if details is not UNSET:
            field_dict["details"] = details
        if preview is not UNSET:
            field_dict["preview"] = preview

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.result_with_cost_response_details_type_0 import (
            ResultWithCostResponseDetailsType0,  # noqa: PLC0415
        )
        from ..models.result_with_cost_response_preview_type_0 import (
            ResultWithCostResponsePreviewType0,  # noqa: PLC0415
        )

        d = dict(src_dict)
        id = d.pop("id")

        status = StatusResponse(d.pop("status"))

        cost = d.pop("cost")

        result = d.pop("result", UNSET)

        def _parse_progress(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        progress = _parse_progress(d.pop("progress", UNSET))

        def _parse_details(
            data: object,
        ) -> None | ResultWithCostResponseDetailsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                details_type_0 = ResultWithCostResponseDetailsType0.from_dict(data)

                return details_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ResultWithCostResponseDetailsType0 | Unset, data)

        details = _parse_details(d.pop("details", UNSET))

        def _parse_preview(
            data: object,
        ) -> None | ResultWithCostResponsePreviewType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                preview_type_0 = ResultWithCostResponsePreviewType0.from_dict(data)

                return preview_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ResultWithCostResponsePreviewType0 | Unset, data)

        preview = _parse_preview(d.pop("preview", UNSET))

        result_with_cost_response = cls(
            id=id,
            status=status,
            cost=cost,
            result=result,
            progress=progress,
            details=details,
            preview=preview,
        )

        result_with_cost_response.additional_properties = d
        return result_with_cost_response

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
