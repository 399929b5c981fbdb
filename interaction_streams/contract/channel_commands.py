"""Commands to the channel-operation stage (topic ``cim.channel.commands.v1``, keyed by
channel as a JSON string): ``traffic`` (arrivals counted in one minute of event time by
the stage that reads the channel events) and ``tick`` (a timer found the channel due)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.agent import MediaChannel


class ChannelCommand(WireModel):
    """``time``: for ``traffic`` the event time of the newest arrival counted; for ``tick``
    the stage clock of the timer that sent it."""

    command: Literal["traffic", "tick"]
    channel: MediaChannel
    time: AwareDatetime
    id: str | None = Field(default=None, max_length=128)  # traffic: de-duplicates a re-send
    minute_ms: int | None = Field(default=None, ge=0)  # traffic: the minute's start
    count: int | None = Field(default=None, ge=0)  # traffic: arrivals in that minute
