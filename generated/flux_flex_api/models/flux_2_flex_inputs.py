from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.output_format import OutputFormat
from ..types import UNSET, Unset

T = TypeVar("T", bound="Flux2FlexInputs")


@_attrs_define
class Flux2FlexInputs:
    prompt: str
    """ Text prompt for image generation. """
    prompt_upsampling: bool | None | Unset = True
    """ Whether to use prompt upsampling. """
    input_image: None | str | Unset = UNSET
    """ Path to the input image. """
    input_image_2: None | str | Unset = UNSET
    """ Path to the second input image. """
    input_image_3: None | str | Unset = UNSET
    """ Path to the third input image. """
    input_image_4: None | str | Unset = UNSET
    """ Path to the fourth input image. """
    input_image_5: None | str | Unset = UNSET
    """ Base64 encoded image or URL to use with Kontext. Experimental Multiref """
    input_image_6: None | str | Unset = UNSET
    """ Base64 encoded image or URL to use with Kontext. Experimental Multiref """
    input_image_7: None | str | Unset = UNSET
    """ Base64 encoded image or URL to use with Kontext. Experimental Multiref """
    input_image_8: None | str | Unset = UNSET
    """ Base64 encoded image or URL to use with Kontext. Experimental Multiref """
    input_image_blob_path: None | str | Unset = UNSET
    """ Blob path to the input image. """
    seed: int | None | Unset = UNSET
    """ Optional seed for reproducibility. """
    width: int | None | Unset = UNSET
    """ Width of the image """
    height: int | None | Unset = UNSET
    """ Height of the image """
    guidance: float | None | Unset = 5.0
    """ Guidance scale for image generation. High guidance scales improve prompt adherence at the cost of reduced
    realism. """
    steps: int | None | Unset = 50
    """ Number of steps for image generation. Higher steps lead to more detailed and realistic images. """
    safety_tolerance: int | Unset = 2
    """ Tolerance level for input and output moderation. Between 0 and 5, 0 being most strict, 5 being least strict.
    """
    output_format: None | OutputFormat | Unset = OutputFormat.JPEG
    """ Output format for the generated image. """
    webhook_url: None | str | Unset = UNSET
    """ URL to receive webhook notifications """
    webhook_secret: None | str | Unset = UNSET
    """ Optional secret for webhook signature verification """
    user: None | str | Unset = UNSET
    """ An opaque identifier of the calling platform's end user (1 to 256 characters). """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        prompt = self.prompt

        prompt_upsampling: bool | None | Unset
        if isinstance(self.prompt_upsampling, Unset):
            prompt_upsampling = UNSET
        else:
            prompt_upsampling = self.prompt_upsampling

        input_image: None | str | Unset
        if isinstance(self.input_image, Unset):
            input_image = UNSET
        else:
            input_image = self.input_image

        input_image_2: None | str | Unset
        if isinstance(self.input_image_2, Unset):
            input_image_2 = UNSET
        else:
            input_image_2 = self.input_image_2

        input_image_3: None | str | Unset
        if isinstance(self.input_image_3, Unset):
            input_image_3 = UNSET
        else:
            input_image_3 = self.input_image_3

        input_image_4: None | str | Unset
        if isinstance(self.input_image_4, Unset):
            input_image_4 = UNSET
        else:
            input_image_4 = self.input_image_4

        input_image_5: None | str | Unset
        if isinstance(self.input_image_5, Unset):
            input_image_5 = UNSET
        else:
            input_image_5 = self.input_image_5

        input_image_6: None | str | Unset
        if isinstance(self.input_image_6, Unset):
            input_image_6 = UNSET
        else:
            input_image_6 = self.input_image_6

        input_image_7: None | str | Unset
        if isinstance(self.input_image_7, Unset):
            input_image_7 = UNSET
        else:
            input_image_7 = self.input_image_7

        input_image_8: None | str | Unset
        if isinstance(self.input_image_8, Unset):
            input_image_8 = UNSET
        else:
            input_image_8 = self.input_image_8

        input_image_blob_path: None | str | Unset
        if isinstance(self.input_image_blob_path, Unset):
            input_image_blob_path = UNSET
        else:
            input_image_blob_path = self.input_image_blob_path

        seed: int | None | Unset
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

        width: int | None | Unset
        if isinstance(self.width, Unset):
            width = UNSET
        else:
            width = self.width

        height: int | None | Unset
        if isinstance(self.height, Unset):
            height = UNSET
        else:
            height = self.height

        guidance: float | None | Unset
        if isinstance(self.guidance, Unset):
            guidance = UNSET
        else:
            guidance = self.guidance

        steps: int | None | Unset
        if isinstance(self.steps, Unset):
            steps = UNSET
        else:
            steps = self.steps

        safety_tolerance = self.safety_tolerance

        output_format: None | str | Unset
        if isinstance(self.output_format, Unset):
            output_format = UNSET
        elif isinstance(self.output_format, OutputFormat):
            output_format = self.output_format.value
        else:
            output_format = self.output_format

        webhook_url: None | str | Unset
        if isinstance(self.webhook_url, Unset):
            webhook_url = UNSET
        else:
            webhook_url = self.webhook_url

        webhook_secret: None | str | Unset
        if isinstance(self.webhook_secret, Unset):
            webhook_secret = UNSET
        else:
            webhook_secret = self.webhook_secret

        user: None | str | Unset
        if isinstance(self.user, Unset):
            user = UNSET
        else:
            user = self.user

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "prompt": prompt,
            }
        )
        if prompt_upsampling is not UNSET:
            field_dict["prompt_upsampling"] = prompt_upsampling
        if input_image is not UNSET:
            field_dict["input_image"] = input_image
        if input_image_2 is not UNSET:
            field_dict["input_image_2"] = input_image_2
        if input_image_3 is not UNSET:
            field_dict["input_image_3"] = input_image_3
        if input_image_4 is not UNSET:
            field_dict["input_image_4"] = input_image_4
        if input_image_5 is not UNSET:
            field_dict["input_image_5"] = input_image_5
        if input_image_6 is not UNSET:
            field_dict["input_image_6"] = input_image_6
        if input_image_7 is not UNSET:
            field_dict["input_image_7"] = input_image_7
        if input_image_8 is not UNSET:
            field_dict["input_image_8"] = input_image_8
        if input_image_blob_path is not UNSET:
            field_dict["input_image_blob_path"] = input_image_blob_path
        if seed is not UNSET:
            field_dict["seed"] = seed
        if width is not UNSET:
            field_dict["width"] = width
        if height is not UNSET:
            field_dict["height"] = height
        if guidance is not UNSET:
            field_dict["guidance"] = guidance
        if steps is not UNSET:
            field_dict["steps"] = steps
        if safety_tolerance is not UNSET:
            field_dict["safety_tolerance"] = safety_tolerance
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url
        if webhook_secret is not UNSET:
            field_dict["webhook_secret"] = webhook_secret
        if user is not UNSET:
            field_dict["user"] = user

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        prompt = d.pop("prompt")

        def _parse_prompt_upsampling(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        prompt_upsampling = _parse_prompt_upsampling(d.pop("prompt_upsampling", UNSET))

        def _parse_input_image(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image = _parse_input_image(d.pop("input_image", UNSET))

        def _parse_input_image_2(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_2 = _parse_input_image_2(d.pop("input_image_2", UNSET))

        def _parse_input_image_3(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_3 = _parse_input_image_3(d.pop("input_image_3", UNSET))

        def _parse_input_image_4(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_4 = _parse_input_image_4(d.pop("input_image_4", UNSET))

        def _parse_input_image_5(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_5 = _parse_input_image_5(d.pop("input_image_5", UNSET))

        def _parse_input_image_6(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_6 = _parse_input_image_6(d.pop("input_image_6", UNSET))

        def _parse_input_image_7(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_7 = _parse_input_image_7(d.pop("input_image_7", UNSET))

        def _parse_input_image_8(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_8 = _parse_input_image_8(d.pop("input_image_8", UNSET))

        def _parse_input_image_blob_path(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_blob_path = _parse_input_image_blob_path(
            d.pop("input_image_blob_path", UNSET)
        )

        def _parse_seed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        seed = _parse_seed(d.pop("seed", UNSET))

        def _parse_width(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        width = _parse_width(d.pop("width", UNSET))

        def _parse_height(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        height = _parse_height(d.pop("height", UNSET))

        def _parse_guidance(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        guidance = _parse_guidance(d.pop("guidance", UNSET))

        def _parse_steps(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        steps = _parse_steps(d.pop("steps", UNSET))

        safety_tolerance = d.pop("safety_tolerance", UNSET)

        def _parse_output_format(data: object) -> None | OutputFormat | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                output_format_type_0 = OutputFormat(data)

                return output_format_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OutputFormat | Unset, data)

        output_format = _parse_output_format(d.pop("output_format", UNSET))

        def _parse_webhook_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_url = _parse_webhook_url(d.pop("webhook_url", UNSET))

        def _parse_webhook_secret(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_secret = _parse_webhook_secret(d.pop("webhook_secret", UNSET))

        def _parse_user(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        user = _parse_user(d.pop("user", UNSET))

        flux_2_flex_inputs = cls(
            prompt=prompt,
            prompt_upsampling=prompt_upsampling,
            input_image=input_image,
            input_image_2=input_image_2,
            input_image_3=input_image_3,
            input_image_4=input_image_4,
            input_image_5=input_image_5,
            input_image_6=input_image_6,
            input_image_7=input_image_7,
            input_image_8=input_image_8,
            input_image_blob_path=input_image_blob_path,
            seed=seed,
            width=width,
            height=height,
            guidance=guidance,
            steps=steps,
            safety_tolerance=safety_tolerance,
            output_format=output_format,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            user=user,
        )

        flux_2_flex_inputs.additional_properties = d
        return flux_2_flex_inputs

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
