from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ReadyResult")


@_attrs_define
class ReadyResult:
    """`result` of a Ready task. `sample` lives on a delivery host, not the API host: never
    send `x-key` to it, and download it at once (it expires about 10 minutes after the
    task is ready). Other keys (timings) may appear.

    """

    sample: str
    """ Signed URL of the image. """
    prompt: str | Unset = UNSET
    seed: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        sample = self.sample

        prompt = self.prompt

        seed = self.seed

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "sample": sample,
            }
        )
        if prompt is not UNSET:
            field_dict["prompt"] = prompt
        if seed is not UNSET:
            field_dict["seed"] = seed

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        sample = d.pop("sample")

        prompt = d.pop("prompt", UNSET)

        seed = d.pop("seed", UNSET)

        ready_result = cls(
            sample=sample,
            prompt=prompt,
            seed=seed,
        )

        ready_result.additional_properties = d
        return ready_result

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
