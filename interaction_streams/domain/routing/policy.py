"""The routing policy: queues with their service level, and ordered rules (first match wins).

A rule's ``when`` is an expression (``expressions.py``) over the routing facts
(``KNOWN_FACTS``); its target names a queue, a priority and skills, and timed steps that
relax the target while the interaction waits (TaskRouter targets with time-outs, Connect
routing-criteria steps, Genesys bullseye rings).

Loaded from YAML (``CIM_ROUTING_POLICY``) or from the text of a record on the policy topic;
both are validated the same way and a bad policy is refused with one ``origin:line: reason``
per problem (``YamlFileError``), so the worker keeps its last good one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.agent import MediaChannel
from interaction_streams.domain.routing.expressions import (
    Expression,
    ExpressionError,
    compile_expression,
)
from interaction_streams.domain.routing.skills import SkillRequirement, Target
from interaction_streams.yamlfile import (
    PolicyProblems,
    YamlFileError,
    parse_yaml_model,
    read_text,
)

KNOWN_FACTS = frozenset(
    {
        "channel",
        "direction",
        "intent",
        "language",
        "queue",
        "context.tier",
        "context.segment",
        "context.repeatContact",
        "context.sentiment",
        "context.contacts24h",
        "context.preferredChannel",
        "moments",
        "party.known",
    }
)
FACT_PREFIXES = ("ivr.",)  # ``ivr.<selection>``: any IVR menu
CHANNEL_STATUS_FACTS = frozenset(
    f"channelStatus.{c}" for c in ("voice", "chat", "email", "sms", "social", "selfservice")
)  # "up", "degraded" or "down" (null: no status known) from cim.channel.status.v1
Strategy = Literal[
    "longest-idle", "least-occupied", "round-robin", "best-skill-match", "fewest-contacts-today"
]
Loc = tuple[int | str, ...]
QueueName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


def is_known_fact(name: str) -> bool:
    return (
        name in KNOWN_FACTS
        or name in CHANNEL_STATUS_FACTS
        or (name.startswith(FACT_PREFIXES) and name not in FACT_PREFIXES)
    )


class ServiceLevel(WireModel):
    """``percent`` of the contacts answered within ``within_seconds``."""

    percent: float = Field(default=80.0, gt=0, le=100)
    within_seconds: float = Field(default=20.0, gt=0)


class Queue(WireModel):
    channel: MediaChannel
    service_level: ServiceLevel = ServiceLevel()
    priority_weight: float = Field(default=1.0, gt=0, le=100)
    max_length: int | None = Field(default=None, ge=1)  # None: no limit
    overflow: str | None = None  # where a new contact goes when this queue is full
    strategy: Strategy = "longest-idle"


class SkillSpec(WireModel):
    skill: str = Field(min_length=1, max_length=64)
    min_proficiency: int = Field(default=1, ge=1, le=5)
    optional: bool = False


class Step(WireModel):
    """After ``after_seconds`` of waiting, relax or raise the target."""

    after_seconds: float = Field(gt=0)
    drop_optional: bool = False
    lower_proficiency_by: int = Field(default=0, ge=0, le=4)
    add_queue: str | None = None
    raise_priority_by: int = Field(default=0, ge=0, le=1000)

    @model_validator(mode="after")
    def _does_something(self) -> Step:
        if not (
            self.drop_optional
            or self.lower_proficiency_by
            or self.add_queue
            or self.raise_priority_by
        ):
            raise ValueError(
                "a step must drop optional skills, lower proficiency, add a queue or raise "
                "the priority"
            )
        return self


Alternative = Literal["callback", "chat", "sms", "email", "social", "selfservice", "voice"]


class TargetSpec(WireModel):
    """Where to queue. ``alternatives`` (with an ``announcement``) are other ways to be
    served that the platform offers the customer (a channel is down, say): they go out on
    the routing decision; the interaction still queues."""

    queue: str
    priority: int = Field(default=0, ge=0, le=1000)
    skills: tuple[SkillSpec, ...] = ()
    steps: tuple[Step, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    announcement: str | None = Field(default=None, min_length=1, max_length=500)


class Rule(WireModel):
    name: str = Field(min_length=1, max_length=100)
    when: str = Field(min_length=1)
    target: TargetSpec

    @cached_property
    def expression(self) -> Expression:
        try:
            return compile_expression(self.when)
        except ExpressionError:  # refused by RoutingPolicy, with its location
            return compile_expression("false")


class RoutingChoice(WireModel):
    """The rule that matched and its target spec; the target after each step is computed once.

    Carries its own spec, so a waiting interaction keeps the steps it was routed with when
    the policy is replaced; it can be stored in a table and read back.
    """

    rule: str
    target: TargetSpec
    policy_version: str | None = None

    @cached_property
    def afters(self) -> tuple[float, ...]:
        return tuple(s.after_seconds for s in self.target.steps)

    @cached_property
    def targets(self) -> tuple[Target, ...]:
        """The target before any step, then after each step."""
        return tuple(_timeline(self.rule, self.target))


def _timeline(rule: str, spec: TargetSpec) -> Iterator[Target]:
    def req(s: SkillSpec | SkillRequirement, lower: int = 0) -> SkillRequirement:
        return SkillRequirement(skill=s.skill, min_proficiency=max(1, s.min_proficiency - lower))

    required = tuple(req(s) for s in spec.skills if not s.optional)
    optional = tuple(req(s) for s in spec.skills if s.optional)
    queues: tuple[str, ...] = (spec.queue,)
    priority = spec.priority
    yield Target(queues=queues, priority=priority, required=required, optional=optional, rule=rule)
    for n, step in enumerate(spec.steps, 1):
        if step.drop_optional:
            optional = ()
        if step.lower_proficiency_by:
            required = tuple(req(s, step.lower_proficiency_by) for s in required)
            optional = tuple(req(s, step.lower_proficiency_by) for s in optional)
        if step.add_queue and step.add_queue not in queues:
            queues = (*queues, step.add_queue)
        priority = min(1000, priority + step.raise_priority_by)
        yield Target(
            queues=queues,
            priority=priority,
            required=required,
            optional=optional,
            rule=rule,
            step=n,
        )


class RoutingPolicy(WireModel):
    version: str | None = None
    queues: dict[QueueName, Queue] = Field(min_length=1)
    rules: tuple[Rule, ...] = ()
    default: TargetSpec | None = None  # when no rule matches
    # a repeat contact waits this long for the agent of the customer's last interaction (0: no)
    last_agent_wait_seconds: float = Field(default=0.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _consistent(self) -> RoutingPolicy:
        problems = list(_problems(self))
        if problems:
            raise PolicyProblems(problems)
        return self

    @cached_property
    def table(self) -> tuple[tuple[Expression, RoutingChoice], ...]:
        """Each rule's condition and the choice it makes, in order."""
        return tuple(
            (r.expression, RoutingChoice(rule=r.name, target=r.target, policy_version=self.version))
            for r in self.rules
        )

    @cached_property
    def fallback(self) -> RoutingChoice | None:
        """The choice when no rule matches (the ``default`` target)."""
        if self.default is None:
            return None
        return RoutingChoice(rule="default", target=self.default, policy_version=self.version)


