"""One step of the interaction stage: a stimulus in, the new timeline and the outputs out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interaction_streams.contract.commands import PartyLink
from interaction_streams.domain.interaction import tmf683
from interaction_streams.domain.interaction.lifecycle import Stimulus
from interaction_streams.domain.interaction.model import Interaction
from interaction_streams.domain.interaction.timeline import Admission, Timeline, admit


@dataclass(frozen=True)
class StepResult:
    timeline: Timeline | None  # None: remove the interaction from the table
    admission: Admission | None
    events: list[dict[str, Any]] = field(default_factory=list)  # TMF683 events, in order
    links: list[PartyLink] = field(default_factory=list)
    new_anomalies: int = 0


def _customer(i: Interaction | None) -> str | None:
    c = i.customer if i is not None else None
    return c.party_id if c is not None else None


def _links(before: Interaction | None, after: Interaction | None) -> list[PartyLink]:
    old, new = _customer(before), _customer(after)
    if old == new:
        return []
    interaction_id = (after or before).id  # type: ignore[union-attr]
    out = [PartyLink(party_id=old, interaction_id=interaction_id, linked=False)] if old else []
    if new:
        out.append(PartyLink(party_id=new, interaction_id=interaction_id, linked=True))
    return out


def on_stimulus(timeline: Timeline | None, stim: Stimulus, lateness_ms: int) -> StepResult:
    before = timeline.current if timeline else None
    updated, admission = admit(timeline, stim, lateness_ms)
    if admission == "duplicate":
        return StepResult(timeline, admission)
    after = updated.current
    anomalies = (after.anomalies if after else 0) - (before.anomalies if before else 0)
    return StepResult(
        updated,
        admission,
        tmf683.changes(before, after, stim.id, stim.time_ms),
        _links(before, after),
        max(0, anomalies),
    )


def on_purge(timeline: Timeline | None, now_ms: int, retention_ms: int) -> StepResult:
    """Remove a closed interaction whose retention has passed; anything else stays."""
    current = timeline.current if timeline else None
    if current is None or current.ended_ms is None or now_ms < current.ended_ms + retention_ms:
        return StepResult(timeline, None)
    return StepResult(None, None, links=_links(current, None))


def on_erase(timeline: Timeline | None, command_id: str, now_ms: int) -> StepResult:
    """Remove at once, telling subscribers with a PartyInteractionDeleteEvent."""
    current = timeline.current if timeline else None
    if current is None:
        return StepResult(timeline, None)
    return StepResult(
        None, None, tmf683.changes(current, None, command_id, now_ms), _links(current, None)
    )


def due_for_purge(timeline: Timeline, now_ms: int, retention_ms: int) -> bool:
    current = timeline.current
    return bool(
        current and current.ended_ms is not None and now_ms >= current.ended_ms + retention_ms
    )
