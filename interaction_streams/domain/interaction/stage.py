"""One step of the interaction stage: a stimulus in, the new timeline and the outputs out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from interaction_streams.contract.customer import InteractionFact
from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.domain.interaction import tmf683
from interaction_streams.domain.interaction.lifecycle import WITH_AGENT, Stimulus
from interaction_streams.domain.interaction.model import Interaction
from interaction_streams.domain.interaction.timeline import Admission, Timeline, admit


@dataclass(frozen=True)
class PartyFact:
    """What the customer stage learns: ``fact`` about the party's interaction, or, without
    a fact, that the interaction no longer belongs to the party."""

    party_id: str
    interaction_id: str
    fact: InteractionFact | None


@dataclass(frozen=True)
class StepResult:
    timeline: Timeline | None  # None: remove the interaction from the table
    admission: Admission | None
    events: list[dict[str, Any]] = field(default_factory=list)  # TMF683 events, in order
    facts: list[PartyFact] = field(default_factory=list)  # for the customer stage
    new_anomalies: int = 0
    routing: RoutingRequest | None = None  # enqueue or withdraw, for the routing stage


def _customer(i: Interaction | None) -> str | None:
    c = i.customer if i is not None else None
    return c.party_id if c is not None else None


def fact_of(i: Interaction) -> InteractionFact:
    def last_score(item_type: str) -> float | None:
        scores = [item.value.get("score") for item in i.items if item.item_type == item_type]
        return scores[-1] if scores else None

    csat = last_score("survey")
    return InteractionFact(
        interaction_id=i.id,
        channel=i.channel,
        direction=i.direction,
        reason=i.reason,
        status=i.status,
        opened_ms=i.created_ms,
        closed_ms=i.ended_ms,
        handle_ms=i.timings.handle_ms,
        with_agent=any(p.role == "agent" for p in i.participants),
        abandoned=i.status_reason == "abandoned",
        csat=int(csat) if csat is not None else None,
        sentiment=last_score("sentiment"),
        agent_id=next((p.party_id for p in reversed(i.participants) if p.role == "agent"), None),
    )


def _facts(before: Interaction | None, after: Interaction | None) -> list[PartyFact]:
    old, new = _customer(before), _customer(after)
    out = []
    if old and old != new:
        out.append(PartyFact(old, (before or after).id, None))  # type: ignore[union-attr]
    if new and after is not None:
        fact = fact_of(after)
        if new != old or before is None or fact_of(before) != fact:
            out.append(PartyFact(new, after.id, fact))
    return out


WAITING = frozenset({"queued", "offered"})


def routing_change(before: Interaction | None, after: Interaction | None) -> RoutingRequest | None:
    """What the routing stage must hear of this change: ``enqueue`` when the interaction enters
    ``queued``, ``withdraw`` when it leaves the waiting states (answered, abandoned, ended,
    closed, erased) and, reason ``ended``, when a call with an agent ends (wrap-up, closed or
    erased: the consult or conference legs its agent asked for go with it); None otherwise.
    Without context facts: the customer stage adds them."""
    was = before is not None and before.phase in WAITING
    if (
        before is not None
        and before.phase in WITH_AGENT
        and (after is None or after.phase in ("wrapUp", "closed"))
    ):
        customer = before.customer
        return RoutingRequest(
            command="withdraw",
            interaction_id=before.id,
            routing_pool=before.routing_pool,
            time=_at(after.phase_since_ms if after is not None else before.last_event_ms),
            reason="ended" if after is not None else "erased",
            channel=before.channel,
            party_id=customer.party_id if customer is not None else None,
        )
    if (
        after is not None
        and after.phase == "queued"
        and (before is None or before.phase != "queued")
    ):
        selections = {
            k: str(v)
            for item in after.items
            if item.item_type == "ivrSelection"
            for k, v in item.value.items()
        }
        customer = after.customer
        return RoutingRequest(
            command="enqueue",
            interaction_id=after.id,
            routing_pool=after.routing_pool,
            time=_at(after.phase_since_ms),
            channel=after.channel,
            direction=after.direction,
            intent=after.reason,
            language=after.language,
            ivr=selections,
            requested_queue=after.queue,
            party_id=customer.party_id if customer is not None else None,
            enqueued_ms=after.phase_since_ms,
        )
    if not was or (after is not None and after.phase in WAITING):
        return None
    assert before is not None
    if after is None:
        reason, at_ms = "erased", before.last_event_ms
    elif after.phase == "closed":
        reason = "abandoned" if after.status_reason == "abandoned" else "ended"
        at_ms = after.ended_ms or after.last_event_ms
    elif after.phase in ("connected", "onHold", "wrapUp"):
        reason, at_ms = "answered", after.phase_since_ms
    else:
        reason, at_ms = "left-queue", after.phase_since_ms
    customer = before.customer
    return RoutingRequest(
        command="withdraw",
        interaction_id=before.id,
        routing_pool=before.routing_pool,
        time=_at(at_ms),
        reason=reason,
        channel=before.channel,
        party_id=customer.party_id if customer is not None else None,
    )


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


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
        _facts(before, after),
        max(0, anomalies),
        routing_change(before, after),
    )


def purge_due_ms(timeline: Timeline | None, retention_ms: int) -> int | None:
    """When a closed interaction is removed: ``retention_ms`` after it ended (None: open)."""
    current = timeline.current if timeline else None
    if current is None or current.ended_ms is None:
        return None
    return current.ended_ms + retention_ms


def on_purge(timeline: Timeline | None, now_ms: int, retention_ms: int) -> StepResult:
    """Remove a closed interaction whose retention has passed; anything else stays."""
    current = timeline.current if timeline else None
    due = purge_due_ms(timeline, retention_ms)
    if current is None or due is None or now_ms < due:
        return StepResult(timeline, None)
    return StepResult(None, None, facts=_facts(current, None))


def on_erase(timeline: Timeline | None, command_id: str, now_ms: int) -> StepResult:
    """Remove at once, telling subscribers with a PartyInteractionDeleteEvent."""
    current = timeline.current if timeline else None
    if current is None:
        return StepResult(timeline, None)
    return StepResult(
        None,
        None,
        tmf683.changes(current, None, command_id, now_ms),
        _facts(current, None),
        routing=routing_change(current, None),
    )
