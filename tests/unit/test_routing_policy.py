"""The routing policy: loading and refusing files, rules, targets over time, overflow."""

from __future__ import annotations

import itertools
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interaction_streams.contract.customer import (
    ContextSnapshot,
    MomentSummary,
    ProfileSummary,
    WindowCounts,
)
from interaction_streams.domain.routing.decide import (
    facts_for,
    next_step_after,
    overflow_for,
    route,
    target_at,
)
from interaction_streams.domain.routing.policy import (
    KNOWN_FACTS,
    RoutingChoice,
    RoutingPolicy,
    SkillSpec,
    Step,
    TargetSpec,
    load_routing_policy,
    next_policy,
    parse_routing_policy,
)
from interaction_streams.domain.routing.skills import SkillRequirement
from interaction_streams.yamlfile import YamlFileError

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "policies" / "routing.yaml"
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> RoutingPolicy:
    return load_routing_policy(EXAMPLE)


def snapshot(
    tier: str | None = None,
    moments: tuple[str, ...] = (),
    ended: tuple[str, ...] = (),
    repeat: str | None = None,
    sentiment: tuple[float, ...] = (),
    contacts24h: int = 0,
    language: str | None = None,
) -> ContextSnapshot:
    return ContextSnapshot(
        party_id="p1",
        as_of=NOW,
        windows={"24h": WindowCounts(contacts=contacts24h, by_channel={}, abandoned=0)},
        repeat_contact=repeat,
        sentiment_trend=sentiment,
        preferred_channel="chat",
        profile=ProfileSummary(tier=tier, segment="consumer", language=language),
        moments=tuple(MomentSummary(name=m, started=NOW) for m in moments)
        + tuple(MomentSummary(name=m, started=NOW, ended=NOW) for m in ended),
    )


# --- the example policy ---------------------------------------------------------------


def test_example_policy_loads(policy: RoutingPolicy) -> None:
    assert policy.version and len(policy.queues) >= 10 and len(policy.rules) >= 10
    assert policy.rules[-1].expression.always
    assert {q.channel for q in policy.queues.values()} >= {"voice", "chat", "email"}


def test_facts_for_reads_the_context() -> None:
    facts = facts_for(
        "voice",
        intent="billing",
        ivr={"menu": "1", "lang": "es"},
        requested_queue="retention",
        context=snapshot(
            tier="gold",
            moments=("payment-overdue",),
            ended=("affected-by-incident",),
            repeat="billing",
            sentiment=(0.2, -0.7),
            contacts24h=4,
            language="es",
        ),
        moments=["open-ticket", "payment-overdue"],
        party_known=True,
    )
    assert facts == {
        "channel": "voice",
        "direction": "inbound",
        "intent": "billing",
        "language": "es",
        "queue": "retention",
        "moments": ["open-ticket", "payment-overdue"],
        "party.known": True,
        "ivr.menu": "1",
        "ivr.lang": "es",
        "context.tier": "gold",
        "context.segment": "consumer",
        "context.repeatContact": True,
        "context.sentiment": -0.7,
        "context.contacts24h": 4,
        "context.preferredChannel": "chat",
    }
    assert {k for k in facts if not k.startswith("ivr.")} <= KNOWN_FACTS
    assert not any(k.startswith("context.") for k in facts_for("chat"))  # all null
    assert facts_for("chat", context=snapshot(moments=("x",)), moments=["y"])["moments"] == [
        "y",
        "x",
    ]


