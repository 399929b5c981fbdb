"""One interaction's escalation case: its facts, the causes that hold, and what fired.

``advance(case, policy, now_ms)`` is the pure step: it fires every warning and level due by
``now_ms`` (each once: its deterministic id is remembered in ``fired``) and closes the open
escalations whose cause ended. An escalation that stays open until its cause ends, raised
for an interaction of a known party, also signals the outbound stage (an ``escalation``
command keyed by party id, opened and later closed under the escalation's id), so the
party's solicitation cool-down lasts as long as the escalation. The shell calls ``advance``
with an event's time before and after applying the event (so a deadline due before an
answer fires, one due after does not, whatever the arrival of timer ticks) and with the
stage clock on a tick.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.escalation import EscalationRecord
from interaction_streams.contract.outbound import OutboundCommand
from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.domain.escalation.calendar import add_business_seconds
from interaction_streams.domain.escalation.policy import EscalationPolicy, LevelStep
from interaction_streams.domain.escalation.tickets import trouble_ticket

WAITING = frozenset({"queued", "offered"})
ANSWERED = frozenset({"connected", "onHold", "wrapUp"})
_IDS = uuid.UUID("0d7b8a8e-5b7e-4f4e-9b43-2f7e3c1e6a11")
Closes = Literal["condition", "end", "never"]


class OpenEscalation(WireModel):
    id: str
    cause: str
    cause_key: str
    level: Literal["L1", "L2", "L3"]
    closes: Closes
    party_id: str | None = None  # the party the outbound stage was told of (its close goes there)


class Case(WireModel):
    """The table value of the escalation stage, keyed by interaction id."""

    interaction_id: str
    party_id: str | None = None
    channel: str | None = None
    direction: str | None = None
    routing_pool: str | None = None
    queue: str | None = None
    priority: int | None = None
    intent: str | None = None
    phase: str | None = None
    status: str | None = None
    abandoned: bool = False
    closed: bool = False
    waiting_since_ms: int | None = None
    sentiment: float | None = None
    context: dict[str, Any] = {}
    awaiting_since_ms: int | None = None  # email: the first customer message not yet replied to
    replies: int = 0
    callback_due_ms: int | None = None
    holding: dict[str, int] = {}  # rule name -> since when its condition holds
    fired: tuple[str, ...] = ()
    open: tuple[OpenEscalation, ...] = ()
    clock_ms: int = 0
    active_ms: int = 0  # newest fact applied or record fired (not a bare tick): retention
    interaction_ms: int = 0  # event time of the newest TMF683 event applied
    interaction_events: tuple[str, ...] = ()  # ids of the TMF683 events applied at that time

    def facts(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "direction": self.direction,
            "intent": self.intent,
            "queue": self.queue,
            "priority": self.priority,
            "phase": self.phase,
            "status": self.status,
            "waiting": self.phase in WAITING,
            "answered": self.phase in ANSWERED,
            "abandoned": self.abandoned,
            "closed": self.closed,
            "party.known": self.party_id is not None,
            "sentiment": self.sentiment,
            "moments": tuple(self.context.get("moments", ())),
            **{k: v for k, v in self.context.items() if k.startswith("context.")},
        }


@dataclass(frozen=True)
class Cause:
    name: str
    key: str
    start_ms: int  # the breach (a deadline) or when the condition has held long enough
    levels: tuple[LevelStep, ...]
    deadline: bool
    closes: Closes


@dataclass(frozen=True)
class Fired:
    record: EscalationRecord
    routing: RoutingRequest | None = None  # L1: raise the priority in the routing stage
    outbound: OutboundCommand | None = None  # the party's escalation opened or closed


def outbound_signal(
    party_id: str | None, escalation_id: str, is_open: bool, at_ms: int
) -> OutboundCommand | None:
    """The ``escalation`` command of the outbound stage (keyed by party id): its id is the
    escalation's deterministic id, and the outbound stage keeps a set of open ids, so a
    redelivered signal changes nothing. None for an unknown party."""
    if not party_id:
        return None
    return OutboundCommand(
        command="escalation",
        party_id=party_id,
        time=ms_time(at_ms),
        escalation_id=escalation_id,
        open=is_open,
    )


def record_id(iid: str, cause_key: str, what: str) -> str:
    return str(uuid.uuid5(_IDS, f"{iid}|{cause_key}|{what}"))


def ms_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# ---- facts in -------------------------------------------------------------------------------


def on_context(case: Case, request: RoutingRequest) -> Case:
    """The customer's context facts, as the customer stage put them on the routing request."""
    facts = {
        "context.tier": request.context_tier,
        "context.segment": request.context_segment,
        "context.repeatContact": request.context_repeat_contact,
        "context.sentiment": request.context_sentiment,
        "context.contacts24h": request.context_contacts24h,
        "context.abandoned24h": request.context_abandoned24h,
        "moments": request.moments,
    }
    return case.model_copy(
        update={
            "context": facts,
            "party_id": case.party_id or request.party_id,
            "routing_pool": case.routing_pool or request.routing_pool,
            "intent": case.intent or request.intent,
            "channel": case.channel or request.channel,
        }
    )


