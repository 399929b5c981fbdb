"""Why an input record was refused; each reason is a dead-letter reason and a metric label."""

from typing import Literal

from pydantic import ValidationError

DeadLetterReason = Literal[
    "unreadable",  # not JSON, not UTF-8, or no value at all
    "invalid-envelope",  # not a valid CloudEvents 1.0 event (or no time)
    "unknown-type",  # the event type is not in the contract
    "wrong-topic",  # a known type, on a topic that does not carry its family
    "invalid-data",  # the payload does not match the type's schema
    "processing-error",  # the worker failed on this record (a bug): see the worker's log
]

DEAD_LETTER_REASONS: tuple[DeadLetterReason, ...] = (
    "unreadable",
    "invalid-envelope",
    "unknown-type",
    "wrong-topic",
    "invalid-data",
    "processing-error",
)


class InvalidEvent(ValueError):
    """An input record that cannot be accepted, with a bounded reason code and a detail."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: DeadLetterReason = reason
        self.detail = detail


def summarise_validation_error(exc: ValidationError) -> str:
    """Short, human-readable summary of a pydantic error (its first five problems)."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
