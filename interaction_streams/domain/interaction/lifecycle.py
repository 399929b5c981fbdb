"""The lifecycle: a pure state machine that applies one channel event to an interaction.

Each event type has a handler; a handler that finds the event impossible in the current
phase raises ``Impossible``, and ``apply`` records it (a note and a counter) without
changing anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.commands import ApiCreate, ApiPatch, OutcomeStatus
from interaction_streams.contract.events import channel as ev
from interaction_streams.contract.events.registry import EVENT_TYPES
from interaction_streams.domain.interaction.model import (
    STATUS_OF_PHASE,
    Attachment,
    Channel,
    Interaction,
    Item,
    Note,
    Participant,
    PartyRole,
    Phase,
    Relationship,
    SidStatus,
)


class Stimulus(WireModel):
    """One input to the lifecycle, as logged for event-time re-ordering."""

    id: str
    type: str
    time_ms: int
    data: dict[str, Any]
    party_id: str | None = None  # the party that identification resolved when it arrived
    party_role: PartyRole | None = None  # customer (known) or prospect
    contact_key: str | None = None


class Impossible(Exception):
    """The event cannot happen in the interaction's current phase."""


OPEN_BEFORE_AGENT: frozenset[Phase] = frozenset({"arriving", "selfService", "queued", "offered"})
WITH_AGENT: frozenset[Phase] = frozenset({"connected", "onHold"})
START_CHANNEL: dict[str, Channel] = {
    "cim.voice.offered": "voice",
    "cim.chat.started": "chat",
    "cim.email.received": "email",
    "cim.sms.received": "sms",
    "cim.social.received": "social",
    "cim.selfservice.started": "selfservice",
}


def apply(state: Interaction | None, stim: Stimulus) -> Interaction:
    """The interaction after ``stim``; the first event of an interaction creates it."""
    payload = PAYLOAD_MODELS[stim.type].model_validate(stim.data)
    current = state or _new(stim, payload)
    try:
        changed = HANDLERS[stim.type](current, payload, stim)
    except Impossible as why:
        note = Note(id=f"anomaly-{stim.id}", at_ms=stim.time_ms, text=f"ignored {stim.type}: {why}")
        return current.model_copy(
            update={"anomalies": current.anomalies + 1, "notes": (*current.notes, note)}
        )
    return changed.model_copy(update={"last_event_ms": max(changed.last_event_ms, stim.time_ms)})


def _new(stim: Stimulus, payload: BaseModel) -> Interaction:
    assert isinstance(payload, ev.InteractionEvent)
    return Interaction(
        id=payload.interaction_id,
        routing_pool=payload.routing_pool,
        created_ms=stim.time_ms,
        status_changed_ms=stim.time_ms,
        phase_since_ms=stim.time_ms,
        last_event_ms=stim.time_ms,
    )


# ---- transitions -------------------------------------------------------------------------

_PHASE_TIMER = {
    "selfService": "self_service_ms",
    "queued": "queue_ms",
    "offered": "offer_ms",
    "connected": "talk_ms",
    "onHold": "hold_ms",
    "wrapUp": "wrap_up_ms",
}


def _enter(
    state: Interaction,
    phase: Phase,
    at_ms: int,
    outcome: SidStatus | None = None,
    reason: str | None = None,
) -> Interaction:
    """Move to ``phase`` at ``at_ms``: time the phase left, derive the SID status."""
    timings = state.timings
    timer = _PHASE_TIMER.get(state.phase)
    if timer is not None and phase != state.phase:
        spent = max(0, at_ms - state.phase_since_ms)
        timings = timings.model_copy(update={timer: getattr(timings, timer) + spent})
    if phase == "onHold" and state.phase != "onHold":
        timings = timings.model_copy(update={"hold_count": timings.hold_count + 1})
    status: SidStatus = outcome or STATUS_OF_PHASE.get(phase, state.status)
    # SID never goes back to initialized once handling started.
    if status == "initialized" and state.status != "initialized":
        status = state.status
    update: dict[str, Any] = {
        "phase": phase,
        "phase_since_ms": at_ms if phase != state.phase else state.phase_since_ms,
        "timings": timings,
        "status": status,
    }
    if status != state.status:
        update["status_changed_ms"] = at_ms
        update["status_reason"] = reason
    if phase == "closed":
        update["ended_ms"] = at_ms
        update["participants"] = tuple(
            p if p.left_ms is not None else p.model_copy(update={"left_ms": at_ms})
            for p in state.participants
        )
    return state.model_copy(update=update)


