"""The solicitation decision for one request: sent (on which channel), deferred until when, or
suppressed by which rule, with its reason codes. Pure: the party, the request, the time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from interaction_streams.contract.events.outbound import OutboundRequested
from interaction_streams.domain.outbound.model import OutboundParty
from interaction_streams.domain.outbound.policy import SolicitationPolicy
from interaction_streams.domain.outbound.quiet import next_allowed, zone

ADDRESS_NEEDED = {"sms": "phones", "voice": "phones", "email": "emails"}


@dataclass(frozen=True)
class Verdict:
    outcome: Literal["sent", "deferred", "suppressed"]
    reasons: tuple[str, ...]
    rule: str | None = None
    channel: str | None = None
    due_ms: int | None = None
    held: bool = False


def dedup_key(request: OutboundRequested) -> str:
    """Same purpose, template and parameters: the same message."""
    params = orjson.dumps(request.parameters, option=orjson.OPT_SORT_KEYS).decode()
    return f"{request.purpose}|{request.template}|{params}"


def request_facts(request: OutboundRequested, trigger: str | None) -> dict[str, Any]:
    return {
        "purpose": request.purpose,
        "urgency": request.urgency,
        "template": request.template,
        "campaign": request.campaign_id,
        "trigger": trigger,
        "channels": list(request.preferred_channels),
    }


def exemptions(
    policy: SolicitationPolicy, request: OutboundRequested, trigger: str | None
) -> tuple[set[str], tuple[str, ...]]:
    facts = request_facts(request, trigger)
    bypass: set[str] = set()
    names: list[str] = []
    for e in policy.exemptions:
        if e.expression.evaluate(facts):
            bypass.update(e.bypass)
            names.append(f"exempt:{e.name}")
    return bypass, tuple(names)


def choose_channel(
    party: OutboundParty, request: OutboundRequested, policy: SolicitationPolicy
) -> tuple[str | None, tuple[str, ...]]:
    """The first channel, by the request's preference then the policy's order, that the
    party consents to for the purpose and has an address for."""
    facts = party.facts
    if facts is None:
        return None, ("no-profile",)
    if request.purpose == "callback":
        order: tuple[str, ...] = (policy.callbacks.channel,)
    else:
        order = tuple(dict.fromkeys((*request.preferred_channels, *policy.channel_order)))
    implied = request.purpose in policy.implied_consent
    refused: list[str] = []
    for channel in order:
        field = ADDRESS_NEEDED.get(channel)
        if field is not None and not getattr(facts, field):
            refused.append(f"no-address:{channel}")
            continue
        if not implied and not facts.consents_to(channel, request.purpose):
            refused.append(f"consent:{channel}")
            continue
        preferred = request.preferred_channels
        fallback = (f"fallback:{channel}",) if preferred and channel not in preferred else ()
        return channel, fallback
    return None, tuple(refused)


def decide(
    party: OutboundParty,
    request: OutboundRequested,
    now_ms: int,
    policy: SolicitationPolicy,
    trigger: str | None = None,
    also_bypass: frozenset[str] = frozenset(),
) -> Verdict:
    """``also_bypass``: rules already served (a request held for its maximum goes)."""
    until = int(request.valid_until.timestamp() * 1000) if request.valid_until else None
    start = int(request.valid_from.timestamp() * 1000) if request.valid_from else None
    if until is not None and now_ms > until:
        return Verdict("suppressed", ("expired",), "validity")
    if party.facts is not None and party.facts.do_not_contact:
        return Verdict("suppressed", ("do-not-contact",), "doNotContact")
    channel, why = choose_channel(party, request, policy)
    if channel is None:
        return Verdict("suppressed", ("no-consent", *why), "consent")
    bypass, exempt = exemptions(policy, request, trigger)
    bypass |= also_bypass
    notes = (*exempt, *why)
    if start is not None and now_ms < start:
        return Verdict("deferred", ("not-yet-valid", *notes), "validity", channel, start)
    if "dedup" not in bypass and policy.dedup_window_seconds:
        key, window = dedup_key(request), policy.dedup_window_seconds * 1000
        if any(
            c.dedup == key and c.counts and now_ms - window < c.at_ms <= now_ms
            for c in party.contacts
        ):
            return Verdict("suppressed", ("duplicate", *notes), "dedup", channel)
    cool = policy.cool_down
    if "coolDown" not in bypass and request.purpose in cool.purposes:
        if (
            party.complaint_ms is not None
            and party.complaint_ms
            <= now_ms
            < party.complaint_ms + cool.after_complaint_seconds * 1000
        ):
            return Verdict("suppressed", ("cool-down:complaint", *notes), "coolDown", channel)
        if party.escalations:
            return Verdict("suppressed", ("cool-down:escalation", *notes), "coolDown", channel)
        for moment in cool.while_moments:
            if moment in party.moments:
                return Verdict("suppressed", (f"cool-down:{moment}", *notes), "coolDown", channel)
    hold = policy.hold
    if "hold" not in bypass and party.open_inbound:
        if request.purpose in hold.fold:
            return Verdict("suppressed", ("folded:inbound-interaction", *notes), "hold", channel)
        if request.purpose in hold.purposes:
            due = now_ms + hold.max_hold_seconds * 1000
            if until is not None:
                due = min(due, until)
            return Verdict(
                "deferred", ("held:inbound-interaction", *notes), "hold", channel, due, True
            )
    if "caps" not in bypass:
        for cap in policy.caps:
            if request.purpose not in cap.purposes or (
                cap.channels and channel not in cap.channels
            ):
                continue
            window = cap.window_seconds * 1000
            used = sum(
                1
                for c in party.contacts
                if c.counts
                and c.purpose in cap.purposes
                and (not cap.channels or c.channel in cap.channels)
                and now_ms - window < c.at_ms <= now_ms
            )
            if used >= cap.max:
                return Verdict("suppressed", (f"cap:{cap.name}", *notes), cap.name, channel)
    windows = policy.quiet_windows(request.purpose)
    if "quietHours" not in bypass and windows:
        tz = zone(party.facts.time_zone if party.facts else None, policy.default_time_zone)
        allowed = next_allowed(now_ms, tz, windows)
        if allowed > now_ms:
            if until is not None and allowed > until:
                return Verdict(
                    "suppressed", ("quiet-hours", "expired", *notes), "quietHours", channel
                )
            return Verdict("deferred", ("quiet-hours", *notes), "quietHours", channel, allowed)
    return Verdict("sent", notes, None, channel)