@pytest.mark.parametrize(
    ("facts", "rule"),
    [
        (facts_for("voice", ivr={"menu": "2"}, context=snapshot(tier="platinum")), "vip-voice"),
        (facts_for("voice", moments=["high-value"]), "vip-voice"),
        (facts_for("voice", moments=["affected-by-incident"]), "incident-voice"),
        (facts_for("voice", context=snapshot(repeat="billing")), "repeat-contact-voice"),
        (facts_for("voice", context=snapshot(contacts24h=3)), "repeat-contact-voice"),
        (facts_for("voice", direction="outbound", context=snapshot(contacts24h=3)), "voice"),
        (facts_for("voice", requested_queue="retention"), "retention"),
        (facts_for("voice", intent="cancel"), "retention"),
        (
            facts_for("voice", moments=["payment-overdue"], intent="technical"),
            "overdue-billing-voice",
        ),
        (facts_for("voice", ivr={"menu": "1"}), "billing-voice"),
        (facts_for("voice", intent="refund"), "billing-voice"),
        (facts_for("voice", ivr={"menu": "2"}), "tech-voice"),
        (facts_for("voice", intent="upgrade"), "sales-voice"),
        (facts_for("voice"), "voice"),
        (facts_for("chat", context=snapshot(sentiment=(0.5, -0.8))), "unhappy-chat"),
        (facts_for("chat", context=snapshot(sentiment=(-0.8, 0.1))), "chat"),
        (facts_for("chat", intent="sales"), "sales-chat"),
        (facts_for("chat"), "chat"),
        (facts_for("email"), "email"),
        (facts_for("sms"), "sms"),
        (facts_for("social"), "social"),
        (facts_for("selfservice"), "everything-else"),
        ({}, "everything-else"),
    ],
)
def test_route(policy: RoutingPolicy, facts: dict[str, object], rule: str) -> None:
    choice = route(policy, facts)
    assert choice.rule == rule
    assert choice.target == next(r.target for r in policy.rules if r.name == rule)
    assert choice.policy_version == policy.version


def test_target_over_time(policy: RoutingPolicy) -> None:
    choice = route(policy, facts_for("voice", intent="billing"))
    billing3 = SkillRequirement(skill="billing", min_proficiency=3)
    billing2 = SkillRequirement(skill="billing", min_proficiency=2)
    spanish = SkillRequirement(skill="spanish", min_proficiency=3)
    at = [target_at(policy, choice, s) for s in (0, 19.9, 20, 59, 60, 119, 120, 10_000)]
    assert [t.step for t in at] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert at[0].queues == ("voice-billing",) and at[0].priority == 10
    assert at[0].required == (billing3,) and at[0].optional == (spanish,)
    assert at[2].required == (billing3,) and at[2].optional == ()
    assert at[4].required == (billing2,) and at[4].queues == ("voice-billing",)
    assert at[6].queues == ("voice-billing", "voice-general") and at[6].priority == 25
    assert at[7] == at[6] and at[0].rule == "billing-voice"
    waits = [next_step_after(policy, choice, s) for s in (0, 20, 59.5, 60, 120, 500)]
    assert waits == [20, 60, 60, 120, None, None]


def test_steps_floor_and_cap() -> None:
    spec = TargetSpec(
        queue="a",
        priority=990,
        skills=(SkillSpec(skill="x", min_proficiency=3), SkillSpec(skill="y", optional=True)),
        steps=(
            Step(after_seconds=1, lower_proficiency_by=2, add_queue="a", raise_priority_by=5),
            Step(after_seconds=2, lower_proficiency_by=4, add_queue="b", raise_priority_by=50),
            Step(after_seconds=3, add_queue="b", drop_optional=True),
        ),
    )
    choice = RoutingChoice(rule="r", target=spec)
    policy = RoutingPolicy.model_validate(
        {"queues": {"a": {"channel": "voice"}, "b": {"channel": "voice"}}, "default": spec}
    )
    one, two, three = (target_at(policy, choice, s) for s in (1, 2, 3))
    assert one.required[0].min_proficiency == 1 and one.queues == ("a",) and one.priority == 995
    assert two.required[0].min_proficiency == 1 and two.queues == ("a", "b")
    assert two.priority == 1000 and two.optional == (SkillRequirement(skill="y"),)
    assert three.queues == ("a", "b") and three.optional == ()
    assert route(policy, {}).rule == "default"


def test_choice_survives_a_table(policy: RoutingPolicy) -> None:
    choice = route(policy, facts_for("voice", intent="technical"))
    back = RoutingChoice.model_validate_json(choice.model_dump_json(by_alias=True))
    assert back == choice and back.targets == choice.targets


