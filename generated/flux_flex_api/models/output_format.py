from enum import StrEnum
from typing import Any


class OutputFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"

    @classmethod
    def _missing_(cls, value: Any) -> "OutputFormat | None":
        # An unknown string is data, not an error: keep it as a pseudo-member.
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """False for a value this client's spec does not list (the vendor added it later)."""
        return self._name_ != "UNKNOWN"

    def __str__(self) -> str:
        return str(self.value)
