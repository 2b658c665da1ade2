from enum import StrEnum
from typing import Any


class StatusResponse(StrEnum):
    CONTENT_MODERATED = "Content Moderated"
    ERROR = "Error"
    GENERATING = "Generating"
    PENDING = "Pending"
    READY = "Ready"
    REASONING = "Reasoning"
    REQUEST_MODERATED = "Request Moderated"
    TASK_NOT_FOUND = "Task not found"

    @classmethod
    def _missing_(cls, value: Any) -> "StatusResponse | None":
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
