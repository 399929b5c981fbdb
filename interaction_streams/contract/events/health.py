"""Channel infrastructure health (topic ``cim.channel.health.v1``, family ``health``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.agent import MediaChannel


class ChannelHeartbeat(WireModel):
    channel: MediaChannel
    component: str = Field(min_length=1, max_length=128)

    def routing_key(self) -> str:
        return self.channel


class ChannelHealthReported(ChannelHeartbeat):
    status: Literal["up", "degraded", "down"]
    error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    detail: str | None = Field(default=None, max_length=1000)


HEALTH_EVENT_TYPES: dict[str, type[ChannelHeartbeat]] = {
    "cim.channel.health.reported": ChannelHealthReported,
    "cim.channel.heartbeat": ChannelHeartbeat,
}