def _require_open(state: Interaction) -> None:
    if state.is_closed:
        raise Impossible(f"the interaction is already {state.status}")


def _join(state: Interaction, party_id: str, role: PartyRole, at_ms: int) -> Interaction:
    active = any(p.party_id == party_id and p.left_ms is None for p in state.participants)
    if active:
        return state
    joined = Participant(party_id=party_id, role=role, joined_ms=at_ms)
    return state.model_copy(update={"participants": (*state.participants, joined)})


def _leave(state: Interaction, party_id: str | None, at_ms: int) -> Interaction:
    return state.model_copy(
        update={
            "participants": tuple(
                p.model_copy(update={"left_ms": at_ms})
                if p.left_ms is None and p.role == "agent" and party_id in (None, p.party_id)
                else p
                for p in state.participants
            )
        }
    )


def _item(state: Interaction, stim: Stimulus, item_type: str, **value: Any) -> Interaction:
    reason = value.pop("reason", None)
    item = Item(
        id=f"{item_type}-{stim.id}",
        item_type=item_type,
        at_ms=stim.time_ms,
        reason=reason,
        value={k: v for k, v in value.items() if v is not None},
    )
    return state.model_copy(update={"items": (*state.items, item)})


def _identify(state: Interaction, party_id: str, at_ms: int) -> Interaction:
    """Link the interaction to a known customer; a prospect placeholder is replaced."""
    kept = tuple(p for p in state.participants if p.role not in ("customer", "prospect"))
    customer = Participant(party_id=party_id, role="customer", joined_ms=state.created_ms)
    return state.model_copy(update={"participants": (customer, *kept)})


# ---- handlers, one per event type --------------------------------------------------------

Handler = Callable[[Interaction, Any, Stimulus], Interaction]


def on_start(state: Interaction, p: ev.ContactStarted, stim: Stimulus) -> Interaction:
    if state.is_closed:
        raise Impossible("a closed interaction cannot start again")
    channel = START_CHANNEL[stim.type]
    s = state.model_copy(
        update={
            "channel": channel,
            "direction": p.direction,
            "routing_pool": p.routing_pool,
            "created_ms": min(state.created_ms, stim.time_ms),
            "contact_key": stim.contact_key or state.contact_key,
            "reason": state.reason or p.intent,
            "language": p.language or state.language,
            "subject": p.subject or state.subject,
            "messages_in": state.messages_in + (1 if p.message_id else 0),
        }
    )
    party = p.party_id or stim.party_id
    if party and s.customer is None:
        role: PartyRole = "customer" if p.party_id or stim.party_role == "customer" else "prospect"
        s = _join(s, party, role, stim.time_ms)
    if isinstance(p, ev.SelfServiceStarted):
        s = _join(s, f"{p.kind}:{p.routing_pool}", "bot", stim.time_ms)
        s = s.model_copy(update={"contained": None})
        return _enter(s, "selfService", stim.time_ms)
    return s


def on_self_service(state: Interaction, p: ev.InteractionEvent, stim: Stimulus) -> Interaction:
    if state.phase not in ("arriving", "selfService"):
        raise Impossible(f"self-service cannot start while {state.phase}")
    return _enter(state, "selfService", stim.time_ms)


def on_ivr_completed(state: Interaction, p: ev.IvrCompleted, stim: Stimulus) -> Interaction:
    _require_open(state)
    s = _item(state, stim, "ivrSelection", reason=p.intent, **p.selections)
    if p.intent:
        s = s.model_copy(update={"reason": p.intent})
    if p.identified_party_id:
        s = _identify(s, p.identified_party_id, stim.time_ms)
    return s


