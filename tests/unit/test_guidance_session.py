"""Guidance sessions: the flow chosen by context, step progress, skipped mandatory steps,
recommendation requests answered externally or by the built-in rules after the time-out, and
the agent's answers recorded once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction_streams.contract.guidance import RecommendationResponse, RecommendedAction
from interaction_streams.domain.guidance import session as g
from interaction_streams.domain.guidance.policy import (
    GuidancePolicy,
    load_guidance_policy,
    parse_guidance_policy,
)
from interaction_streams.yamlfile import YamlFileError

T = 1_795_683_600_000
S = 1000
POLICY = Path(__file__).parents[2] / "deploy" / "policies" / "guidance.yaml"


@pytest.fixture
def policy() -> GuidancePolicy:
    return load_guidance_policy(POLICY)


def start(s: g.Session | None = None) -> g.Session:
    return s or g.Session(interaction_id="i1")


def test_the_flow_branches_on_the_context(policy: GuidancePolicy) -> None:
    overdue = {"intent": "billing", "moments": ("payment-overdue",)}
    _, out = g.on_assign(start(), policy, overdue, "a1", T)
    flow = out.guidance[0]
    assert flow.kind == "flow" and flow.flow_id == "billing" and flow.agent_id == "a1"
    assert [st.id for st in flow.steps] == [
        "verify-identity",
        "explain-overdue",
        "review-bill",
        "recording-notice",
    ]
    assert [st.id for st in flow.steps if st.mandatory] == ["verify-identity", "recording-notice"]
    _, out = g.on_assign(start(), policy, {"intent": "billing", "moments": ()}, "a1", T)
    assert "explain-overdue" not in [st.id for st in out.guidance[0].steps]
    _, out = g.on_assign(start(), policy, {"intent": "roaming"}, "a1", T)
    assert out.guidance[0].flow_id == "general"


def test_a_skipped_mandatory_step_is_flagged_once_and_noted(policy: GuidancePolicy) -> None:
    s, _ = g.on_assign(start(), policy, {"intent": "billing"}, "a1", T)
    s, out = g.on_step(s, "billing", "review-bill", T + S)
    kinds = [x.kind for x in out.guidance]
    assert kinds == ["progress", "skipped"]
    assert out.guidance[0].next_step == "verify-identity"
    assert out.guidance[1].skipped == ("verify-identity",)
    assert len(out.commands) == 1 and out.commands[0].type == "cim.interaction.note.added"
    assert "verify-identity" in str(out.commands[0].data)
    # The same step again (a redelivery) and a late verify change nothing more.
    assert g.on_step(s, "billing", "review-bill", T + 2 * S)[1].guidance == []
    s, out = g.on_step(s, "billing", "verify-identity", T + 3 * S)
    assert [x.kind for x in out.guidance] == ["progress"]
    # Wrap-up: the recording notice was never read.
    s, out = g.on_end(s, T + 9 * S)
    assert out.guidance[0].skipped == ("recording-notice",)
    assert g.on_end(s, T + 10 * S)[1].guidance == []


def test_an_external_answer_is_joined_and_sent_to_the_agent(policy: GuidancePolicy) -> None:
    s, out = g.on_assign(start(), policy, {"moments": ("payment-overdue",)}, "a1", T)
    [request] = out.requests
    assert request.moment == "assignment" and request.agent_id == "a1"
    response = RecommendationResponse(
        request_id=request.id,
        interaction_id="i1",
        items=(
            RecommendedAction(id="x", action="upsell", score=0.2),
            RecommendedAction(id="y", action="offer-payment-plan", score=0.9),
        ),
        time=datetime.fromtimestamp((T + S) / 1000, UTC),
    )
    s, out = g.on_response(s, response, T + S)
    [rec] = out.guidance
    assert rec.kind == "recommendation" and rec.source == "external"
    assert [i.action for i in rec.items] == ["offer-payment-plan", "upsell"]
    assert g.next_due_ms(s) is None
    assert g.on_tick(s, policy, {}, T + 60 * S)[1].guidance == []
    assert g.on_response(s, response, T + 2 * S)[1].guidance == []  # a duplicate


def test_no_answer_in_time_the_built_in_rules_answer(policy: GuidancePolicy) -> None:
    facts = {"moments": ("affected-by-incident", "over-consumption"), "context.repeatContact": True}
    s, out = g.on_assign(start(), policy, facts, "a1", T)
    [request] = out.requests
    assert g.next_due_ms(s) == T + 3 * S
    assert g.on_tick(s, policy, facts, T + 2 * S)[1].guidance == []
    s, out = g.on_tick(s, policy, facts, T + 3 * S)
    [rec] = out.guidance
    assert rec.source == "builtin"
    assert [i.action for i in rec.items] == [
        "tell-restoration-time",
        "suggest-plan-change",
        "route-to-senior-agent",
    ]
    late = RecommendationResponse(
        request_id=request.id, interaction_id="i1", time=datetime.fromtimestamp(T / 1000, UTC)
    )
    assert g.on_response(s, late, T + 4 * S)[1].guidance == []  # too late: the rules answered


def test_an_ivr_answer_waits_for_the_agent(policy: GuidancePolicy) -> None:
    facts = {"moments": ("payment-overdue",)}
    s, out = g.ask(start(), policy, facts, "ivr-completed", T)
    assert [r.moment for r in out.requests] == ["ivr-completed"]
    s, out = g.on_tick(s, policy, facts, T + 5 * S)
    assert out.guidance == []  # no agent yet
    s, out = g.on_assign(s, policy, facts, "a1", T + 9 * S)
    assert [x.kind for x in out.guidance] == ["flow", "recommendation"]
    assert [r.moment for r in out.requests] == ["assignment"]


def test_accept_and_decline_are_recorded_once(policy: GuidancePolicy) -> None:
    s, _ = g.on_assign(start(), policy, {}, "a1", T)
    s, out = g.on_answer(s, "r1", "offer-payment-plan", True, "a1", T + S)
    [command] = out.commands
    assert command.type == "cim.interaction.recommendation.answered"
    assert command.data is not None and command.data["answer"] == "accepted"
    assert g.on_answer(s, "r1", "offer-payment-plan", True, "a1", T + 2 * S)[1].commands == []
    _, out = g.on_answer(s, "r1", "upsell", False, "a1", T + 3 * S)
    assert out.commands[0].data is not None and out.commands[0].data["answer"] == "declined"


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(["verify-identity", "review-bill", "recording-notice"]))
def test_every_mandatory_step_is_done_or_flagged_exactly_once(order: list[str]) -> None:
    policy = load_guidance_policy(POLICY)
    s, _ = g.on_assign(start(), policy, {"intent": "billing"}, "a1", T)
    flagged: list[str] = []
    for n, step in enumerate(order[:2]):
        s, out = g.on_step(s, "billing", step, T + n * S)
        flagged += [x for o in out.guidance for x in o.skipped]
    s, out = g.on_end(s, T + 9 * S)
    flagged += [x for o in out.guidance for x in o.skipped]
    mandatory = {"verify-identity", "recording-notice"}
    assert len(flagged) == len(set(flagged))  # flagged once
    assert set(flagged) <= mandatory  # only mandatory steps are flagged
    assert mandatory <= set(flagged) | set(s.done)  # none slips through
    # Flagged exactly when passed over (a later step done first) or never done.
    flow = ["verify-identity", "review-bill", "recording-notice"]
    done = order[:2]
    for step in mandatory:
        passed_over = any(
            flow.index(x) > flow.index(step)
            for x in done[: done.index(step) if step in done else len(done)]
        )
        assert (step in flagged) == (passed_over or step not in done)


def test_a_bad_guidance_policy_is_refused_with_line_and_reason() -> None:
    text = """
flows:
  - id: a
    when: intnet == "billing"
    steps:
      - {id: x, title: X}
      - {id: x, title: Y, when: "moments has"}
"""
    with pytest.raises(YamlFileError) as caught:
        parse_guidance_policy(text, "g.yaml")
    problems = caught.value.problems
    assert any(p.startswith("g.yaml:4: flows.0.when: unknown fact 'intnet'") for p in problems)
    assert "g.yaml:7: flows.0.steps.1.id: duplicate step id 'x'" in problems
    assert any(p.startswith("g.yaml:7: flows.0.steps.1.when: column") for p in problems)
