"""The escalation step: deadlines, conditions and levels fire once each, warnings come before a
breach, and escalations close when their cause ends; the policy is validated at load."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.domain.escalation import case as esc
from interaction_streams.domain.escalation.policy import (
    EscalationPolicy,
    parse_escalation_policy,
)
from interaction_streams.yamlfile import YamlFileError
from tests.tmf import TMF621, assert_valid

T = 1_795_683_600_000  # 2026-11-26T09:00:00Z, a Thursday
S = 1000

POLICY = """
version: t1
warningLeadSeconds: 5
calendars:
  office:
    timeZone: UTC
    hours: {thu: ["09:00-10:00"], fri: ["09:00-10:00"]}
answerTargets:
  - {queue: vip, seconds: 10}
  - {queue: "*", seconds: 60}
answerLevels:
  - {level: L1, priorityBoost: 7}
  - {level: L2, afterSeconds: 20}
email:
  calendar: office
  firstResponseSeconds: 1800
  nextResponseSeconds: 3600
  levels: [{level: L2}]
callback:
  levels: [{level: L2}]
rules:
  - name: vip-waiting
    when: waiting and context.tier == "gold"
    afterSeconds: 30
    levels: [{level: L2}]
  - name: complaint
    when: intent == "complaint"
    closes: end
    levels: [{level: L3, severity: major, ticketType: complaint}]
  - name: second-abandonment
    when: abandoned and context.abandoned24h >= 1
    closes: never
    levels: [{level: L2}]
