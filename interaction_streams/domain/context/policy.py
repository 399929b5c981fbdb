"""The context policy: windows, the repeat-contact condition, time to live, moments.

Loaded from YAML (``CIM_CONTEXT_POLICY``) and validated; a bad file is refused with its
file, line and reason. Every field has a default, so no file is needed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from interaction_streams.contract.base import WireModel
from interaction_streams.yamlfile import load_yaml_model

DAY = 86_400


class RepeatCondition(WireModel):
    """Like an Apache Unomi past-event condition: ``minimum_count`` events of ``event_type``
    within ``window_seconds``, matching ``filters`` and sharing the ``same`` properties."""

    event_type: str = Field(default="interaction.opened", pattern=r"^interaction\.opened$")
    window_seconds: int = Field(default=3 * DAY, gt=0)
    minimum_count: int = Field(default=2, ge=2)
    same: tuple[str, ...] = ("reason",)
    filters: dict[str, str] = Field(default_factory=lambda: {"direction": "inbound"})

    @field_validator("same")
    @classmethod
    def _known_properties(cls, same: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(same) - {"reason", "channel"}
        if unknown:
            raise ValueError(f"can only compare reason and channel, not {sorted(unknown)}")
        return same


class ContextPolicy(WireModel):
    windows: dict[str, int] = Field(
        default_factory=lambda: {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
    )
    repeat_contact: RepeatCondition = RepeatCondition()
    keep_interactions: int = Field(default=20, ge=1, le=500)
    max_interactions: int = Field(default=200, ge=1, le=5000)
    trend_length: int = Field(default=5, ge=1, le=50)
    ttl_seconds: dict[str, int] = Field(
        default_factory=lambda: {
            "order": 30 * DAY,
            "bill": 60 * DAY,
            "payment": 90 * DAY,
            "usage": 30 * DAY,
            "incident": 7 * DAY,
            "ticket": 30 * DAY,
        }
    )
    high_value_tiers: tuple[str, ...] = ("gold", "platinum")
    snapshot_interval_seconds: float = Field(default=5.0, ge=0)

    @field_validator("windows")
    @classmethod
    def _positive(cls, windows: dict[str, int]) -> dict[str, int]:
        if not windows or any(v <= 0 for v in windows.values()):
            raise ValueError("windows need at least one positive duration in seconds")
        return windows

    @property
    def longest_window_ms(self) -> int:
        return max(max(self.windows.values()), self.repeat_contact.window_seconds) * 1000

    def ttl_ms(self, kind: str) -> int:
        return self.ttl_seconds.get(kind.split(".")[0], 30 * DAY) * 1000


def load_policy(path: Path | None) -> ContextPolicy:
    return load_yaml_model(path, ContextPolicy) if path else ContextPolicy()
