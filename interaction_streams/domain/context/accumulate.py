"""Pure steps of the customer stage: facts, profiles and business events in; the context,
its moments and its snapshot out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from interaction_streams.contract.customer import (
    BusinessSummary,
    ContextSnapshot,
    LastAgent,
    LastInteraction,
    MomentSummary,
    WindowCounts,
)
from interaction_streams.contract.events.profile import CustomerProfile
from interaction_streams.domain.context.model import (
    BusinessRecord,
    CustomerContext,
    InteractionFact,
    Moment,
    ProfileFacts,
)
from interaction_streams.domain.context.policy import ContextPolicy

# Business event kinds that end earlier records: kind -> (kinds it ends, same ref only)
_ENDS: dict[str, tuple[frozenset[str], bool]] = {
    "payment.received": (frozenset({"payment.overdue"}), False),
    "order.completed": (frozenset({"order.created", "order.delayed", "order.failed"}), True),
    "incident.resolved": (frozenset({"incident.opened", "incident.updated"}), True),
    "ticket.resolved": (frozenset({"ticket.opened", "ticket.updated"}), True),
    "incident.updated": (frozenset({"incident.opened"}), True),
    "ticket.updated": (frozenset({"ticket.opened"}), True),
    "order.delayed": (frozenset({"order.created"}), True),
    "order.failed": (frozenset({"order.created", "order.delayed"}), True),
}
# Records that are only history once their kind is reached (kept for the snapshot, no moment).
_CLOSING = {"payment.received", "order.completed", "incident.resolved", "ticket.resolved"}


def _tick(ctx: CustomerContext, at_ms: int) -> CustomerContext:
    return ctx.model_copy(update={"clock_ms": max(ctx.clock_ms, at_ms), "dirty": True})


def on_fact(ctx: CustomerContext, fact: InteractionFact, policy: ContextPolicy) -> CustomerContext:
    """Insert or replace an interaction's fact; keep the last N plus the longest window."""
    others = [f for f in ctx.interactions if f.interaction_id != fact.interaction_id]
    facts = sorted([*others, fact], key=lambda f: (f.opened_ms, f.interaction_id))
    horizon = max(f.opened_ms for f in facts) - policy.longest_window_ms
    kept = [
        f
        for n, f in enumerate(facts)
        if n >= len(facts) - policy.keep_interactions or f.opened_ms >= horizon or f.is_open
    ][-policy.max_interactions :]
    return _tick(ctx.model_copy(update={"interactions": tuple(kept)}), fact.opened_ms)


def forget_interaction(ctx: CustomerContext, interaction_id: str) -> CustomerContext:
    kept = tuple(f for f in ctx.interactions if f.interaction_id != interaction_id)
    return ctx.model_copy(update={"interactions": kept, "dirty": True})


def on_profile(ctx: CustomerContext, profile: CustomerProfile, at_ms: int) -> CustomerContext:
    facts = ProfileFacts(
        language=profile.language,
        time_zone=profile.time_zone,
        tier=profile.tier,
        segment=profile.segment,
        service_area=profile.service_area,
        consents=profile.consents,
        do_not_contact=profile.do_not_contact,
    )
    return _tick(ctx.model_copy(update={"profile": facts}), at_ms)


def on_business(
    ctx: CustomerContext,
    kind: str,
    ref: str,
    at_ms: int,
    detail: dict[str, Any],
    policy: ContextPolicy,
) -> CustomerContext:
    """Record a business event; a closing event (payment received, incident resolved...)
    ends the records it answers."""
    ended, same_ref = _ENDS.get(kind, (frozenset(), True))
    kept = tuple(
        r
        for r in ctx.business
        if not (r.kind in ended and (r.ref == ref or not same_ref) and r.at_ms <= at_ms)
        and not (r.kind == kind and r.ref == ref)
    )
    record = BusinessRecord(
        kind=kind, ref=ref, at_ms=at_ms, expires_ms=at_ms + policy.ttl_ms(kind), detail=detail
    )
    business = tuple(sorted((*kept, record), key=lambda r: (r.at_ms, r.kind, r.ref)))
    return _tick(ctx.model_copy(update={"business": business}), at_ms)