steps = st.lists(
    st.builds(
        Step,
        after_seconds=st.floats(1, 1000),
        drop_optional=st.booleans(),
        lower_proficiency_by=st.integers(0, 4),
        add_queue=st.sampled_from([None, "a", "b", "c"]),
        raise_priority_by=st.integers(1, 400),
    ),
    max_size=5,
    unique_by=lambda step: step.after_seconds,
).map(lambda s: tuple(sorted(s, key=lambda step: step.after_seconds)))


@given(
    steps,
    st.lists(
        st.tuples(st.sampled_from("xyz"), st.integers(1, 5), st.booleans()),
        max_size=3,
        unique_by=lambda skill: skill[0],
    ),
    st.lists(st.floats(0, 2000), min_size=2, max_size=6),
)
def test_targets_only_relax_over_time(
    given_steps: tuple[Step, ...],
    skills: list[tuple[str, int, bool]],
    waits: list[float],
) -> None:
    spec = TargetSpec(
        queue="a",
        skills=tuple(SkillSpec(skill=s, min_proficiency=p, optional=o) for s, p, o in skills),
        steps=given_steps,
    )
    choice = RoutingChoice(rule="r", target=spec)
    queues = {q: {"channel": "voice"} for q in "abc"}
    policy = RoutingPolicy.model_validate({"queues": queues, "default": spec})
    targets = [target_at(policy, choice, w) for w in sorted(waits)]
    for before, after in itertools.pairwise(targets):
        assert after.priority >= before.priority and after.step >= before.step
        assert after.queues[: len(before.queues)] == before.queues
        assert len(set(after.queues)) == len(after.queues)
        assert {r.skill for r in after.optional} <= {r.skill for r in before.optional}
        for old, new in zip(before.required, after.required, strict=True):
            assert 1 <= new.min_proficiency <= old.min_proficiency
    for w in waits:
        nxt = next_step_after(policy, choice, w)
        assert nxt is None or (nxt > w and target_at(policy, choice, nxt).step > 0)


def test_overflow_for(policy: RoutingPolicy) -> None:
    assert overflow_for(policy, "voice-vip", {}) == "voice-vip"
    assert overflow_for(policy, "voice-vip", {"voice-vip": 20}) == "voice-senior"
    full = {"voice-vip": 20, "voice-senior": 40, "voice-general": 499}
    assert overflow_for(policy, "voice-vip", full) == "voice-general"
    assert overflow_for(policy, "voice-vip", {**full, "voice-general": 500}) is None
    assert overflow_for(policy, "email-support", {"email-support": 10**9}) == "email-support"
    assert overflow_for(policy, "nope", {}) is None


# --- refusing bad policies --------------------------------------------------------------