def on_interaction(
    case: Case, resource: dict[str, Any], at_ms: int, event_id: str | None = None
) -> Case:
    """A TMF683 PartyInteraction (from its Create/StatusChange/AttributeValueChange event).
    An event older than the newest applied one, or applied already, changes nothing (a
    redelivery must not take the case back)."""
    if at_ms < case.interaction_ms or (
        event_id is not None and event_id in case.interaction_events
    ):
        return case
    seen = (*case.interaction_events, event_id) if at_ms == case.interaction_ms else (event_id,)
    phase = resource.get("subStatus")
    channels = resource.get("relatedChannel") or [{}]
    channel = (channels[0].get("channel") or {}).get("id")
    customer = next(
        (
            p.get("partyOrPartyRole", {}).get("id")
            for p in resource.get("relatedParty", ())
            if p.get("role") in ("customer", "prospect")
        ),
        None,
    )
    scores = [
        i.get("value", {}).get("score")
        for i in resource.get("interactionItem", ())
        if i.get("interactionItemType") == "sentiment"
    ]
    waiting_since = case.waiting_since_ms
    if phase in WAITING and case.phase not in WAITING:
        waiting_since = at_ms
    elif phase not in WAITING:
        waiting_since = None
    closed = phase == "closed" or resource.get("status") in ("completed", "failed")
    return case.model_copy(
        update={
            "phase": phase,
            "status": resource.get("status"),
            "channel": channel or case.channel,
            "direction": resource.get("direction") or case.direction,
            "routing_pool": resource.get("routingPool") or case.routing_pool,
            "queue": case.queue or resource.get("queue"),
            "priority": case.priority if case.priority is not None else resource.get("priority"),
            "intent": resource.get("reason") or case.intent,
            "party_id": customer or case.party_id,
            "sentiment": scores[-1] if scores else case.sentiment,
            "abandoned": case.abandoned or resource.get("statusChangeReason") == "abandoned",
            "closed": case.closed or closed,
            "waiting_since_ms": waiting_since,
            "interaction_ms": at_ms,
            "interaction_events": tuple(e for e in seen if e is not None)[-8:],
        }
    )


def on_routed(case: Case, queue: str, priority: int) -> Case:
    """The routing stage chose the queue and priority (a routing decision)."""
    return case.model_copy(update={"queue": queue, "priority": priority})


def on_message(case: Case, inbound: bool, at_ms: int) -> Case:
    """A customer message (inbound) or an agent's reply on an email conversation."""
    if inbound:
        since = case.awaiting_since_ms if case.awaiting_since_ms is not None else at_ms
        return case.model_copy(update={"awaiting_since_ms": since, "channel": case.channel})
    return case.model_copy(update={"awaiting_since_ms": None, "replies": case.replies + 1})


def on_callback(case: Case, due_ms: int | None) -> Case:
    return case.model_copy(update={"callback_due_ms": due_ms})


def touched(case: Case, at_ms: int) -> Case:
    """A fact about the interaction arrived at ``at_ms``: the case was active then."""
    if at_ms <= case.active_ms:
        return case
    return case.model_copy(update={"active_ms": at_ms})


# ---- the step -------------------------------------------------------------------------------


def causes(case: Case, policy: EscalationPolicy) -> list[Cause]:
    """Every cause that holds for the case now."""
    out: list[Cause] = []
    if not case.closed:
        seconds = policy.answer_seconds(case.queue, case.priority)
        if case.waiting_since_ms is not None and seconds is not None:
            ws = case.waiting_since_ms
            out.append(
                Cause(
                    "answer-time",
                    f"answer-time@{ws}",
                    ws + int(seconds * 1000),
                    policy.answer_levels,
                    True,
                    "condition",
                )
            )
        calendar = policy.email_calendar
        email = policy.email
        if (
            email is not None
            and calendar is not None
            and case.channel == "email"
            and case.direction != "outbound"
            and case.awaiting_since_ms is not None
        ):
            name = "email-first-response" if case.replies == 0 else "email-next-response"
            target = (
                email.first_response_seconds if case.replies == 0 else email.next_response_seconds
            )
            start = add_business_seconds(calendar, case.awaiting_since_ms, target)
            key = f"{name}@{case.awaiting_since_ms}"
            out.append(Cause(name, key, start, email.levels, True, "condition"))
    # A promised callback outlives the call (typically an abandoned one): kept or withdrawn.
    if policy.callback is not None and case.callback_due_ms is not None:
        start = case.callback_due_ms + int(policy.callback.grace_seconds * 1000)
        key = f"callback@{case.callback_due_ms}"
        out.append(Cause("callback", key, start, policy.callback.levels, True, "condition"))
    for rule in policy.rules:
        since = case.holding.get(rule.name)
        if since is not None:
            start = since + int(rule.after_seconds * 1000)
            key = f"{rule.name}@{since}"
            out.append(Cause(rule.name, key, start, rule.levels, False, rule.closes))
    return out