"""


@pytest.fixture
def policy() -> EscalationPolicy:
    return parse_escalation_policy(POLICY, "test.yaml")


def resource(phase: str, **extra: Any) -> dict[str, Any]:
    status = "completed" if phase == "closed" else "inProgress"
    return {
        "id": "i1",
        "status": status,
        "subStatus": phase,
        "direction": "inbound",
        "routingPool": "p1",
        "relatedChannel": [{"channel": {"id": extra.pop("channel", "voice")}}],
        "relatedParty": [{"role": "customer", "partyOrPartyRole": {"id": "ada"}}],
        **extra,
    }


def run(
    policy: EscalationPolicy, steps: list[tuple[int, Any]], end_ms: int | None = None
) -> tuple[esc.Case, list[esc.Fired]]:
    """Apply (time, update) steps as the shell does; then advance to ``end_ms``."""
    case = esc.Case(interaction_id="i1")
    out: list[esc.Fired] = []
    for at, update in steps:
        case, early = esc.advance(case, policy, at)
        case, late = esc.advance(esc.touched(update(case), at), policy, at)
        out += [*early, *late]
    if end_ms is not None:
        case, fired = esc.advance(case, policy, end_ms)
        out += fired
    return case, out


def kinds(out: list[esc.Fired]) -> list[tuple[str, str, str | None]]:
    return [(f.record.kind, f.record.cause, f.record.level) for f in out]


def queued(at: int, queue: str = "general", **extra: Any) -> tuple[int, Any]:
    return at, lambda c: esc.on_routed(
        esc.on_interaction(c, resource("queued", **extra), at), queue, 0
    )


def answered(at: int) -> tuple[int, Any]:
    return at, lambda c: esc.on_interaction(c, resource("connected"), at)


def closed(at: int, **extra: Any) -> tuple[int, Any]:
    return at, lambda c: esc.on_interaction(c, resource("closed", **extra), at)


def test_answer_target_warns_then_raises_priority_then_alerts_and_closes_on_answer(
    policy: EscalationPolicy,
) -> None:
    case, out = run(policy, [queued(T, "vip")], T + 31 * S)
    assert kinds(out) == [
        ("warning", "answer-time", None),
        ("escalated", "answer-time", "L1"),
        ("escalated", "answer-time", "L2"),
    ]
    warning, l1, l2 = (f.record for f in out)
    assert warning.at == datetime.fromtimestamp((T + 5 * S) / 1000, UTC)
    assert l1.at == datetime.fromtimestamp((T + 10 * S) / 1000, UTC)
    assert out[1].routing is not None and out[1].routing.command == "escalate"
    assert out[1].routing.priority_boost == 7 and out[1].routing.escalation_id == l1.id
    assert l2.at == datetime.fromtimestamp((T + 30 * S) / 1000, UTC)
    case, closing = esc.advance(
        esc.on_interaction(case, resource("connected"), T + 40 * S), policy, T + 40 * S
    )
    assert [(f.record.kind, f.record.level, f.record.reason) for f in closing] == [
        ("closed", "L1", "answered"),
        ("closed", "L2", "answered"),
    ]
    assert closing[0].record.escalation_id == l1.id
    # Nothing fires twice: advancing again, or much later, gives nothing new.
    assert esc.advance(case, policy, T + 500 * S)[1] == []


def test_an_answer_before_the_deadline_prevents_the_breach(policy: EscalationPolicy) -> None:
    _, out = run(policy, [queued(T, "vip"), answered(T + 7 * S)], T + 100 * S)
    assert kinds(out) == [("warning", "answer-time", None)]


def test_a_deadline_passed_before_the_answer_fires_though_no_tick_came(
    policy: EscalationPolicy,
) -> None:
    # No timer tick between: the answer event's time is past the breach, which fires first.
    _, out = run(policy, [queued(T, "vip"), answered(T + 12 * S)])
    assert kinds(out) == [
        ("warning", "answer-time", None),
        ("escalated", "answer-time", "L1"),
        ("closed", "answer-time", "L1"),
    ]


def test_email_first_and_next_response_in_business_hours(policy: EscalationPolicy) -> None:
    email = resource("received", channel="email")
    steps = [
        (T, lambda c: esc.on_message(esc.on_interaction(c, email, T), True, T)),
    ]
    # 09:00 + 30 business minutes = 09:30 on Thursday.
    case, out = run(policy, steps, T + 30 * 60 * S - 5 * S)
    assert kinds(out) == [("warning", "email-first-response", None)]
    case, out = esc.advance(case, policy, T + 30 * 60 * S)
    assert kinds(out) == [("escalated", "email-first-response", "L2")]
    # The agent replies at 09:40: the escalation closes; the customer answers at 09:50 and
    # the next-response target (one business hour) runs 10 minutes on Thursday and 50 on
    # Friday: due Friday 09:50.
    case, out = esc.advance(esc.on_message(case, False, T + 40 * 60 * S), policy, T + 40 * 60 * S)
    assert [(f.record.kind, f.record.reason) for f in out] == [("closed", "replied")]
    case, _ = esc.advance(esc.on_message(case, True, T + 50 * 60 * S), policy, T + 50 * 60 * S)
    friday = T + 86_400 * S + 50 * 60 * S
    assert esc.next_due_ms(case, policy) == friday - 5 * S
    _, out = esc.advance(case, policy, friday)
    assert kinds(out) == [
        ("warning", "email-next-response", None),
        ("escalated", "email-next-response", "L2"),
    ]


def test_a_promised_callback_not_kept_alerts_a_supervisor(policy: EscalationPolicy) -> None:
    case, out = run(policy, [(T, lambda c: esc.on_callback(c, T + 60 * S))], T + 61 * S)
    assert kinds(out) == [("warning", "callback", None), ("escalated", "callback", "L2")]
    _, out = esc.advance(esc.on_callback(case, None), policy, T + 70 * S)
    assert [(f.record.kind, f.record.reason) for f in out] == [("closed", "callback-done")]


def context(at: int, **facts: Any) -> tuple[int, Any]:
    request = RoutingRequest(
        command="enqueue",
        interaction_id="i1",
        routing_pool="p1",
        time=datetime.fromtimestamp(at / 1000, UTC),
        **facts,
    )
    return at, lambda c: esc.on_context(c, request)


def test_a_vip_waiting_too_long_and_a_complaint_with_a_trouble_ticket(
    policy: EscalationPolicy,
) -> None:
    steps = [context(T, context_tier="gold", intent="complaint", party_id="ada"), queued(T)]
    case, out = run(policy, steps, T + 30 * S)
    assert ("escalated", "vip-waiting", "L2") in kinds(out)
    ticket = next(f.record for f in out if f.record.level == "L3")
    assert ticket.cause == "complaint" and ticket.trouble_ticket is not None
    body = ticket.trouble_ticket
    assert body["severity"] == "major" and body["ticketType"] == "complaint"
    assert body["relatedEntity"][0]["entity"]["id"] == "i1"
    assert body["relatedParty"][0]["partyOrPartyRole"]["id"] == "ada"
    assert_valid(TMF621, "TroubleTicket_FVO", body)
    # Answered: the waiting VIP closes; the complaint stays open until the interaction ends.
    case, out = esc.advance(
        esc.on_interaction(case, resource("connected"), T + 40 * S), policy, T + 40 * S
    )
    assert [(f.record.cause, f.record.kind) for f in out] == [("vip-waiting", "closed")]
    _, out = esc.advance(
        esc.on_interaction(case, resource("closed"), T + 90 * S), policy, T + 90 * S
    )
    assert [(f.record.cause, f.record.kind, f.record.reason) for f in out] == [
        ("complaint", "closed", "resolved")
    ]


def test_a_second_abandonment_alerts_once_and_never_closes(policy: EscalationPolicy) -> None:
    steps = [
        context(T, context_abandoned24h=1),
        queued(T),
        closed(T + 5 * S, statusChangeReason="abandoned"),
    ]
    case, out = run(policy, steps, T + 100 * S)
    assert ("escalated", "second-abandonment", "L2") in kinds(out)
    assert not any(k[1] == "second-abandonment" and k[0] == "closed" for k in kinds(out))
    assert not case.open


def signals(out: list[esc.Fired]) -> list[tuple[str, str | None, bool | None]]:
    return [
        (f.outbound.party_id, f.outbound.escalation_id, f.outbound.open) for f in out if f.outbound
    ]


def test_the_outbound_stage_hears_of_a_party_escalation_while_it_is_open(
    policy: EscalationPolicy,
) -> None:
    case, out = run(policy, [queued(T, "vip")], T + 31 * S)
    l1, l2 = (f.record for f in out if f.record.kind == "escalated")
    assert signals(out) == [("ada", l1.id, True), ("ada", l2.id, True)]
    opened = next(f.outbound for f in out if f.outbound is not None)
    assert opened.command == "escalation" and opened.time == l1.at
    case, closing = esc.advance(
        esc.on_interaction(case, resource("connected"), T + 40 * S), policy, T + 40 * S
    )
    assert signals(closing) == [("ada", l1.id, False), ("ada", l2.id, False)]
    # A redelivered answer fires nothing, so nothing reaches the outbound stage twice.
    assert esc.advance(case, policy, T + 41 * S)[1] == []


def test_no_outbound_signal_without_a_party_or_for_an_escalation_that_never_closes(
    policy: EscalationPolicy,
) -> None:
    _, out = run(policy, [queued(T, "vip", relatedParty=[])], T + 31 * S)
    assert ("escalated", "answer-time", "L2") in kinds(out) and signals(out) == []
    steps = [
        context(T, context_abandoned24h=1),
        queued(T),
        closed(T + 5 * S, statusChangeReason="abandoned"),
    ]
    _, out = run(policy, steps, T + 100 * S)
    never = [f for f in out if f.record.cause == "second-abandonment"]
    assert [f.record.kind for f in never] == ["escalated"] and never[0].outbound is None


DAY = 86_400 * S
KEEP = 7 * DAY  # CIM_ESCALATION_CASE_RETENTION_SECONDS by default
RESOLVED = DAY  # CIM_ESCALATION_RETENTION_SECONDS by default


def test_a_case_whose_interaction_never_closes_is_deleted_after_its_last_activity(
    policy: EscalationPolicy,
) -> None:
    # Queued at T, escalated at T+10 s (L1) and T+30 s (L2); the end event never comes.
    case, out = run(policy, [queued(T, "vip")], T + 31 * S)
    l1, l2 = (f.record for f in out if f.record.kind == "escalated")
    assert esc.next_due_ms(case, policy) is None
    assert esc.deletion_due_ms(case, policy, RESOLVED, KEEP) == T + 30 * S + KEEP
    assert esc.expire(case, policy, T + 30 * S + KEEP - 1, RESOLVED, KEEP) is None
    # A later fact (the routing stage re-queues it) keeps the case longer.
    later = T + DAY
    case, _ = esc.advance(esc.touched(esc.on_routed(case, "vip", 0), later), policy, later)
    assert esc.deletion_due_ms(case, policy, RESOLVED, KEEP) == T + DAY + KEEP
    assert esc.expire(case, policy, T + 30 * S + KEEP, RESOLVED, KEEP) is None
    closes = esc.expire(case, policy, T + DAY + KEEP, RESOLVED, KEEP)
    assert closes is not None
    assert [(f.record.kind, f.record.escalation_id, f.record.reason) for f in closes] == [
        ("closed", l1.id, "expired"),
        ("closed", l2.id, "expired"),
    ]
    # The same ids a normal close would have (a consumer drops a duplicate), and the party's
    # cool-down in the outbound stage ends with them.
    assert closes[0].record.id == esc.record_id("i1", l1.cause_key, "L1|closed")
    assert signals(closes) == [("ada", l1.id, False), ("ada", l2.id, False)]
    # Erased instead: the same outbound closes, without records.
    assert esc.released(case, T + DAY + KEEP) == [f.outbound for f in closes if f.outbound]


def test_a_pending_deadline_keeps_a_case_past_its_retention(policy: EscalationPolicy) -> None:
    # A callback promised ten days ahead: kept until it fires, then a retention after that.
    due = T + 10 * DAY
    case, _ = run(policy, [(T, lambda c: esc.on_callback(c, due))])
    assert esc.deletion_due_ms(case, policy, RESOLVED, KEEP) is None
    assert esc.expire(case, policy, T + KEEP + DAY, RESOLVED, KEEP) is None
    case, out = esc.advance(case, policy, due)
    assert kinds(out) == [("warning", "callback", None), ("escalated", "callback", "L2")]
    assert esc.deletion_due_ms(case, policy, RESOLVED, KEEP) == due + KEEP


def test_a_resolved_case_goes_after_the_shorter_resolved_retention(
    policy: EscalationPolicy,
) -> None:
    case, _ = run(policy, [queued(T), answered(T + 2 * S), closed(T + 60 * S)])
    assert case.closed and not case.open
    assert esc.deletion_due_ms(case, policy, RESOLVED, KEEP) == T + 60 * S + RESOLVED
    assert esc.expire(case, policy, T + 60 * S + RESOLVED, RESOLVED, KEEP) == []
    # A case stored before the activity time existed counts from its clock.
    old = esc.Case(interaction_id="i2", clock_ms=T, phase="queued")
    assert esc.deletion_due_ms(old, policy, RESOLVED, KEEP) == T + KEEP


@settings(max_examples=60, deadline=None)
@given(ticks=st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_ticks_at_any_times_give_the_same_records(ticks: list[int]) -> None:
    """A replay fires identically: extra timer ticks between events change nothing."""
    policy = parse_escalation_policy(POLICY, "t.yaml")
    steps = [context(T, context_tier="gold"), queued(T, "vip"), answered(T + 35 * S)]
    _, plain = run(policy, steps, T + 300 * S)
    case = esc.Case(interaction_id="i1")
    out: list[esc.Fired] = []
    pending = sorted(T + t * S for t in ticks)
    for at, update in steps:
        while pending and pending[0] < at:
            case, fired = esc.advance(case, policy, pending.pop(0))
            out += fired
        case, early = esc.advance(case, policy, at)
        case, late = esc.advance(update(case), policy, at)
        out += [*early, *late]
    case, fired = esc.advance(case, policy, T + 300 * S)
    out += fired
    assert sorted(f.record.id for f in out) == sorted(f.record.id for f in plain)
    assert len({f.record.id for f in out}) == len(out)


def test_a_bad_policy_is_refused_with_file_line_and_reason() -> None:
    text = """