def on_queued(state: Interaction, p: ev.Queued, stim: Stimulus) -> Interaction:
    _require_open(state)
    if state.phase in WITH_AGENT or state.phase == "wrapUp":
        raise Impossible(f"cannot queue while {state.phase}; transfer instead")
    s = state.model_copy(update={"queue": p.queue, "priority": p.priority or state.priority})
    return _enter(s, "queued", stim.time_ms)


def on_offered(state: Interaction, p: ev.AgentStep, stim: Stimulus) -> Interaction:
    if state.phase not in ("arriving", "queued", "offered", "selfService"):
        raise Impossible(f"cannot offer to an agent while {state.phase}")
    return _enter(state, "offered", stim.time_ms)


def on_answered(state: Interaction, p: ev.AgentStep, stim: Stimulus) -> Interaction:
    if state.phase not in OPEN_BEFORE_AGENT:
        raise Impossible(f"cannot be answered while {state.phase}")
    return _enter(_join(state, p.agent_id, "agent", stim.time_ms), "connected", stim.time_ms)


def on_held(state: Interaction, p: ev.Held, stim: Stimulus) -> Interaction:
    if state.phase != "connected":
        raise Impossible(f"cannot hold while {state.phase}")
    return _enter(state, "onHold", stim.time_ms)


def on_resumed(state: Interaction, p: ev.Held, stim: Stimulus) -> Interaction:
    if state.phase != "onHold":
        raise Impossible(f"cannot resume while {state.phase}")
    return _enter(state, "connected", stim.time_ms)


def on_transferred(state: Interaction, p: ev.Transferred, stim: Stimulus) -> Interaction:
    if state.phase not in WITH_AGENT:
        raise Impossible(f"cannot transfer while {state.phase}")
    s = _item(
        state,
        stim,
        "transfer",
        mode=p.mode,
        fromAgentId=p.from_agent_id,
        toAgentId=p.to_agent_id,
        toQueue=p.to_queue,
    )
    if p.mode == "consult":  # the first agent stays until it leaves by a blind step or the end
        return _join(s, p.to_agent_id, "agent", stim.time_ms) if p.to_agent_id else s
    s = _leave(s, p.from_agent_id, stim.time_ms)
    if p.to_agent_id:
        return _enter(s, "offered", stim.time_ms)
    return _enter(s.model_copy(update={"queue": p.to_queue}), "queued", stim.time_ms)


def on_conferenced(state: Interaction, p: ev.Conferenced, stim: Stimulus) -> Interaction:
    if state.phase not in WITH_AGENT:
        raise Impossible(f"cannot conference while {state.phase}")
    role: PartyRole = p.role
    return _item(
        _join(state, p.participant_id, role, stim.time_ms),
        stim,
        "conference",
        participantId=p.participant_id,
        role=p.role,
    )


def on_message(state: Interaction, p: ev.MessageExchanged, stim: Stimulus) -> Interaction:
    _require_open(state)
    field = "messages_in" if stim.type.endswith("received") else "messages_out"
    return state.model_copy(update={field: getattr(state, field) + 1})


def on_handover(state: Interaction, p: ev.BotHandover, stim: Stimulus) -> Interaction:
    """A bot or self-service session hands the customer to an agent, with its context.

    With ``toInteractionId`` the agent work is another interaction: this session closes
    (completed, not contained) and both are linked; otherwise the same interaction queues.
    """
    if state.phase not in ("arriving", "selfService"):
        raise Impossible(f"cannot hand over while {state.phase}")
    s = _join(state, p.bot_id, "bot", stim.time_ms)
    s = _item(
        s,
        stim,
        "handover",
        botId=p.bot_id,
        queue=p.queue,
        toInteractionId=p.to_interaction_id,
        **p.context,
    )
    bots = tuple(
        x.model_copy(update={"left_ms": stim.time_ms})
        if x.role == "bot" and x.left_ms is None
        else x
        for x in s.participants
    )
    s = s.model_copy(update={"participants": bots, "contained": False, "queue": p.queue or s.queue})
    if p.to_interaction_id:
        link = Relationship(interaction_id=p.to_interaction_id, relationship_type="handover")
        s = s.model_copy(update={"relationships": (*s.relationships, link)})
        return _enter(s, "closed", stim.time_ms, "completed", "handedOver")
    return _enter(s, "queued", stim.time_ms)