# ---- derived views ------------------------------------------------------------------------


def _matches(fact: InteractionFact, filters: dict[str, str]) -> bool:
    return all(str(getattr(fact, k, None)) == v for k, v in filters.items())


def repeat_contact(ctx: CustomerContext, now_ms: int, policy: ContextPolicy) -> str | None:
    """The reason (or channel) that the last contact shares with enough recent contacts."""
    rule = policy.repeat_contact
    recent = [
        f
        for f in ctx.interactions
        if now_ms - f.opened_ms < rule.window_seconds * 1000
        and f.opened_ms <= now_ms
        and _matches(f, rule.filters)
    ]
    if not recent:
        return None
    last = recent[-1]
    key = tuple(getattr(last, p) for p in rule.same)
    if any(v is None for v in key):
        return None
    same = [f for f in recent if tuple(getattr(f, p) for p in rule.same) == key]
    return "/".join(str(v) for v in key) if len(same) >= rule.minimum_count else None


def active_business(ctx: CustomerContext, now_ms: int) -> list[BusinessRecord]:
    return [r for r in ctx.business if r.expires_ms > now_ms and r.at_ms <= now_ms]


def _wanted_moments(ctx: CustomerContext, now_ms: int, policy: ContextPolicy) -> dict[str, str]:
    """Moment name -> cause, for every moment that holds at ``now_ms``."""
    live = [r for r in active_business(ctx, now_ms) if r.kind not in _CLOSING]
    wanted: dict[str, str] = {}
    by_prefix = {
        "incident.": "affected-by-incident",
        "payment.overdue": "payment-overdue",
        "usage.over-consumption": "over-consumption",
        "ticket.": "open-ticket",
        "order.delayed": "order-delayed",
        "order.failed": "order-failed",
    }
    for record in live:
        for prefix, moment in by_prefix.items():
            if record.kind.startswith(prefix):
                wanted.setdefault(moment, record.ref)
    reason = repeat_contact(ctx, now_ms, policy)
    if reason:
        wanted["repeat-contact"] = reason
    if ctx.profile.tier and ctx.profile.tier in policy.high_value_tiers:
        wanted["high-value"] = ctx.profile.tier
    return wanted


@dataclass(frozen=True)
class Refreshed:
    context: CustomerContext
    started: tuple[Moment, ...]
    ended: tuple[Moment, ...]


def refresh(ctx: CustomerContext, now_ms: int, policy: ContextPolicy) -> Refreshed:
    """Drop expired business records and start or end moments as of ``now_ms``."""
    wanted = _wanted_moments(ctx, now_ms, policy)
    current = {m.name: m for m in ctx.moments}
    started = tuple(
        Moment(name=name, started_ms=now_ms, cause=cause)
        for name, cause in sorted(wanted.items())
        if name not in current
    )
    ended = tuple(
        m.model_copy(update={"ended_ms": now_ms})
        for name, m in sorted(current.items())
        if name not in wanted
    )
    moments = tuple(
        sorted([*(m for n, m in current.items() if n in wanted), *started], key=lambda m: m.name)
    )
    business = tuple(r for r in ctx.business if r.expires_ms > now_ms)
    changed = bool(started or ended or len(business) != len(ctx.business))
    update: dict[str, Any] = {"moments": moments, "business": business}
    if changed:
        update["dirty"] = True
    return Refreshed(ctx.model_copy(update=update), started, ended)


def should_publish(ctx: CustomerContext, now_ms: int, policy: ContextPolicy) -> bool:
    """Debounce: at most one snapshot per interval; a dirty context is always published
    once its interval has passed."""
    if not ctx.dirty:
        return False
    if ctx.published_ms is None:
        return True
    return now_ms - ctx.published_ms >= policy.snapshot_interval_seconds * 1000


