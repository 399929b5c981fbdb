"""The channel-operation policy: heartbeat silence, error-rate threshold, traffic drop.

Loaded from YAML (``CIM_CHANNEL_POLICY``) and validated at start: a bad file is refused
with its file, line and reason. Every field has a default, so no file is needed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from interaction_streams.contract.base import WireModel
from interaction_streams.yamlfile import load_yaml_model


class TrafficPolicy(WireModel):
    """A channel whose arrivals in a minute fall below ``drop_ratio`` x its baseline (an
    exponentially weighted moving average of the per-minute arrivals) for
    ``consecutive_minutes`` minutes is degraded (``traffic-drop``) until a minute reaches
    ``recover_ratio`` x the baseline. Below ``minimum_baseline`` arrivals per minute, or
    before ``warmup_minutes`` minutes were seen, nothing is judged (too little to tell)."""

    enabled: bool = True
    alpha: float = Field(default=0.1, gt=0, le=1)
    drop_ratio: float = Field(default=0.3, gt=0, lt=1)
    recover_ratio: float = Field(default=0.6, gt=0, le=1)
    minimum_baseline: float = Field(default=10.0, gt=0)
    warmup_minutes: int = Field(default=10, ge=1)
    consecutive_minutes: int = Field(default=2, ge=1)
    close_after_seconds: float = Field(default=30.0, ge=0, le=600)

    @model_validator(mode="after")
    def _ratios(self) -> TrafficPolicy:
        if self.recover_ratio < self.drop_ratio:
            raise ValueError("recoverRatio must not be below dropRatio")
        return self


class ChannelPolicy(WireModel):
    heartbeat_silence_seconds: float = Field(default=90.0, gt=0)
    error_rate_degraded: float | None = Field(default=0.05, ge=0, le=1)
    traffic: TrafficPolicy = TrafficPolicy()

    @property
    def silence_ms(self) -> int:
        return int(self.heartbeat_silence_seconds * 1000)


def load_channel_policy(path: Path | None) -> ChannelPolicy:
    return load_yaml_model(path, ChannelPolicy) if path else ChannelPolicy()
