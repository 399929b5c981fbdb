"""The customer context, without a broker: windows, repeat contact, business records,
moments, debouncing and area buckets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interaction_streams.contract.customer import InteractionFact
from interaction_streams.contract.events.business import IncidentEvent
from interaction_streams.contract.events.profile import CustomerProfile
from interaction_streams.domain.context import accumulate, areas, stage
from interaction_streams.domain.context.model import CustomerContext
from interaction_streams.domain.context.policy import ContextPolicy, load_policy
from interaction_streams.yamlfile import YamlFileError

H = 3_600_000
DAY = 24 * H
NOW = 100 * DAY
POLICY = ContextPolicy()


def fact(
    n: int, opened: int, reason: str = "billing", channel: str = "voice", **kw: object
) -> InteractionFact:
    return InteractionFact(
        interaction_id=f"i{n}",
        channel=channel,
        reason=reason,
        status=str(kw.pop("status", "completed")),
        opened_ms=opened,
        closed_ms=opened + 60_000,
        **kw,
    )


def with_facts(*facts: InteractionFact) -> CustomerContext:
    ctx = CustomerContext(party_id="p")
    for f in facts:
        ctx = accumulate.on_fact(ctx, f, POLICY)
    return ctx


def test_window_counts_at_their_event_time_boundaries() -> None:
    ctx = with_facts(
        fact(1, NOW - DAY),  # exactly 24 h ago: outside the 24 h window (half-open)
        fact(2, NOW - DAY + 1),  # inside
        fact(3, NOW - 7 * DAY, channel="chat"),  # outside 7 d
        fact(4, NOW - 7 * DAY + 1, channel="chat"),
        fact(5, NOW - 30 * DAY + 1, channel="email"),
        fact(6, NOW + 1),  # in the future of now: not counted yet
    )
    snap = accumulate.snapshot(ctx, NOW, POLICY)
    assert snap.windows["24h"].contacts == 1
    assert snap.windows["7d"].contacts == 3
    assert snap.windows["7d"].by_channel == {"chat": 1, "voice": 2}
    assert snap.windows["30d"].contacts == 5
    assert snap.preferred_channel == "voice"


def test_repeat_contact_needs_the_same_reason_within_the_window() -> None:
    rule_window = POLICY.repeat_contact.window_seconds * 1000
    ctx = with_facts(fact(1, NOW - rule_window + 1), fact(2, NOW - H, reason="roaming"))
    assert accumulate.repeat_contact(ctx, NOW, POLICY) is None
    ctx = accumulate.on_fact(ctx, fact(3, NOW), POLICY)
    assert accumulate.repeat_contact(ctx, NOW, POLICY) == "billing"
    # one millisecond later the first contact leaves the window
    assert accumulate.repeat_contact(ctx, NOW + 1, POLICY) is None


def test_outbound_contacts_are_filtered_out_of_repeat_contact() -> None:
    ctx = with_facts(fact(1, NOW - H, direction="outbound"), fact(2, NOW))
    assert accumulate.repeat_contact(ctx, NOW, POLICY) is None


def test_fcr_abandonments_aht_trends_and_open_interactions() -> None:
    ctx = with_facts(
        fact(1, NOW - 10 * DAY, reason="a", with_agent=True, handle_ms=100_000, csat=5),
        fact(
            2, NOW - 5 * DAY, reason="b", with_agent=True, handle_ms=200_000, csat=2, sentiment=-0.5
        ),
        fact(3, NOW - 5 * DAY + H, reason="b", status="disrupted", abandoned=True),
        fact(4, NOW - H, reason="c", status="inProgress"),
    )
    ctx = accumulate.on_fact(
        ctx,
        fact(4, NOW - H, reason="c", status="inProgress").model_copy(update={"closed_ms": None}),
        POLICY,
    )
    snap = accumulate.snapshot(ctx, NOW, POLICY)
    # completed: i1 (not followed up) and i2 (followed by i3 for the same reason)
    assert snap.first_contact_resolution_rate == 0.5
    assert snap.average_handle_ms == 150_000
    assert snap.windows["7d"].abandoned == 1
    assert snap.csat_trend == (5, 2) and snap.sentiment_trend == (-0.5,)
    assert snap.open_interactions == ("i4",)
    assert snap.last_interaction is not None and snap.last_interaction.id == "i4"


def test_business_records_resolve_expire_and_drive_moments() -> None:
    ctx = CustomerContext(party_id="p")
    ctx = accumulate.on_business(ctx, "payment.overdue", "bill-1", NOW - DAY, {}, POLICY)
    ctx = accumulate.on_business(ctx, "incident.opened", "inc-1", NOW - H, {}, POLICY)
    refreshed = accumulate.refresh(ctx, NOW, POLICY)
    assert [m.name for m in refreshed.started] == ["affected-by-incident", "payment-overdue"]
    ctx = accumulate.on_business(refreshed.context, "payment.received", "bill-1", NOW, {}, POLICY)
    ctx = accumulate.on_business(ctx, "incident.resolved", "inc-1", NOW, {}, POLICY)
    later = accumulate.refresh(ctx, NOW + 1, POLICY)
    assert sorted(m.name for m in later.ended) == ["affected-by-incident", "payment-overdue"]
    assert later.context.moments == ()
    # records expire with their time to live
    ctx = accumulate.on_business(
        CustomerContext(party_id="p"), "usage.over-consumption", "data", NOW, {}, POLICY
    )
    ttl = POLICY.ttl_ms("usage")
    assert [m.name for m in accumulate.refresh(ctx, NOW + ttl - 1, POLICY).started] == [
        "over-consumption"
    ]
    assert accumulate.refresh(ctx, NOW + ttl, POLICY).context.business == ()


def test_high_value_and_repeat_contact_moments() -> None:
    profile = CustomerProfile(party_id="p", tier="gold")
    ctx = accumulate.on_profile(with_facts(fact(1, NOW - H), fact(2, NOW)), profile, NOW)
    started = accumulate.refresh(ctx, NOW, POLICY).started
    assert {(m.name, m.cause) for m in started} == {
        ("high-value", "gold"),
        ("repeat-contact", "billing"),
    }


def test_debouncing_publishes_at_most_once_per_interval_and_the_last_state() -> None:
    policy = ContextPolicy(snapshot_interval_seconds=10)
    first = stage.on_fact(None, "p", fact(1, NOW), policy, NOW)
    assert first.snapshot is not None and first.context is not None
    second = stage.on_fact(first.context, "p", fact(2, NOW + 1_000), policy, NOW + 1_000)
    assert second.snapshot is None and second.context is not None and second.context.dirty
    assert not accumulate.should_publish(second.context, NOW + 9_999, policy)
    flushed = stage.finish(second.context, NOW + 10_000, policy)
    assert flushed.snapshot is not None
    assert flushed.snapshot.recent_interactions == ("i1", "i2")
    assert flushed.context is not None and not flushed.context.dirty
    assert stage.finish(flushed.context, NOW + 50_000, policy).snapshot is None  # nothing new


def test_incident_for_an_area_goes_to_the_area_and_listed_customers_only() -> None:
    incident = IncidentEvent(incident_id="inc-9", service_area="N1", party_ids=("p1", "p2"))
    step = stage.on_business_event(None, "cim.business.incident.opened", incident, NOW, POLICY, NOW)
    assert not step.store
    assert [(c.command, c.area) for c in step.area_commands] == [("incident", "N1")]
    assert [p for p, _ in step.notices] == ["p1", "p2"]
    assert step.notices[0][1].kind == "incident.opened" and step.notices[0][1].ref == "inc-9"


def test_profile_moves_area_membership_and_erasure_forgets_everything() -> None:
    p1 = CustomerProfile(party_id="p", service_area="N1", phones=("+442079460018",))
    step = stage.on_profile(None, p1, NOW, POLICY, "GB", NOW)
    assert [(c.command, c.area) for c in step.area_commands] == [("join", "N1")]
    assert step.index_set == ("tel:+442079460018",)
    p2 = p1.model_copy(update={"service_area": "N2", "phones": ()})
    moved = stage.on_profile(step.context, p2, NOW, POLICY, "GB", NOW)
    assert [(c.command, c.area) for c in moved.area_commands] == [("leave", "N1"), ("join", "N2")]
    assert moved.index_removed == ("tel:+442079460018",)
    assert moved.context is not None
    ctx = accumulate.on_fact(moved.context, fact(1, NOW), POLICY)
    erased = stage.on_erasure(ctx, "p")
    assert erased.context is None and erased.tombstone and erased.erase == ("i1",)
    assert [(c.command, c.area) for c in erased.area_commands] == [("leave", "N2")]


@given(
    st.lists(st.sampled_from([f"p{n}" for n in range(40)]), max_size=60),
    st.lists(st.sampled_from([f"p{n}" for n in range(40)]), max_size=30),
)
def test_area_buckets_hold_exactly_the_members(joins: list[str], leaves: list[str]) -> None:
    table: dict[str, areas.AreaBucket] = {}
    for party in joins:
        key = areas.bucket_key("N1", party)
        table[key] = areas.join(table.get(key), party)
    for party in leaves:
        key = areas.bucket_key("N1", party)
        remaining = areas.leave(table.get(key), party)
        if remaining is None:
            table.pop(key, None)
        else:
            table[key] = remaining
    members = [p for k in areas.bucket_keys("N1") if k in table for p in table[k].parties]
    assert sorted(members) == sorted(set(joins) - set(leaves))


def test_policy_file_is_validated_with_file_and_line(tmp_path: Path) -> None:
    good = tmp_path / "context.yaml"
    good.write_text("windows:\n  1h: 3600\nrepeatContact:\n  windowSeconds: 600\n")
    policy = load_policy(good)
    assert policy.windows == {"1h": 3600} and policy.repeat_contact.window_seconds == 600
    bad = tmp_path / "bad.yaml"
    bad.write_text("windows:\n  1h: 3600\nrepeatContact:\n  minimumCount: 1\n")
    with pytest.raises(YamlFileError) as refused:
        load_policy(bad)
    assert refused.value.problems[0].startswith(f"{bad}:4: repeatContact.minimumCount")
