"""The solicitation decision and the outbound stage's steps, without a broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from interaction_streams.contract.customer import InteractionFact, MomentEvent, MomentSummary
from interaction_streams.contract.events.outbound import (
    CallbackOrigin,
    DeliveryUpdated,
    OutboundRequested,
)
from interaction_streams.contract.events.profile import Consent, CustomerProfile
from interaction_streams.domain.outbound import stage
from interaction_streams.domain.outbound.model import OutboundParty
from interaction_streams.domain.outbound.policy import SolicitationPolicy, load_solicitation_policy
from interaction_streams.settings import Settings
from tests.tmf import TMF681, assert_valid

POLICY = load_solicitation_policy(Settings().solicitation_policy)
T = 1_795_683_600_000  # 2026-11-26T09:00:00Z (09:00 in London: not quiet)
H, DAY = 3_600_000, 86_400_000


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def consents(*pairs: str) -> tuple[Consent, ...]:
    out = []
    for pair in pairs:
        channel, purpose = pair.split("/")
        out.append(Consent(channel=channel, purpose=purpose, granted=True))
    return tuple(out)


def party(*pairs: str, tz: str = "Europe/London", **extra: Any) -> OutboundParty:
    profile = CustomerProfile(
        party_id="ada",
        name="Ada",
        phones=("+447700900001",),
        emails=("ada@example.com",),
        time_zone=tz,
        consents=consents(*pairs),
        **extra,
    )
    step = stage.on_profile(None, profile, T - DAY, POLICY)
    assert step.party is not None
    return step.party


def request(rid: str, purpose: str = "marketing", **extra: Any) -> OutboundRequested:
    return OutboundRequested(
        party_id="ada", request_id=rid, purpose=purpose, template=f"t-{rid}", **extra
    )


def run(p: OutboundParty, req: OutboundRequested, now: int) -> stage.OutboundStep:
    return stage.on_request(p, req, now, POLICY)


def test_consent_per_channel_and_purpose_with_fallback() -> None:
    p = party("email/marketing", "sms/service")
    step = run(p, request("r1", preferred_channels=("sms",)), T)
    d = step.decisions[0]
    assert (d.outcome, d.channel, d.reasons) == ("sent", "email", ("fallback:email",))
    step = run(p, request("r2", purpose="collections"), T)
    d = step.decisions[0]
    assert (d.outcome, d.rule) == ("suppressed", "consent")
    assert d.reasons[0] == "no-consent" and "consent:sms" in d.reasons


def test_do_not_contact_and_no_profile_suppress_even_alerts() -> None:
    p = party("sms/alert", do_not_contact=True)
    d = run(p, request("r1", purpose="alert"), T).decisions[0]
    assert (d.outcome, d.reasons) == ("suppressed", ("do-not-contact",))
    d = stage.on_request(None, request("r2", purpose="alert"), T, POLICY).decisions[0]
    assert (d.outcome, d.rule) == ("suppressed", "consent")


def test_quiet_hours_in_the_customers_zone_defer_to_scheduled_send_time() -> None:
    late = T + 13 * H + 30 * 60_000  # 22:30 UTC
    london = run(party("sms/marketing"), request("r1"), late).decisions[0]
    assert london.outcome == "deferred" and london.reasons == ("quiet-hours",)
    assert london.scheduled_send_time == at(T + DAY - H)  # 08:00 London on the 27th
    ny = run(party("sms/marketing", tz="America/New_York"), request("r1"), late).decisions[0]
    assert ny.outcome == "sent"  # 17:30 in New York


def test_a_deferred_request_is_sent_when_the_timer_fires() -> None:
    late = T + 13 * H
    step = run(party("sms/marketing"), request("r1"), late)
    assert step.party is not None and step.party.due_ms() == T + DAY - H
    early = stage.on_fire(step.party, T + DAY - H - 1, POLICY)
    assert early.decisions == () and early.messages == ()
    fired = stage.on_fire(step.party, T + DAY - H, POLICY)
    assert [d.outcome for d in fired.decisions] == ["sent"]
    assert fired.messages[0].scheduledSendTime == "2026-11-27T08:00:00.000Z"
    assert fired.party is not None and fired.party.pending == ()


@settings(max_examples=60, deadline=None)
@given(gap=st.integers(min_value=1, max_value=3 * DAY))
def test_daily_cap_counts_a_contact_until_exactly_one_day_has_passed(gap: int) -> None:
    p = party("sms/marketing", "email/marketing")
    first = run(p, request("r1"), T)
    assert first.party is not None
    second = run(first.party, request("r2"), T + gap).decisions[0]
    if gap < DAY:
        assert (second.outcome, second.rule) == ("suppressed", "marketing-day")
        assert second.reasons == ("cap:marketing-day",)
    else:
        assert second.outcome in ("sent", "deferred")  # deferred only by quiet hours


def test_weekly_cap_across_channels_at_its_boundary() -> None:
    p = party("sms/marketing", "email/marketing")
    s1 = run(p, request("r1", preferred_channels=("sms",)), T)
    s2 = run(s1.party, request("r2", preferred_channels=("email",)), T + DAY)  # type: ignore[arg-type]
    assert [d.channel for d in (*s1.decisions, *s2.decisions)] == ["sms", "email"]
    s3 = run(s2.party, request("r3"), T + 7 * DAY - 1)  # type: ignore[arg-type]
    assert s3.decisions[0].reasons == ("cap:marketing-week",)
    s4 = run(s2.party, request("r4"), T + 7 * DAY)  # type: ignore[arg-type]
    assert s4.decisions[0].outcome == "sent"  # the first contact is exactly 7 days old


def test_service_alerts_bypass_caps_and_quiet_hours_but_not_consent() -> None:
    policy = POLICY.model_copy(
        update={
            "caps": (
                *POLICY.caps,
                POLICY.caps[0].model_copy(
                    update={"name": "all-day", "purposes": ("marketing", "alert"), "max": 1}
                ),
            )
        }
    )
    p = party("sms/marketing", "sms/alert")
    s1 = stage.on_request(p, request("r1"), T, policy)
    night = T + 14 * H
    s2 = stage.on_request(s1.party, request("r2", purpose="alert"), night, policy)
    assert (s2.decisions[0].outcome, s2.decisions[0].reasons) == (
        "sent",
        ("exempt:service-alerts",),
    )
    s3 = stage.on_request(party("sms/marketing"), request("r3", purpose="alert"), T, policy)
    assert s3.decisions[0].rule == "consent"


def test_the_same_message_within_the_window_is_a_duplicate() -> None:
    p = party("sms/service", "email/service")
    params = {"order": "o-1"}
    s1 = run(p, request("r1", purpose="service", parameters=params), T)
    dup = request("r2", purpose="service", parameters=params).model_copy(
        update={"template": "t-r1"}
    )
    d = run(s1.party, dup, T + DAY - 1).decisions[0]  # type: ignore[arg-type]
    assert (d.outcome, d.rule) == ("suppressed", "dedup")
    assert run(s1.party, dup, T + DAY).decisions[0].outcome == "sent"  # type: ignore[arg-type]
    again = run(s1.party, request("r1", purpose="service", parameters=params), T + 1)  # type: ignore[arg-type]
    assert again.decisions == () and not again.store  # a re-delivered request: decided already


def test_complaint_and_escalation_cool_down_marketing_not_service() -> None:
    p = party("sms/marketing", "sms/service")
    fact = InteractionFact(
        interaction_id="c1",
        channel="voice",
        reason="complaint",
        status="completed",
        opened_ms=T - H,
        closed_ms=T - H + 60_000,
    )
    p2 = stage.on_fact(p, "ada", fact, "c1", T, POLICY).party
    assert p2 is not None and p2.complaint_ms == T - H
    assert run(p2, request("r1"), T).decisions[0].reasons == ("cool-down:complaint",)
    assert run(p2, request("r2", purpose="service"), T).decisions[0].outcome == "sent"
    assert run(p2, request("r3"), T - H + 7 * DAY).decisions[0].outcome == "sent"
    p3 = stage.on_escalation(p, "ada", "esc-1", True, T, POLICY).party
    assert run(p3, request("r4"), T).decisions[0].reasons == ("cool-down:escalation",)  # type: ignore[arg-type]
    p4 = stage.on_escalation(p3, "ada", "esc-1", False, T, POLICY).party
    assert run(p4, request("r5"), T).decisions[0].outcome == "sent"  # type: ignore[arg-type]


def test_a_notice_is_held_during_an_inbound_interaction_and_queue_position_folded() -> None:
    p = party("sms/service", "sms/queue-position")
    call = InteractionFact(
        interaction_id="c1", channel="voice", status="inProgress", opened_ms=T - 60_000
    )
    busy = stage.on_fact(p, "ada", call, "c1", T, POLICY).party
    assert busy is not None and busy.open_inbound == ("c1",)
    held = run(busy, request("r1", purpose="service"), T)
    assert held.decisions[0].outcome == "deferred"
    assert held.decisions[0].reasons == ("held:inbound-interaction",)
    folded = run(busy, request("r2", purpose="queue-position"), T).decisions[0]
    assert (folded.outcome, folded.reasons[0]) == ("suppressed", "folded:inbound-interaction")
    longest = stage.on_fire(held.party, T + H, POLICY)  # held for its maximum: it goes
    assert [(d.outcome, d.request_id) for d in longest.decisions] == [("sent", "r1")]
    ended = call.model_copy(update={"status": "completed", "closed_ms": T + 120_000})
    released = stage.on_fact(held.party, "ada", ended, "c1", T + 120_000, POLICY)
    assert [d.outcome for d in released.decisions] == ["sent"]
    assert released.party is not None and released.party.pending == ()


def test_approved_contact_is_a_valid_tmf681_message_and_an_outbound_interaction() -> None:
    step = run(party("email/service"), request("r1", purpose="service", urgency="high"), T)
    message = step.messages[0].wire()
    assert_valid(TMF681, "CommunicationMessage", message)
    assert_valid(TMF681, "CommunicationMessage_Create", message)
    assert message["messageType"] == "Email" and message["priority"] == "1"
    assert message["receiver"][0]["email"] == "ada@example.com"
    create = step.interactions[0]
    assert create.type == "cim.api.create" and create.interaction_id == "ob-r1"
    assert create.data is not None and create.data["direction"] == "outbound"
    d = step.decisions[0]
    assert (d.interaction_id, d.message_id) == ("ob-r1", "cm-r1")


def test_delivery_failure_fails_the_interaction_and_frees_the_cap() -> None:
    p = party("sms/marketing")
    s1 = run(p, request("r1"), T)
    failed = DeliveryUpdated(party_id="ada", request_id="r1", status="bounced", reason="no such")
    s2 = stage.on_delivery(s1.party, failed, T + 60_000, POLICY)
    patch = s2.interactions[0]
    assert patch.type == "cim.api.patch" and patch.data is not None
    assert patch.data["status"] == "failed"
    assert run(s2.party, request("r2"), T + 120_000).decisions[0].outcome == "sent"  # type: ignore[arg-type]
    assert run(s1.party, request("r2"), T + 120_000).decisions[0].rule == "marketing-day"  # type: ignore[arg-type]


def callback(promised: int) -> OutboundRequested:
    return request(
        "cb1",
        purpose="callback",
        valid_from=at(promised),
        callback=CallbackOrigin(
            interaction_id="call-1",
            routing_pool="emea",
            queue="billing",
            priority=7,
            enqueued_at=at(T - 600_000),
        ),
    )


def test_a_callback_is_routed_at_the_promised_time_with_its_original_priority_and_age() -> None:
    p = party()  # no consent record: the customer asked for the callback
    s1 = run(p, callback(T + H), T)
    assert s1.decisions[0].outcome == "deferred"
    assert s1.decisions[0].scheduled_send_time == at(T + H)
    fired = stage.on_fire(s1.party, T + H, POLICY)
    route = fired.routes[0]
    assert (route.routing_pool, route.min_priority, route.enqueued_ms) == ("emea", 7, T - 600_000)
    assert (route.direction, route.requested_queue, route.interaction_id) == (
        "outbound",
        "billing",
        "ob-cb1",
    )
    assert fired.messages == ()
    answered = InteractionFact(
        interaction_id="ob-cb1",
        channel="voice",
        direction="outbound",
        status="inProgress",
        opened_ms=T + H,
        with_agent=True,
    )
    kept = stage.on_fact(fired.party, "ada", answered, "ob-cb1", T + H + 60_000, POLICY)
    assert stage.on_fire(kept.party, T + 2 * H, POLICY).decisions == ()
    missed = stage.on_fire(fired.party, T + H + 900_000, POLICY).decisions
    assert [(d.outcome, d.reasons, d.original_interaction_id) for d in missed] == [
        ("missed", ("callback-missed",), "call-1")
    ]


def moment(name: str, state: str, start: int, cause: str = "inc-9") -> MomentEvent:
    return MomentEvent(
        party_id="ada",
        moment=MomentSummary(name=name, started=at(start), cause=cause),
        state=state,
    )


def test_moments_trigger_requests_and_uninformed_incident_customers_are_flagged() -> None:
    p = party("sms/alert")
    s1 = stage.on_moment(p, moment("affected-by-incident", "started", T), T, POLICY)
    assert [(d.outcome, d.trigger) for d in s1.decisions] == [("sent", "incident-alert")]
    assert "inc-9" in s1.messages[0].content
    assert stage.on_fire(s1.party, T + 2 * H, POLICY).decisions == ()  # informed
    quiet = party()  # no consent for alerts: not informed
    s2 = stage.on_moment(quiet, moment("affected-by-incident", "started", T), T, POLICY)
    assert s2.decisions[0].outcome == "suppressed"
    flagged = stage.on_fire(s2.party, T + H, POLICY).decisions
    assert [(d.outcome, d.reasons) for d in flagged] == [
        ("flagged", ("incident-not-informed", "inc-9"))
    ]
    again = stage.on_moment(s1.party, moment("affected-by-incident", "started", T), T, POLICY)
    assert again.decisions == ()  # a re-delivered moment


def test_erasure_forgets_the_party() -> None:
    assert stage.on_erasure(party()).party is None


def test_validity_window() -> None:
    p = party("sms/marketing")
    d = run(p, request("r1", valid_until=at(T - 1)), T).decisions[0]
    assert (d.outcome, d.reasons) == ("suppressed", ("expired",))
    late = request("r2", valid_until=at(T + 14 * H))  # quiet hours outlast the validity
    d = run(p, late, T + 13 * H).decisions[0]
    assert (d.outcome, d.reasons) == ("suppressed", ("quiet-hours", "expired"))


def test_policy_history_is_the_longest_window() -> None:
    assert SolicitationPolicy().history_ms == DAY
    assert POLICY.history_ms == 7 * DAY
    assert timedelta(milliseconds=POLICY.history_ms).days == 7


def test_a_message_sent_by_another_system_counts_against_the_caps() -> None:
    p = party("sms/marketing")
    outside = DeliveryUpdated(
        party_id="ada", request_id="gw-1", status="delivered", channel="sms", purpose="marketing"
    )
    counted = stage.on_delivery(p, outside, T, POLICY)
    assert counted.interactions == ()  # not ours: no interaction to patch
    d = run(counted.party, request("r1"), T + 1).decisions[0]  # type: ignore[arg-type]
    assert d.reasons == ("cap:marketing-day",)
    unnamed = outside.model_copy(update={"purpose": None})
    assert not stage.on_delivery(p, unnamed, T, POLICY).store


def test_stage_topics_are_co_partitioned() -> None:
    from interaction_streams.contract.topics import TopicContract

    contract = TopicContract.load()
    ids = ["ingested-outbound", "ingested-profile", "customer-commands", "customer-moments"]
    counts = {contract[i].partitions for i in [*ids, "outbound-commands"]}
    assert len(counts) == 1, counts