def snapshot(ctx: CustomerContext, now_ms: int, policy: ContextPolicy) -> ContextSnapshot:
    """The context as published on ``cim.customer.context.v1`` and served over HTTP."""
    inbound = [f for f in ctx.interactions if f.direction == "inbound" and f.opened_ms <= now_ms]

    def within(seconds: int) -> list[InteractionFact]:
        return [f for f in inbound if now_ms - f.opened_ms < seconds * 1000]

    windows = {
        name: WindowCounts(
            contacts=len(within(seconds)),
            by_channel=dict(sorted(Counter(f.channel for f in within(seconds)).items())),
            abandoned=sum(1 for f in within(seconds) if f.abandoned),
        )
        for name, seconds in policy.windows.items()
    }
    handled = [f for f in ctx.interactions if f.with_agent and f.closed_ms is not None]
    closed = [f for f in inbound if f.closed_ms is not None and f.status == "completed"]
    first_time = [f for f in closed if not _followed_up(f, inbound, policy)]
    longest = max(policy.windows.values())
    channels = Counter(f.channel for f in within(longest))
    last = ctx.interactions[-1] if ctx.interactions else None
    served = next((f for f in reversed(ctx.interactions) if f.agent_id), None)
    return ContextSnapshot(
        party_id=ctx.party_id,
        as_of=_time(now_ms),
        windows=windows,
        repeat_contact=repeat_contact(ctx, now_ms, policy),
        first_contact_resolution_rate=round(len(first_time) / len(closed), 4) if closed else None,
        average_handle_ms=(
            round(sum(f.handle_ms for f in handled) / len(handled)) if handled else None
        ),
        last_interaction=(
            LastInteraction(
                id=last.interaction_id,
                channel=last.channel,
                reason=last.reason,
                outcome=last.status,
                opened=_time(last.opened_ms),
            )
            if last
            else None
        ),
        last_agent=(
            LastAgent(
                interaction_id=served.interaction_id,
                agent_id=served.agent_id,
                opened=_time(served.opened_ms),
            )
            if served is not None and served.agent_id
            else None
        ),
        open_interactions=tuple(f.interaction_id for f in ctx.interactions if f.is_open),
        recent_interactions=tuple(f.interaction_id for f in ctx.interactions)[
            -policy.keep_interactions :
        ],
        csat_trend=tuple(f.csat for f in ctx.interactions if f.csat is not None)[
            -policy.trend_length :
        ],
        sentiment_trend=tuple(f.sentiment for f in ctx.interactions if f.sentiment is not None)[
            -policy.trend_length :
        ],
        preferred_channel=(
            max(channels, key=lambda c: (channels[c], _last_use(c, inbound))) if channels else None
        ),
        profile=ctx.profile,
        business=tuple(
            BusinessSummary(
                kind=r.kind,
                ref=r.ref,
                at=_time(r.at_ms),
                expires=_time(r.expires_ms),
                detail=r.detail,
            )
            for r in active_business(ctx, now_ms)
        ),
        moments=tuple(moment_summary(m) for m in ctx.moments),
    )


def moment_summary(m: Moment) -> MomentSummary:
    return MomentSummary(
        name=m.name,
        started=_time(m.started_ms),
        ended=_time(m.ended_ms) if m.ended_ms is not None else None,
        cause=m.cause,
    )


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _followed_up(
    fact: InteractionFact, inbound: list[InteractionFact], policy: ContextPolicy
) -> bool:
    """A later contact for the same reason within the repeat window: not resolved first time."""
    window = policy.repeat_contact.window_seconds * 1000
    return any(
        g.interaction_id != fact.interaction_id
        and g.reason == fact.reason
        and 0 < g.opened_ms - fact.opened_ms < window
        for g in inbound
    )


def _last_use(channel: str, facts: list[InteractionFact]) -> int:
    return max((f.opened_ms for f in facts if f.channel == channel), default=0)