def _hold(case: Case, policy: EscalationPolicy, now_ms: int) -> Case:
    facts = case.facts()
    holding: dict[str, int] = {}
    for rule in policy.rules:
        if case.closed and rule.closes != "never":
            continue
        if rule.expression.evaluate(facts):
            holding[rule.name] = case.holding.get(rule.name, now_ms)
    return case if holding == case.holding else case.model_copy(update={"holding": holding})


def advance(case: Case, policy: EscalationPolicy, now_ms: int) -> tuple[Case, list[Fired]]:
    """Fire what is due by ``now_ms``, close what ended; each record once."""
    case = _hold(case, policy, now_ms)
    fired = set(case.fired)
    new_fired: list[str] = []
    opened: list[OpenEscalation] = []
    out: list[Fired] = []
    lead = int(policy.warning_lead_seconds * 1000)
    active = causes(case, policy)
    for cause in sorted(active, key=lambda c: (c.start_ms, c.key)):
        if cause.deadline and lead > 0:
            rid = record_id(case.interaction_id, cause.key, "warning")
            if rid not in fired and now_ms >= cause.start_ms - lead:
                new_fired.append(rid)
                out.append(
                    Fired(_record(case, policy, cause, rid, "warning", None, cause.start_ms - lead))
                )
        for step in cause.levels:
            due = cause.start_ms + int(step.after_seconds * 1000)
            rid = record_id(case.interaction_id, cause.key, step.level)
            if rid in fired or now_ms < due:
                continue
            new_fired.append(rid)
            if step.level == "L1" and case.phase not in WAITING:
                continue  # nothing to raise: the interaction no longer waits
            item = _fire(case, policy, cause, step, rid, due)
            if cause.closes != "never":
                # Only an escalation that will close cools the party down: one that never
                # closes would silence the party's marketing for good.
                signal = outbound_signal(case.party_id, rid, True, due)
                item = replace(item, outbound=signal)
                opened.append(
                    OpenEscalation(
                        id=rid,
                        cause=cause.name,
                        cause_key=cause.key,
                        level=step.level,
                        closes=cause.closes,
                        party_id=signal.party_id if signal is not None else None,
                    )
                )
            out.append(item)
    keys = {c.key for c in active}
    still: list[OpenEscalation] = []
    for esc in (*case.open, *opened):
        ended = case.closed if esc.closes == "end" else esc.cause_key not in keys
        if not ended:
            still.append(esc)
            continue
        rid = record_id(case.interaction_id, esc.cause_key, f"{esc.level}|closed")
        signal = outbound_signal(esc.party_id, esc.id, False, now_ms)
        out.append(Fired(_close(case, policy, esc, rid, now_ms), outbound=signal))
    if not new_fired and not opened and len(still) == len(case.open) and now_ms <= case.clock_ms:
        return case, out
    # A record is activity of the case (at its own time, the same in a replay): retention.
    last_active = max([case.active_ms, *(_ms(f.record.at) for f in out)])
    return case.model_copy(
        update={
            "fired": (*case.fired, *new_fired),
            "open": tuple(still),
            "clock_ms": max(case.clock_ms, now_ms),
            "active_ms": last_active,
        }
    ), out


def next_due_ms(case: Case, policy: EscalationPolicy) -> int | None:
    """The earliest time at which ``advance`` would fire something without a new event."""
    fired = set(case.fired)
    lead = int(policy.warning_lead_seconds * 1000)
    times: list[int] = []
    for cause in causes(case, policy):
        warning = record_id(case.interaction_id, cause.key, "warning")
        if cause.deadline and lead > 0 and warning not in fired:
            times.append(cause.start_ms - lead)
        for step in cause.levels:
            if record_id(case.interaction_id, cause.key, step.level) not in fired:
                times.append(cause.start_ms + int(step.after_seconds * 1000))
    return min(times) if times else None