GOOD = """\
queues:
  billing:
    channel: voice
    overflow: general
  general:
    channel: voice
  chat:
    channel: chat
rules:
  - name: billing
    when: 'intent == "billing"'
    target:
      queue: billing
      skills: [{skill: billing, minProficiency: 3}]
      steps:
        - {afterSeconds: 30, dropOptional: true}
        - {afterSeconds: 60, addQueue: general}
  - name: rest
    when: "true"
    target: {queue: general}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_good_policy(tmp_path: Path) -> None:
    policy = load_routing_policy(write(tmp_path, GOOD))
    assert [r.name for r in policy.rules] == ["billing", "rest"]
    assert policy.queues["billing"].strategy == "longest-idle"
    assert policy.queues["billing"].service_level.percent == 80


@pytest.mark.parametrize(
    ("old", "new", "line", "reason"),
    [
        ("queue: billing\n", "queue: biling\n", 13, "rules.0.target.queue: unknown queue 'biling'"),
        ("overflow: general", "overflow: nowhere", 4, "queues.billing.overflow: unknown queue"),
        (
            "    channel: voice\n  chat:",
            "    channel: voice\n    overflow: billing\n  chat:",
            4,
            "queues.billing.overflow: overflow chain loops: billing -> general -> billing",
        ),
        (
            "addQueue: general",
            "addQueue: chat",
            17,
            "rules.0.target.steps.1.addQueue: queue 'chat' is for chat, not voice",
        ),
        (
            """'intent == "billing"'""",
            """'intent = "billing"'""",
            11,
            "rules.0.when: column 8: unknown operator '=' (use ==)",
        ),
        (
            """'intent == "billing"'""",
            """'(intent == "billing"'""",
            11,
            "rules.0.when: column 1: unclosed parenthesis",
        ),
        (
            """'intent == "billing"'""",
            """'intnet == "billing"'""",
            11,
            "rules.0.when: unknown fact 'intnet' (did you mean 'intent'?)",
        ),
        ("""'intent == "billing"'""", """'ivr == "1"'""", 11, "rules.0.when: unknown fact 'ivr'"),
        (
            "afterSeconds: 60",
            "afterSeconds: 30",
            17,
            "rules.0.target.steps.1.afterSeconds: steps must have increasing afterSeconds",
        ),
        ("- name: rest", "- name: billing", 18, "rules.1.name: duplicate rule name 'billing'"),
        (
            'when: "true"',
            'when: "channel == \\"voice\\""',
            10,
            'rules: the last rule must have when: "true"',
        ),
        (
            """'intent == "billing"'""",
            "'true'",
            18,
            "rules.1: unreachable: rule 'billing' before it always matches",
        ),
        (
            "minProficiency: 3",
            "minProficiency: 6",
            14,
            "rules.0.target.skills.0.minProficiency: Input should be less than or equal to 5",
        ),
        (
            "{afterSeconds: 30, dropOptional: true}",
            "{afterSeconds: 30}",
            16,
            "rules.0.target.steps.0: a step must drop optional skills",
        ),
        ("    channel: chat", "    channel: fax", 8, "queues.chat.channel: Input should be"),
        (
            "  general:\n",
            "  general:\n    channel: voice\n  general:\n",
            7,
            "duplicate key 'general'",
        ),
        ("    target: {queue: general}", "    target: {queue: general", 21, "expected ',' or '}'"),
        ("  - name: rest", "  - nam: rest", 18, "rules.1.name: Field required"),
    ],
)
def test_bad_policy_refused_with_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, reason: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(YamlFileError) as caught:
        load_routing_policy(path)
    wanted = f"{path}:{line}: {reason}"
    assert any(p.startswith(wanted) for p in caught.value.problems), caught.value.problems


def test_every_problem_is_reported(tmp_path: Path) -> None:
    text = GOOD.replace("queue: billing\n", "queue: nope\n").replace(
        """'intent == "billing"'""", """'tier == "gold"'"""
    )
    with pytest.raises(YamlFileError) as caught:
        load_routing_policy(write(tmp_path, text))
    assert len(caught.value.problems) == 2
    assert [p.split(":")[1] for p in caught.value.problems] == ["11", "13"]


def test_empty_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(YamlFileError, match=r"routing.yaml:1: queues: Field required"):
        load_routing_policy(write(tmp_path, ""))
    with pytest.raises(YamlFileError, match="cannot read"):
        load_routing_policy(tmp_path / "missing.yaml")


def test_policy_topic_keeps_the_last_good_policy() -> None:
    origin = "cim.routing.policy.v1[0]@42"
    good = parse_routing_policy(GOOD, origin)
    with pytest.raises(YamlFileError) as caught:
        parse_routing_policy(GOOD.replace("queue: general}", "queue: genral}"), origin)
    assert caught.value.problems == [
        f"{origin}:20: rules.1.target.queue: unknown queue 'genral' (did you mean 'general'?)"
    ]
    kept, problems = next_policy(good, "queues: [", origin)
    assert kept is good and problems and problems[0].startswith(f"{origin}:1: ")
    replaced, problems = next_policy(good, 'version: "2"\n' + GOOD, origin)
    assert replaced is not None and replaced.version == "2" and problems == []
    assert replaced.rules == good.rules and route(replaced, {}).policy_version == "2"
