from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.ready_result import ReadyResult


T = TypeVar("T", bound="WebhookReadyPayload")


@_attrs_define
class WebhookReadyPayload:
    id: str
    status: str
    """ `Ready`. """
    result: ReadyResult
    """ `result` of a Ready task. `sample` lives on a delivery host, not the API host: never
    send `x-key` to it, and download it at once (it expires about 10 minutes after the
    task is ready). Other keys (timings) may appear.
     """
    timestamp: Any | Unset = UNSET
    """ When the delivery was made (number or string). """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        status = self.status

        result = self.result.to_dict()

        timestamp = self.timestamp

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "status": status,
                "result": result,
            }
        )
        if timestamp is not UNSET:
            field_dict["timestamp"] = timestamp

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ready_result import ReadyResult  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        status = d.pop("status")

        result = ReadyResult.from_dict(d.pop("result"))

        timestamp = d.pop("timestamp", UNSET)

        webhook_ready_payload = cls(
            id=id,
            status=status,
            result=result,
            timestamp=timestamp,
        )

        webhook_ready_payload.additional_properties = d
        return webhook_ready_payload

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
