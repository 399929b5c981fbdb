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
    """Arrivals per (channel, minute of event time) since the last ``drain``, with the
    event time of the newest arrival of each."""

    counts: dict[tuple[MediaChannel, int], tuple[int, int]] = field(default_factory=dict)
    minute_ms: int = 0  # the newest minute seen

    def add(self, channel: MediaChannel, time_ms: int) -> bool:
        """Count one arrival; True when it opens a newer minute (earlier ones may be sent)."""
        minute = minute_of(time_ms)
        count, newest = self.counts.get((channel, minute), (0, 0))
        self.counts[(channel, minute)] = (count + 1, max(newest, time_ms))
        opened = minute > self.minute_ms and self.minute_ms > 0
        self.minute_ms = max(self.minute_ms, minute)
        return opened

    def drain(self, before_ms: int | None = None) -> list[tuple[MediaChannel, int, int, int]]:
        """(channel, minute start, arrivals, newest arrival), sorted, of the minutes before
        ``before_ms`` (all without it); those start again from zero."""
        taken = sorted(
            (c, m, n, newest)
            for (c, m), (n, newest) in self.counts.items()
            if before_ms is None or m < before_ms
        )
        for c, m, _, _ in taken:
            del self.counts[(c, m)]
        return taken
