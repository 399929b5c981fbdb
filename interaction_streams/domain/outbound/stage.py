"""One step of the outbound stage (keyed by party id): what to store and what to send.

Inputs: outbound requests and delivery updates, the party's profile, its interaction facts
(open inbound interactions, complaints, answered callbacks), its business moments (triggers,
cool-down moments, incidents to inform about), escalation signals and timer fires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from interaction_streams.contract.commands import InteractionCommand
from interaction_streams.contract.customer import InteractionFact, MomentEvent
from interaction_streams.contract.events.outbound import DeliveryUpdated, OutboundRequested
from interaction_streams.contract.events.profile import CustomerProfile
from interaction_streams.contract.outbound import CommunicationMessage, OutboundDecision, Outcome
from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.domain.outbound import outputs
from interaction_streams.domain.outbound.decide import Verdict, decide, dedup_key
from interaction_streams.domain.outbound.model import (
    FAILED,
    Closed,
    Contact,
    OutboundParty,
    PartyFacts,
    Pending,
    Watch,
)
from interaction_streams.domain.outbound.policy import SolicitationPolicy


@dataclass(frozen=True)
class OutboundStep:
    party: OutboundParty | None  # None: the party leaves the table
    store: bool = True
    decisions: tuple[OutboundDecision, ...] = ()
    messages: tuple[CommunicationMessage, ...] = ()
    interactions: tuple[InteractionCommand, ...] = ()
    routes: tuple[RoutingRequest, ...] = ()


@dataclass
class _Out:
    decisions: list[OutboundDecision] = field(default_factory=list)
    messages: list[CommunicationMessage] = field(default_factory=list)
    interactions: list[InteractionCommand] = field(default_factory=list)
    routes: list[RoutingRequest] = field(default_factory=list)

    def step(self, party: OutboundParty | None, store: bool = True) -> OutboundStep:
        return OutboundStep(
            party,
            store,
            tuple(self.decisions),
            tuple(self.messages),
            tuple(self.interactions),
            tuple(self.routes),
        )


def empty(party_id: str) -> OutboundParty:
    return OutboundParty(party_id=party_id)


def _tick(party: OutboundParty, now_ms: int, policy: SolicitationPolicy) -> OutboundParty:
    """Advance the clock; forget contacts and closed requests older than any window."""
    horizon = now_ms - policy.history_ms
    return party.model_copy(
        update={
            "clock_ms": max(party.clock_ms, now_ms),
            "contacts": tuple(c for c in party.contacts if c.at_ms > horizon),
            "closed": tuple(c for c in party.closed if c.at_ms > horizon),
        }
    )


def decision(
    party_id: str,
    request: OutboundRequested,
    outcome: Outcome,
    at_ms: int,
    *,
    reasons: tuple[str, ...] = (),
    rule: str | None = None,
    channel: str | None = None,
    due_ms: int | None = None,
    trigger: str | None = None,
    sent: bool = False,
) -> OutboundDecision:
    stamp = due_ms if due_ms is not None else at_ms
    origin = request.callback
    return OutboundDecision(
        id=f"{party_id}|{request.request_id}|{outcome}|{stamp}",
        party_id=party_id,
        request_id=request.request_id,
        purpose=request.purpose,
        outcome=outcome,
        reasons=reasons,
        rule=rule,
        channel=channel,
        scheduled_send_time=outputs.ms_time(due_ms if due_ms is not None else at_ms)
        if outcome in ("sent", "deferred")
        else None,
        interaction_id=outputs.interaction_id(request.request_id) if sent else None,
        message_id=(
            outputs.message_id(request.request_id)
            if sent and request.purpose != "callback"
            else None
        ),
        trigger=trigger,
        original_interaction_id=origin.interaction_id if origin is not None else None,
        at=outputs.ms_time(at_ms),
    )


def _apply(
    party: OutboundParty,
    request: OutboundRequested,
    verdict: Verdict,
    now_ms: int,
    policy: SolicitationPolicy,
    out: _Out,
    trigger: str | None,
    since_ms: int,
) -> OutboundParty:
    pid = party.party_id
    if verdict.outcome == "deferred":
        assert verdict.due_ms is not None
        pending = Pending(
            request=request,
            due_ms=verdict.due_ms,
            held=verdict.held,
            trigger=trigger,
            since_ms=since_ms,
        )
        out.decisions.append(
            decision(
                pid,
                request,
                "deferred",
                now_ms,
                reasons=verdict.reasons,
                rule=verdict.rule,
                channel=verdict.channel,
                due_ms=verdict.due_ms,
                trigger=trigger,
            )
        )
        return party.model_copy(update={"pending": (*party.pending, pending)})
    if verdict.outcome == "suppressed":
        out.decisions.append(
            decision(
                pid,
                request,
                "suppressed",
                now_ms,
                reasons=verdict.reasons,
                rule=verdict.rule,
                channel=verdict.channel,
                trigger=trigger,
            )
        )
        closed = Closed(request_id=request.request_id, at_ms=now_ms)
        return party.model_copy(update={"closed": (*party.closed, closed)})
    channel = verdict.channel
    assert channel is not None and party.facts is not None
    iid = outputs.interaction_id(request.request_id)
    contact = Contact(
        request_id=request.request_id,
        purpose=request.purpose,
        channel=channel,
        at_ms=now_ms,
        dedup=dedup_key(request),
        interaction_id=iid,
    )
    out.decisions.append(
        decision(
            pid,
            request,
            "sent",
            now_ms,
            reasons=verdict.reasons,
            channel=channel,
            trigger=trigger,
            sent=True,
        )
    )
    out.interactions.append(outputs.create_interaction(pid, request, channel, now_ms))
    watches = party.watches
    if request.callback is not None:
        out.routes.append(outputs.callback_route(pid, request, now_ms, channel))
        watches = (
            *watches,
            Watch(
                kind="callback",
                ref=request.request_id,
                due_ms=now_ms + policy.callbacks.grace_seconds * 1000,
                interaction_id=iid,
                original_interaction_id=request.callback.interaction_id,
                since_ms=now_ms,
            ),
        )
    else:
        out.messages.append(
            outputs.message(pid, party.facts, request, channel, now_ms, policy, trigger)
        )
    under = policy.under_use
    if under is not None and request.purpose in under.purposes:
        watches = tuple(w for w in watches if w.kind != "inform")  # informed
    return party.model_copy(update={"contacts": (*party.contacts, contact), "watches": watches})


def on_request(
    current: OutboundParty | None,
    request: OutboundRequested,
    now_ms: int,
    policy: SolicitationPolicy,
    trigger: str | None = None,
) -> OutboundStep:
    party = _tick(current or empty(request.party_id), now_ms, policy)
    if party.knows(request.request_id):
        return OutboundStep(current, store=False)  # a re-delivery: decided already
    out = _Out()
    verdict = decide(party, request, now_ms, policy, trigger)
    party = _apply(party, request, verdict, now_ms, policy, out, trigger, now_ms)
    return out.step(party)


def on_fire(current: OutboundParty | None, now_ms: int, policy: SolicitationPolicy) -> OutboundStep:
    """Re-decide the deferred requests that are due (or held and released), and run the
    checks that are due: missed callbacks, customers in an incident not informed."""
    if current is None:
        return OutboundStep(None, store=False)
    party = _tick(current, now_ms, policy)
    out = _Out()
    due = [p for p in party.pending if p.due_ms <= now_ms or (p.held and not party.open_inbound)]
    if due:
        party = party.model_copy(
            update={"pending": tuple(p for p in party.pending if p not in due)}
        )
        for p in sorted(due, key=lambda p: (p.due_ms, p.request.request_id)):
            served = frozenset({"hold"}) if p.held and p.due_ms <= now_ms else frozenset()
            verdict = decide(party, p.request, now_ms, policy, p.trigger, served)
            party = _apply(party, p.request, verdict, now_ms, policy, out, p.trigger, p.since_ms)
    for w in [w for w in party.watches if w.due_ms <= now_ms]:
        party = party.model_copy(update={"watches": tuple(x for x in party.watches if x != w)})
        if w.kind == "callback":
            request = OutboundRequested(
                party_id=party.party_id,
                request_id=w.ref,
                purpose="callback",
                template="callback",
            )
            out.decisions.append(
                decision(
                    party.party_id,
                    request,
                    "missed",
                    w.due_ms,
                    reasons=("callback-missed",),
                    rule="callbacks",
                ).model_copy(
                    update={
                        "interaction_id": w.interaction_id,
                        "original_interaction_id": w.original_interaction_id,
                    }
                )
            )
        elif w.kind == "inform":
            request = OutboundRequested(
                party_id=party.party_id,
                request_id=f"inform:{w.ref}",
                purpose="alert",
                template="incident",
            )
            out.decisions.append(
                decision(
                    party.party_id,
                    request,
                    "flagged",
                    w.due_ms,
                    reasons=("incident-not-informed", w.ref),
                    rule="underUse",
                )
            )
    return out.step(party)


def on_delivery(
    current: OutboundParty | None,
    update: DeliveryUpdated,
    now_ms: int,
    policy: SolicitationPolicy,
) -> OutboundStep:
    """A delivery status: recorded on the contact (a failed one no longer counts against the
    caps) and on the outbound interaction (failed or bounced: SID failed; replied: completed).
    A callback the customer answered is no longer a missed promise."""
    party = _tick(current or empty(update.party_id), now_ms, policy)
    contact = next((c for c in party.contacts if c.request_id == update.request_id), None)
    if contact is None and update.purpose is not None and update.status not in FAILED:
        outside = Contact(  # sent by another system: it counts against the caps
            request_id=update.request_id,
            purpose=update.purpose,
            channel=update.channel or "unknown",
            at_ms=now_ms,
            dedup="",
            interaction_id="",
            status=update.status,
        )
        return OutboundStep(party.model_copy(update={"contacts": (*party.contacts, outside)}))
    if contact is None or contact.status == update.status:
        return OutboundStep(current, store=False)
    out = _Out()
    contacts = tuple(
        c.model_copy(update={"status": update.status}) if c is contact else c
        for c in party.contacts
    )
    watches = party.watches
    if update.status in ("replied", "delivered", "read") and contact.purpose == "callback":
        watches = tuple(
            w for w in watches if not (w.kind == "callback" and w.ref == update.request_id)
        )
    note = f"delivery {update.status}" + (f": {update.reason}" if update.reason else "")
    command = outputs.patch_interaction(update.request_id, update.status, now_ms, note)
    if command is not None:
        out.interactions.append(command)
    return out.step(party.model_copy(update={"contacts": contacts, "watches": watches}))


def on_profile(
    current: OutboundParty | None, profile: CustomerProfile, now_ms: int, policy: SolicitationPolicy
) -> OutboundStep:
    party = _tick(current or empty(profile.party_id), now_ms, policy)
    facts = PartyFacts(
        name=profile.name,
        phones=profile.phones,
        emails=profile.emails,
        time_zone=profile.time_zone,
        consents=profile.consents,
        do_not_contact=profile.do_not_contact,
    )
    return OutboundStep(party.model_copy(update={"facts": facts}))


def on_erasure(current: OutboundParty | None) -> OutboundStep:
    return OutboundStep(None, store=current is not None)


def on_fact(
    current: OutboundParty | None,
    party_id: str,
    fact: InteractionFact | None,
    interaction_id: str,
    now_ms: int,
    policy: SolicitationPolicy,
) -> OutboundStep:
    """An interaction of the party changed (``fact``) or left it (None)."""
    party = _tick(current or empty(party_id), now_ms, policy)
    open_inbound = tuple(i for i in party.open_inbound if i != interaction_id)
    complaint = party.complaint_ms
    watches = party.watches
    if fact is not None and fact.direction == "inbound":
        if fact.is_open:
            open_inbound = (*open_inbound, interaction_id)
        if fact.reason in policy.cool_down.complaint_reasons:
            complaint = max(complaint or 0, fact.opened_ms)
    if fact is not None and (fact.with_agent or fact.status == "completed"):
        watches = tuple(
            w for w in watches if not (w.kind == "callback" and w.interaction_id == interaction_id)
        )
    updated = party.model_copy(
        update={"open_inbound": open_inbound, "complaint_ms": complaint, "watches": watches}
    )
    if updated == party and current is not None:
        return OutboundStep(current, store=False)
    if party.open_inbound and not open_inbound:  # the last inbound interaction ended
        return on_fire(updated, now_ms, policy)
    return OutboundStep(updated)


def on_escalation(
    current: OutboundParty | None,
    party_id: str,
    escalation_id: str,
    is_open: bool,
    now_ms: int,
    policy: SolicitationPolicy,
) -> OutboundStep:
    party = _tick(current or empty(party_id), now_ms, policy)
    rest = tuple(e for e in party.escalations if e != escalation_id)
    return OutboundStep(
        party.model_copy(update={"escalations": (*rest, escalation_id) if is_open else rest})
    )


def on_moment(
    current: OutboundParty | None, event: MomentEvent, now_ms: int, policy: SolicitationPolicy
) -> OutboundStep:
    """Moments feed cool-downs; a starting moment fires its triggers and, for the under-use
    moment, starts the check that the customer is informed in time."""
    party = _tick(current or empty(event.party_id), now_ms, policy)
    name = event.moment.name
    started_ms = int(event.moment.started.timestamp() * 1000)
    moments = dict(party.moments)
    watches = party.watches
    under = policy.under_use
    if event.state == "ended":
        moments.pop(name, None)
        if under is not None and name == under.moment:
            watches = tuple(w for w in watches if w.kind != "inform")
        return OutboundStep(party.model_copy(update={"moments": moments, "watches": watches}))
    if name in moments:
        return OutboundStep(current, store=False)  # a re-delivery
    moments[name] = started_ms
    cause = event.moment.cause or name
    if under is not None and name == under.moment:
        watches = (
            *watches,
            Watch(
                kind="inform",
                ref=cause,
                due_ms=started_ms + under.inform_within_seconds * 1000,
                since_ms=started_ms,
            ),
        )
    party = party.model_copy(update={"moments": moments, "watches": watches})
    out = _Out()
    for trigger in policy.triggers:
        if trigger.moment != name:
            continue
        request = OutboundRequested(
            party_id=party.party_id,
            request_id=f"{trigger.name}:{party.party_id}:{cause}:{started_ms}"[:128],
            purpose=trigger.purpose,
            urgency=trigger.urgency,
            preferred_channels=trigger.channels,
            template=trigger.template,
            parameters={"cause": cause, "moment": name},
            valid_until=outputs.ms_time(started_ms) + timedelta(seconds=trigger.valid_seconds),
        )
        if party.knows(request.request_id):
            continue
        verdict = decide(party, request, now_ms, policy, trigger.name)
        party = _apply(party, request, verdict, now_ms, policy, out, trigger.name, now_ms)
    return out.step(party)