calendars:
  office:
    timeZone: Nowhere/City
    hours: {mon: ["08:00-18:00"]}
email:
  calendar: ofice
  firstResponseSeconds: 60
  nextResponseSeconds: 60
  levels: [{level: L2}]
rules:
  - name: a
    when: context.tierr == "gold"
    levels: [{level: L2}, {level: L2}]
  - name: b
    when: waiting and
    levels: [{level: L4}]
"""
    with pytest.raises(YamlFileError) as caught:
        parse_escalation_policy(text, "esc.yaml")
    problems = "\n".join(caught.value.problems)
    assert "esc.yaml:4: calendars.office.timeZone" in problems and "unknown time zone" in problems
    assert "esc.yaml:17: rules.1.levels.0.level" in problems


def test_a_policy_with_consistent_values_reports_cross_field_problems() -> None:
    text = """
calendars:
  office:
    hours: {mon: ["08:00-18:00"]}
email:
  calendar: ofice
  firstResponseSeconds: 60
  nextResponseSeconds: 60
  levels: [{level: L2}]
rules:
  - name: a
    when: context.tierr == "gold"
    levels: [{level: L2}, {level: L2}]
  - name: b
    when: waiting and
    levels: [{level: L2}]
"""
    with pytest.raises(YamlFileError) as caught:
        parse_escalation_policy(text, "esc.yaml")
    problems = caught.value.problems
    assert (
        "esc.yaml:6: email.calendar: unknown calendar 'ofice' (did you mean 'office'?)" in problems
    )
    assert any(
        p.startswith("esc.yaml:12: rules.0.when: unknown fact 'context.tierr'") for p in problems
    )
    assert "esc.yaml:13: rules.0.levels.1.level: level L2 listed twice" in problems
    assert any(p.startswith("esc.yaml:15: rules.1.when: column") for p in problems)


def test_the_shipped_policy_loads() -> None:
    from pathlib import Path

    from interaction_streams.domain.escalation.policy import load_escalation_policy

    policy = load_escalation_policy(Path(__file__).parents[2] / "deploy/policies/escalation.yaml")
    assert {r.name for r in policy.rules} >= {"complaint", "vip-waiting", "second-abandonment"}


def test_the_shipped_policy_combines_business_moments_with_the_contact() -> None:
    from pathlib import Path

    from interaction_streams.domain.escalation.policy import load_escalation_policy

    shipped = load_escalation_policy(Path(__file__).parents[2] / "deploy/policies/escalation.yaml")
    incident = [
        context(T, moments=("affected-by-incident",), context_repeat_contact=True, party_id="ada"),
        queued(T + S),
    ]
    _, out = run(shipped, incident, T + 2 * S)
    assert ("escalated", "incident-calling-again", "L2") in kinds(out)
    ticket = next(f.record for f in out if f.record.level == "L3")
    assert ticket.cause == "incident-calling-again" and ticket.trouble_ticket is not None
    assert ticket.trouble_ticket["severity"] == "critical"
    assert ("escalated", "repeat-contact", "L1") in kinds(out)
    # Affected by an incident but a first contact: no escalation for the incident.
    _, out = run(shipped, [context(T, moments=("affected-by-incident",)), queued(T + S)], T + 2 * S)
    assert not [k for k in kinds(out) if k[1] == "incident-calling-again"]
    # Payment overdue and calling: the priority is raised while the call waits.
    _, out = run(shipped, [context(T, moments=("payment-overdue",)), queued(T + S)], T + 2 * S)
    boost = next(f for f in out if f.record.cause == "overdue-calling")
    assert boost.routing is not None and boost.routing.priority_boost == 5
    # A chat with a payment overdue is not a call.
    chat = [context(T, moments=("payment-overdue",)), queued(T + S, channel="chat")]
    _, out = run(shipped, chat, T + 2 * S)
    assert not [k for k in kinds(out) if k[1] == "overdue-calling"]
    # Sentiment under the threshold during the call alerts a supervisor until it ends.
    sad = [
        queued(T),
        (
            T + S,
            lambda c: esc.on_interaction(
                c,
                resource(
                    "connected",
                    interactionItem=[
                        {"interactionItemType": "sentiment", "value": {"score": -0.8}}
                    ],
                ),
                T + S,
            ),
        ),
    ]
    case, out = run(shipped, sad, T + 2 * S)
    assert ("escalated", "negative-sentiment", "L2") in kinds(out)
    assert [o.cause for o in case.open] == ["negative-sentiment"]