def _problems(policy: RoutingPolicy) -> Iterator[tuple[Loc, str]]:
    queues = policy.queues
    for name, queue in queues.items():
        if queue.overflow is None:
            continue
        yield from _queue_ref(queues, queue.overflow, queue.channel, ("queues", name, "overflow"))
        seen: list[str] = [name]
        at: str | None = queue.overflow
        while at is not None and at in queues and at not in seen:
            seen.append(at)
            at = queues[at].overflow
        if at == name:
            yield ("queues", name, "overflow"), "overflow chain loops: " + " -> ".join([*seen, at])
    names: set[str] = set()
    always: str | None = None
    for i, rule in enumerate(policy.rules):
        if rule.name in names:
            yield ("rules", i, "name"), f"duplicate rule name {rule.name!r}"
        names.add(rule.name)
        if always is not None:
            yield ("rules", i), f"unreachable: rule {always!r} before it always matches"
        try:
            expression = compile_expression(rule.when)
        except ExpressionError as exc:
            yield ("rules", i, "when"), str(exc)
        else:
            for fact in sorted(n for n in expression.names if not is_known_fact(n)):
                yield ("rules", i, "when"), _unknown_fact(fact)
            if expression.always and always is None:
                always = rule.name
        yield from _target(queues, rule.target, ("rules", i, "target"))
    if policy.default is not None:
        yield from _target(queues, policy.default, ("default",))
    elif always is None:
        yield (
            (("rules",) if policy.rules else ()),
            (
                'the last rule must have when: "true", or the policy a default target, '
                "so that every interaction is routed"
            ),
        )


def _target(queues: dict[str, Queue], target: TargetSpec, loc: Loc) -> Iterator[tuple[Loc, str]]:
    yield from _queue_ref(queues, target.queue, None, (*loc, "queue"))
    channel = queues[target.queue].channel if target.queue in queues else None
    skills = [s.skill for s in target.skills]
    for i, skill in enumerate(skills):
        if skill in skills[:i]:
            yield (*loc, "skills", i, "skill"), f"skill {skill!r} listed twice"
    previous = 0.0
    for i, step in enumerate(target.steps):
        if step.after_seconds <= previous:
            yield (
                (*loc, "steps", i, "afterSeconds"),
                (
                    f"steps must have increasing afterSeconds ({step.after_seconds:g} after "
                    f"{previous:g})"
                ),
            )
        previous = step.after_seconds
        if step.add_queue is not None:
            yield from _queue_ref(queues, step.add_queue, channel, (*loc, "steps", i, "addQueue"))


def _queue_ref(
    queues: dict[str, Queue], name: str, channel: str | None, loc: Loc
) -> Iterator[tuple[Loc, str]]:
    if name not in queues:
        close = difflib.get_close_matches(name, queues, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        yield loc, f"unknown queue {name!r}{hint}"
    elif channel is not None and queues[name].channel != channel:
        yield loc, f"queue {name!r} is for {queues[name].channel}, not {channel}"


def _unknown_fact(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(KNOWN_FACTS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown fact {name!r}{hint}"


def load_routing_policy(path: Path) -> RoutingPolicy:
    """Read and validate a policy file; ``YamlFileError`` lists ``file:line: reason``."""
    return parse_routing_policy(read_text(path), str(path))


def parse_routing_policy(text: str, origin: str) -> RoutingPolicy:
    """Validate the text of a policy (a file, a record of the policy topic); ``origin`` names
    it in the problems (``origin:line: reason``)."""
    return parse_yaml_model(text, origin, RoutingPolicy)


def next_policy(
    current: RoutingPolicy | None, text: str, origin: str
) -> tuple[RoutingPolicy | None, list[str]]:
    """The policy in force after a new text arrives (a record of the policy topic): the new
    policy and no problems, or ``current`` unchanged and the problems that refused the text."""
    try:
        return parse_routing_policy(text, origin), []
    except YamlFileError as exc:
        return current, exc.problems