def on_action(state: Interaction, p: ev.SelfServiceAction, stim: Stimulus) -> Interaction:
    _require_open(state)
    return _item(state, stim, "selfServiceAction", reason=p.action, **p.detail)


def on_contained(state: Interaction, p: ev.InteractionEvent, stim: Stimulus) -> Interaction:
    if state.phase not in ("arriving", "selfService"):
        raise Impossible(f"cannot be contained while {state.phase}")
    s = state.model_copy(update={"contained": True})
    return _enter(s, "closed", stim.time_ms, "completed", "contained")


def on_ended(state: Interaction, p: ev.Ended, stim: Stimulus) -> Interaction:
    _require_open(state)
    if state.phase in WITH_AGENT:
        return _enter(state, "wrapUp", stim.time_ms, reason=f"endedBy:{p.ended_by}")
    if state.phase == "wrapUp":
        return state
    # Ended before an agent took it: the customer gave up, or the system dropped it.
    reason = "abandoned" if p.ended_by == "customer" else "dropped"
    return _enter(state, "closed", stim.time_ms, "disrupted", reason)


def on_abandoned(state: Interaction, p: ev.InteractionEvent, stim: Stimulus) -> Interaction:
    if state.phase not in OPEN_BEFORE_AGENT:
        raise Impossible(f"cannot be abandoned while {state.phase}")
    return _enter(state, "closed", stim.time_ms, "disrupted", "abandoned")


def on_wrap_up(state: Interaction, p: ev.WrapUpCompleted, stim: Stimulus) -> Interaction:
    if state.phase not in ("wrapUp", *WITH_AGENT):
        raise Impossible(f"cannot complete wrap-up while {state.phase}")
    s = state.model_copy(update={"disposition": p.wrap_up_code})
    if p.notes:
        note = Note(id=f"wrapup-{stim.id}", at_ms=stim.time_ms, text=p.notes, author=p.agent_id)
        s = s.model_copy(update={"notes": (*s.notes, note)})
    if s.phase in WITH_AGENT:
        s = _enter(s, "wrapUp", stim.time_ms)
    return _enter(s, "closed", stim.time_ms, "completed", "wrappedUp")


def on_identified(state: Interaction, p: ev.Identified, stim: Stimulus) -> Interaction:
    return _identify(state, p.identified_party_id, stim.time_ms)


def on_note(state: Interaction, p: ev.NoteAdded, stim: Stimulus) -> Interaction:
    note = Note(id=f"note-{stim.id}", at_ms=stim.time_ms, text=p.text, author=p.author_id)
    return state.model_copy(update={"notes": (*state.notes, note)})


def on_csat(state: Interaction, p: ev.CsatRecorded, stim: Stimulus) -> Interaction:
    return _item(state, stim, "survey", score=p.score, comment=p.comment)


def on_sentiment(state: Interaction, p: ev.SentimentScored, stim: Stimulus) -> Interaction:
    return _item(state, stim, "sentiment", score=p.score)


def on_recommendation(
    state: Interaction, p: ev.RecommendationAnswered, stim: Stimulus
) -> Interaction:
    return _item(
        state,
        stim,
        "recommendation",
        reason=p.answer,
        recommendationId=p.recommendation_id,
        actionId=p.action_id,
        agentId=p.agent_id,
        source=p.source,
    )


def on_attachment(state: Interaction, p: ev.AttachmentAdded, stim: Stimulus) -> Interaction:
    attachment = Attachment(
        id=f"att-{stim.id}", kind=p.kind, href=p.href, at_ms=stim.time_ms, mime_type=p.mime_type
    )
    return state.model_copy(update={"attachments": (*state.attachments, attachment)})


def on_related(state: Interaction, p: ev.Related, stim: Stimulus) -> Interaction:
    link = Relationship(
        interaction_id=p.related_interaction_id, relationship_type=p.relationship_type
    )
    if link in state.relationships:
        return state
    return state.model_copy(update={"relationships": (*state.relationships, link)})


