"""Traffic volume: which channel a contact arrives on, and per-minute arrival counts kept
in memory by the stage that reads the channel events, until they are sent on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import get_args

from interaction_streams.contract.events.agent import MediaChannel
from interaction_streams.contract.events.channel import CHANNEL_EVENT_TYPES, ContactStarted
from interaction_streams.domain.channels.model import MINUTE_MS

_CHANNELS: frozenset[str] = frozenset(get_args(MediaChannel))


def _arrivals() -> dict[str, MediaChannel]:
    """Contact-opening types (``cim.voice.offered``, ``cim.chat.started``...) -> channel."""
    found: dict[str, MediaChannel] = {}
    for name, model in CHANNEL_EVENT_TYPES.items():
        channel = name.split(".")[1]
        if issubclass(model, ContactStarted) and channel in _CHANNELS:
            found[name] = channel  # type: ignore[assignment]  # checked against the Literal
    return found


ARRIVAL_TYPES: dict[str, MediaChannel] = _arrivals()


def arrival_channel(event_type: str) -> MediaChannel | None:
    """The channel a contact arrives on, if ``event_type`` opens a contact."""
    return ARRIVAL_TYPES.get(event_type)


def minute_of(time_ms: int) -> int:
    return time_ms - time_ms % MINUTE_MS


@dataclass
class MinuteCounts:
    """Arrivals per (channel, minute of event time) since the last ``drain``."""

    counts: dict[tuple[MediaChannel, int], int] = field(default_factory=dict)

    def add(self, channel: MediaChannel, time_ms: int) -> None:
        key = (channel, minute_of(time_ms))
        self.counts[key] = self.counts.get(key, 0) + 1

    def drain(self) -> list[tuple[MediaChannel, int, int]]:
        """(channel, minute start, arrivals), sorted; the counts start again from zero."""
        drained = sorted((c, m, n) for (c, m), n in self.counts.items())
        self.counts = {}
        return drained
