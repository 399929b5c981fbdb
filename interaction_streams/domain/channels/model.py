"""The state the channel-operation stage keeps per channel (table ``channels``)."""

from __future__ import annotations

from pydantic import Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.channel_status import ChannelCondition, ChannelStatus
from interaction_streams.contract.events.agent import MediaChannel

MINUTE_MS = 60_000


class ComponentState(WireModel):
    """One piece of a channel's infrastructure (a trunk, the IVR, a gateway)."""

    reported: ChannelCondition = "up"
    reported_ms: int | None = None  # event time of the newest report applied
    error_rate: float | None = None
    detail: str | None = None
    last_seen_ms: int  # newest heartbeat or report
    heartbeats: bool = False  # it sends heartbeats: its silence is watched


class TrafficState(WireModel):
    """Arrivals per minute of event time and their moving baseline."""

    open_minute_ms: int  # the first minute not judged yet
    counts: dict[int, int] = Field(default_factory=dict)  # minute start -> arrivals (open ones)
    baseline: float | None = None
    minutes: int = 0  # minutes judged
    low_minutes: int = 0  # consecutive minutes below the drop ratio
    dropped: bool = False
    last_count: int = 0  # arrivals of the last judged minute
    recent_ids: tuple[str, ...] = ()  # count messages applied (a re-delivery adds nothing)
    newest_ms: int = 0  # event time of the newest arrival counted
    newest_seen_wall_ms: int | None = None  # when that was learnt (live mode)


class ChannelState(WireModel):
    channel: MediaChannel
    components: dict[str, ComponentState] = Field(default_factory=dict)
    traffic: TrafficState | None = None
    published: ChannelStatus | None = None  # the status last published
    evaluated_ms: int = 0  # the stage clock when the status was last derived
