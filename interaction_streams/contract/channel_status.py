"""The status of a channel's infrastructure (compacted topic ``cim.channel.status.v1``,
keyed by channel as a JSON string), kept by the channel-operation stage from health
reports, heartbeats and traffic, and read by every worker (the routing stage reacts to it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.agent import MediaChannel

ChannelCondition = Literal["up", "degraded", "down"]


class ChannelStatus(WireModel):
    """The current condition of one channel and why: ``reason`` is ``reported`` (a health
    report said so), ``heartbeat-lost`` (no heartbeat within the allowed silence) or
    ``traffic-drop`` (volume far below its recent baseline)."""

    channel: MediaChannel
    status: ChannelCondition
    reason: str = Field(min_length=1, max_length=64)
    since: AwareDatetime
    components: dict[str, ChannelCondition] = Field(default_factory=dict)
    error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    detail: str | None = Field(default=None, max_length=1000)
