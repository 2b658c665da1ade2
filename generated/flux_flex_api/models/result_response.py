from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.status_response import StatusResponse
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.result_response_details_type_0 import ResultResponseDetailsType0
    from ..models.result_response_preview_type_0 import ResultResponsePreviewType0


T = TypeVar("T", bound="ResultResponse")


@_attrs_define
class ResultResponse:
    id: str
    """ Task id for retrieving result """
    status: StatusResponse
    """ State of a task. Final: `Ready`, `Error`, `Request Moderated`, `Content Moderated`,
    `Task not found`. Every other value (`Pending`, `Reasoning`, `Generating`, or one
    added later) means the task is still running.
     """
    result: Any | Unset = UNSET
    """ Any JSON value or null. When `status` is `Ready`, an object shaped like
    ReadyResult (a signed `sample` URL that expires about 10 minutes later).
     """
    progress: float | None | Unset = UNSET
    details: None | ResultResponseDetailsType0 | Unset = UNSET
    preview: None | ResultResponsePreviewType0 | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.result_response_details_type_0 import ResultResponseDetailsType0  # noqa: PLC0415
        from ..models.result_response_preview_type_0 import ResultResponsePreviewType0  # noqa: PLC0415

        id = self.id

        status = self.status.value

        result = self.result

        progress: float | None | Unset
        if isinstance(self.progress, Unset):
            progress = UNSET
        else:
            progress = self.progress

        details: dict[str, Any] | None | Unset
        if isinstance(self.details, Unset):
            details = UNSET
        elif isinstance(self.details, ResultResponseDetailsType0):
            details = self.details.to_dict()
        else:
            details = self.details

        preview: dict[str, Any] | None | Unset
        if isinstance(self.preview, Unset):
            preview = UNSET
        elif isinstance(self.preview, ResultResponsePreviewType0):
            preview = self.preview.to_dict()
        else:
            preview = self.preview

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "status": status,
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
        from ..models.result_response_details_type_0 import ResultResponseDetailsType0  # noqa: PLC0415
        from ..models.result_response_preview_type_0 import ResultResponsePreviewType0  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        status = StatusResponse(d.pop("status"))

        result = d.pop("result", UNSET)

        def _parse_progress(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        progress = _parse_progress(d.pop("progress", UNSET))

        def _parse_details(data: object) -> None | ResultResponseDetailsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                details_type_0 = ResultResponseDetailsType0.from_dict(data)

                return details_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ResultResponseDetailsType0 | Unset, data)

        details = _parse_details(d.pop("details", UNSET))

        def _parse_preview(data: object) -> None | ResultResponsePreviewType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                preview_type_0 = ResultResponsePreviewType0.from_dict(data)

                return preview_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ResultResponsePreviewType0 | Unset, data)

        preview = _parse_preview(d.pop("preview", UNSET))

        result_response = cls(
            id=id,
            status=status,
            result=result,
            progress=progress,
            details=details,
            preview=preview,
        )

        result_response.additional_properties = d
        return result_response

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
