"""One step of the customer stage (keyed by party id): what to store and what to send."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from interaction_streams.contract.customer import (
    AreaCommand,
    BusinessNotice,
    ContextSnapshot,
    InteractionFact,
    MomentEvent,
)
from interaction_streams.contract.events.business import IncidentEvent, PartyBusinessEvent
from interaction_streams.contract.events.profile import CustomerProfile
from interaction_streams.domain.context import accumulate
from interaction_streams.domain.context.model import CustomerContext
from interaction_streams.domain.context.policy import ContextPolicy
from interaction_streams.domain.party import profile_keys


@dataclass(frozen=True)
class CustomerStep:
    context: CustomerContext | None  # None: the party leaves the table
    store: bool = True  # False: the record was not about the key's party (an incident)
    index_set: tuple[str, ...] = ()
    index_removed: tuple[str, ...] = ()
    erase: tuple[str, ...] = ()  # interactions to erase
    area_commands: tuple[AreaCommand, ...] = ()
    notices: tuple[tuple[str, BusinessNotice], ...] = ()  # (party id, notice) to forward
    snapshot: ContextSnapshot | None = None  # publish now
    tombstone: bool = False  # publish a tombstone for the party's context
    moments: tuple[MomentEvent, ...] = field(default_factory=tuple)


def empty(party_id: str) -> CustomerContext:
    return CustomerContext(party_id=party_id)


def on_profile(
    ctx: CustomerContext | None,
    profile: CustomerProfile,
    at_ms: int,
    policy: ContextPolicy,
    region: str,
    now_ms: int,
) -> CustomerStep:
    before = ctx or empty(profile.party_id)
    keys = profile_keys(profile, region)
    old_area, new_area = before.profile.service_area, profile.service_area
    areas: list[AreaCommand] = []
    if old_area and old_area != new_area:
        areas.append(AreaCommand(command="leave", area=old_area, party_id=profile.party_id))
    if new_area and new_area != old_area:
        areas.append(AreaCommand(command="join", area=new_area, party_id=profile.party_id))
    updated = accumulate.on_profile(before, profile, at_ms).model_copy(
        update={"contact_keys": tuple(sorted(keys))}
    )
    step = finish(updated, now_ms, policy)
    return CustomerStep(
        step.context,
        index_set=tuple(sorted(keys)),  # all of them: harmless again on a compacted topic
        index_removed=tuple(sorted(set(before.contact_keys) - keys)),
        area_commands=tuple(areas),
        snapshot=step.snapshot,
        moments=step.moments,
    )


def on_erasure(ctx: CustomerContext | None, party_id: str) -> CustomerStep:
    """Forget the party everywhere: index, interactions, area, context (with a tombstone)."""
    if ctx is None:
        return CustomerStep(None, tombstone=True)
    area = ctx.profile.service_area
    return CustomerStep(
        None,
        index_removed=ctx.contact_keys,
        erase=tuple(f.interaction_id for f in ctx.interactions),
        area_commands=(
            (AreaCommand(command="leave", area=area, party_id=party_id),) if area else ()
        ),
        tombstone=True,
    )


def on_fact(
    ctx: CustomerContext | None,
    party_id: str,
    fact: InteractionFact,
    policy: ContextPolicy,
    now_ms: int,
) -> CustomerStep:
    return finish(accumulate.on_fact(ctx or empty(party_id), fact, policy), now_ms, policy)


def on_unlink(
    ctx: CustomerContext | None, interaction_id: str, policy: ContextPolicy, now_ms: int
) -> CustomerStep:
    if ctx is None:
        return CustomerStep(None)
    return finish(accumulate.forget_interaction(ctx, interaction_id), now_ms, policy)


def on_notice(
    ctx: CustomerContext | None,
    party_id: str,
    notice: BusinessNotice,
    policy: ContextPolicy,
    now_ms: int,
) -> CustomerStep:
    updated = accumulate.on_business(
        ctx or empty(party_id), notice.kind, notice.ref, notice.at_ms, notice.detail, policy
    )
    return finish(updated, now_ms, policy)


def notice_of(kind: str, payload: BaseModel, at_ms: int) -> BusinessNotice:
    """The business record of an event: ``kind`` without the ``cim.business.`` prefix."""
    ref = next(
        str(getattr(payload, f))
        for f in ("order_id", "bill_id", "incident_id", "ticket_id", "metric", "party_id")
        if getattr(payload, f, None)
    )
    detail: dict[str, Any] = payload.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"party_id", "party_ids"}
    )
    return BusinessNotice(
        kind=kind.removeprefix("cim.business."), ref=ref, at_ms=at_ms, detail=detail
    )


def on_business_event(
    ctx: CustomerContext | None,
    kind: str,
    payload: BaseModel,
    at_ms: int,
    policy: ContextPolicy,
    now_ms: int,
) -> CustomerStep:
    """A business event read from the stage topic: a party's own event is applied; an
    incident is forwarded to its listed customers and to its service area."""
    notice = notice_of(kind, payload, at_ms)
    if isinstance(payload, IncidentEvent):
        areas = (
            (AreaCommand(command="incident", area=payload.service_area, notice=notice),)
            if payload.service_area
            else ()
        )
        return CustomerStep(
            ctx,
            store=False,
            notices=tuple((p, notice) for p in payload.party_ids),
            area_commands=areas,
        )
    assert isinstance(payload, PartyBusinessEvent)
    return on_notice(ctx, payload.party_id, notice, policy, now_ms)


def finish(ctx: CustomerContext, now_ms: int, policy: ContextPolicy) -> CustomerStep:
    """Refresh moments and expiry as of ``now_ms``; publish a snapshot when debouncing lets."""
    refreshed = accumulate.refresh(ctx, now_ms, policy)
    context = refreshed.context
    moments = tuple(
        MomentEvent(party_id=ctx.party_id, moment=accumulate.moment_summary(m), state="started")
        for m in refreshed.started
    ) + tuple(
        MomentEvent(party_id=ctx.party_id, moment=accumulate.moment_summary(m), state="ended")
        for m in refreshed.ended
    )
    snapshot = None
    if accumulate.should_publish(context, now_ms, policy):
        snapshot = accumulate.snapshot(context, now_ms, policy)
        context = context.model_copy(update={"published_ms": now_ms, "dirty": False})
    return CustomerStep(context, snapshot=snapshot, moments=moments)