def _close_or_progress(state: Interaction, status: OutcomeStatus, at_ms: int) -> Interaction:
    if status == "inProgress":
        if state.is_closed:
            raise Impossible("a closed interaction cannot be reopened")
        return state if state.status == "inProgress" else _enter(state, "connected", at_ms)
    if state.is_closed:
        return (
            state
            if state.status == status
            else state.model_copy(
                update={"status": status, "status_changed_ms": at_ms, "status_reason": "api"}
            )
        )
    return _enter(state, "closed", at_ms, status, "api")


def _with_parties(state: Interaction, parties: tuple[Any, ...], at_ms: int) -> Interaction:
    people = tuple(Participant(party_id=p.party_id, role=p.role, joined_ms=at_ms) for p in parties)
    return state.model_copy(update={"participants": people})


def _with_notes_and_links(
    state: Interaction, p: ApiCreate | ApiPatch, stim: Stimulus
) -> Interaction:
    notes = tuple(
        Note(id=f"note-{stim.id}-{n}", at_ms=stim.time_ms, text=text)
        for n, text in enumerate(p.notes)
    )
    links = tuple(
        Relationship(interaction_id=r.interaction_id, relationship_type=r.relationship_type)
        for r in p.relationships
        if Relationship(interaction_id=r.interaction_id, relationship_type=r.relationship_type)
        not in state.relationships
    )
    return state.model_copy(
        update={"notes": (*state.notes, *notes), "relationships": (*state.relationships, *links)}
    )


def on_api_create(state: Interaction, p: ApiCreate, stim: Stimulus) -> Interaction:
    if state.channel != "unknown":
        raise Impossible("the interaction already exists")
    s = state.model_copy(
        update={
            "channel": p.channel,
            "direction": p.direction,
            "reason": p.reason,
            "subject": p.description,
        }
    )
    s = _with_notes_and_links(_with_parties(s, p.parties, stim.time_ms), p, stim)
    return _close_or_progress(s, p.status, stim.time_ms) if p.status else s


def on_api_patch(state: Interaction, p: ApiPatch, stim: Stimulus) -> Interaction:
    update: dict[str, Any] = {}
    if p.reason is not None:
        update["reason"] = p.reason
    if p.description is not None:
        update["subject"] = p.description
    if p.disposition is not None:
        update["disposition"] = p.disposition
    s = state.model_copy(update=update)
    if p.parties is not None:
        s = _with_parties(s, p.parties, stim.time_ms)
    s = _with_notes_and_links(s, p, stim)
    return _close_or_progress(s, p.status, stim.time_ms) if p.status else s


PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    **{name: t.model for name, t in EVENT_TYPES.items() if t.family == "channel"},
    "cim.api.create": ApiCreate,
    "cim.api.patch": ApiPatch,
}

HANDLERS: dict[str, Handler] = {
    **{t: on_start for t in START_CHANNEL},
    "cim.voice.ivr.started": on_self_service,
    "cim.voice.ivr.completed": on_ivr_completed,
    "cim.voice.held": on_held,
    "cim.voice.resumed": on_resumed,
    "cim.chat.bot.handover": on_handover,
    "cim.selfservice.action": on_action,
    "cim.selfservice.contained": on_contained,
    "cim.selfservice.handover": on_handover,
    "cim.interaction.message.received": on_message,
    "cim.interaction.message.sent": on_message,
    "cim.interaction.queued": on_queued,
    "cim.interaction.agent.offered": on_offered,
    "cim.interaction.answered": on_answered,
    "cim.interaction.transferred": on_transferred,
    "cim.interaction.conferenced": on_conferenced,
    "cim.interaction.ended": on_ended,
    "cim.interaction.abandoned": on_abandoned,
    "cim.interaction.wrapup.completed": on_wrap_up,
    "cim.interaction.identified": on_identified,
    "cim.interaction.note.added": on_note,
    "cim.interaction.csat.recorded": on_csat,
    "cim.interaction.sentiment.scored": on_sentiment,
    "cim.interaction.attachment.added": on_attachment,
    "cim.interaction.related": on_related,
    "cim.interaction.recommendation.answered": on_recommendation,
    "cim.api.create": on_api_create,
    "cim.api.patch": on_api_patch,
}