# ---- retention -------------------------------------------------------------------------------


def last_activity_ms(case: Case) -> int:
    """When a fact about the interaction last arrived or a record of the case last fired (a
    case stored before ``active_ms`` existed: its clock)."""
    return case.active_ms or case.clock_ms


def deletion_due_ms(
    case: Case, policy: EscalationPolicy, resolved_ms: int, idle_ms: int
) -> int | None:
    """When the case may be deleted if nothing else happens: ``resolved_ms`` after the clock
    once the interaction closed with nothing open, and in any case ``idle_ms`` after its last
    activity (an interaction whose end never arrived). None while a deadline is pending: the
    deadline fires first."""
    if next_due_ms(case, policy) is not None:
        return None
    idle = last_activity_ms(case) + idle_ms
    if case.closed and not case.open:
        return min(case.clock_ms + resolved_ms, idle)
    return idle


def expire(
    case: Case, policy: EscalationPolicy, now_ms: int, resolved_ms: int, idle_ms: int
) -> list[Fired] | None:
    """None: keep the case. Otherwise delete it, publishing the close (reason ``expired``,
    with its outbound signal) of each escalation still open, so none stays open for good."""
    due = deletion_due_ms(case, policy, resolved_ms, idle_ms)
    if due is None or now_ms < due:
        return None
    out: list[Fired] = []
    for esc in case.open:
        rid = record_id(case.interaction_id, esc.cause_key, f"{esc.level}|closed")
        record = _close(case, policy, esc, rid, now_ms, "expired")
        out.append(Fired(record, outbound=outbound_signal(esc.party_id, esc.id, False, now_ms)))
    return out


def released(case: Case, at_ms: int) -> list[OutboundCommand]:
    """The outbound closes of the case's open escalations, for a case erased at ``at_ms``
    (no record on ``cim.escalations.v1``: nothing of the interaction is published again)."""
    signals = (outbound_signal(e.party_id, e.id, False, at_ms) for e in case.open)
    return [s for s in signals if s is not None]


def _record(
    case: Case,
    policy: EscalationPolicy,
    cause: Cause,
    rid: str,
    kind: Literal["warning", "escalated", "closed"],
    level: Literal["L1", "L2", "L3"] | None,
    at_ms: int,
    **extra: Any,
) -> EscalationRecord:
    return EscalationRecord(
        id=rid,
        kind=kind,
        interaction_id=case.interaction_id,
        cause=cause.name,
        cause_key=cause.key,
        level=level,
        due=ms_time(cause.start_ms),
        at=ms_time(at_ms),
        party_id=case.party_id,
        routing_pool=case.routing_pool,
        queue=case.queue,
        channel=case.channel,
        policy_version=policy.version,
        **extra,
    )


def _fire(
    case: Case, policy: EscalationPolicy, cause: Cause, step: LevelStep, rid: str, due_ms: int
) -> Fired:
    if step.level == "L1":
        record = _record(
            case, policy, cause, rid, "escalated", "L1", due_ms, priority_boost=step.priority_boost
        )
        request = RoutingRequest(
            command="escalate",
            interaction_id=case.interaction_id,
            routing_pool=case.routing_pool or "default",
            time=ms_time(due_ms),
            reason=cause.name,
            channel=case.channel or "voice",
            party_id=case.party_id,
            priority_boost=step.priority_boost,
            escalation_id=rid,
        )
        return Fired(record, request)
    ticket = trouble_ticket(case, cause.name, step, rid, due_ms) if step.level == "L3" else None
    return Fired(
        _record(case, policy, cause, rid, "escalated", step.level, due_ms, trouble_ticket=ticket)
    )


def _close(
    case: Case,
    policy: EscalationPolicy,
    esc: OpenEscalation,
    rid: str,
    at_ms: int,
    why: str | None = None,
) -> EscalationRecord:
    if why is not None:
        reason = why
    elif esc.cause == "callback":
        reason = "callback-done"
    elif case.closed:
        reason = "resolved"
    elif case.phase in ANSWERED and esc.cause == "answer-time":
        reason = "answered"
    elif esc.cause.startswith("email-"):
        reason = "replied"
    else:
        reason = "answered" if case.phase in ANSWERED else "condition-ended"
    return EscalationRecord(
        id=rid,
        kind="closed",
        interaction_id=case.interaction_id,
        cause=esc.cause,
        cause_key=esc.cause_key,
        level=esc.level,
        escalation_id=esc.id,
        at=ms_time(at_ms),
        reason=reason,
        party_id=case.party_id,
        routing_pool=case.routing_pool,
        queue=case.queue,
        channel=case.channel,
        policy_version=policy.version,
    )
