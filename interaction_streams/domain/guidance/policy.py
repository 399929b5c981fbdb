"""The guidance policy: flows per reason or intent, and the recommendation settings.

A flow is chosen by its ``when`` (the first that holds) over the escalation facts (intent,
channel, context.*, moments...); its steps carry a title, a script and whether they are
mandatory (compliance); a step's own ``when`` includes it only when the context calls for it
(branches on context). ``recommendations`` names the moments that ask the external
recommender, how long it has to answer, and the built-in rules that answer otherwise.

Loaded from YAML (``CIM_GUIDANCE_POLICY``); a bad file is refused with ``file:line: reason``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.guidance import GuidedStep, RecommendationMoment
from interaction_streams.domain.escalation.policy import KNOWN_FACTS
from interaction_streams.domain.routing.expressions import (
    Expression,
    ExpressionError,
    compile_expression,
)
from interaction_streams.yamlfile import PolicyProblems, parse_yaml_model, read_text

Loc = tuple[int | str, ...]
Name = str


def _compiled(text: str) -> Expression:
    try:
        return compile_expression(text)
    except ExpressionError:  # refused by GuidancePolicy, with its location
        return compile_expression("false")


class StepSpec(WireModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    title: str = Field(min_length=1, max_length=200)
    script: str | None = Field(default=None, max_length=4000)
    mandatory: bool = False
    when: str | None = None

    @cached_property
    def expression(self) -> Expression | None:
        return None if self.when is None else _compiled(self.when)


class Flow(WireModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    when: str = Field(min_length=1)
    steps: tuple[StepSpec, ...] = Field(min_length=1)

    @cached_property
    def expression(self) -> Expression:
        return _compiled(self.when)

    def steps_for(self, facts: dict[str, Any]) -> tuple[GuidedStep, ...]:
        return tuple(
            GuidedStep(id=s.id, title=s.title, script=s.script, mandatory=s.mandatory)
            for s in self.steps
            if s.expression is None or s.expression.evaluate(facts)
        )


class FallbackRule(WireModel):
    when: str = Field(min_length=1)
    action: str = Field(min_length=1, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    score: float = Field(default=0.5, ge=0, le=1)

    @cached_property
    def expression(self) -> Expression:
        return _compiled(self.when)


class RecommendationSettings(WireModel):
    at: tuple[RecommendationMoment, ...] = ("assignment", "ivr-completed")
    timeout_seconds: float = Field(default=3.0, gt=0)
    fallback: tuple[FallbackRule, ...] = ()


class GuidancePolicy(WireModel):
    version: str | None = None
    flows: tuple[Flow, ...] = ()
    recommendations: RecommendationSettings = RecommendationSettings()

    @model_validator(mode="after")
    def _consistent(self) -> GuidancePolicy:
        problems = list(_problems(self))
        if problems:
            raise PolicyProblems(problems)
        return self

    def flow_for(self, facts: dict[str, Any]) -> Flow | None:
        return next((f for f in self.flows if f.expression.evaluate(facts)), None)


def _problems(policy: GuidancePolicy) -> Iterator[tuple[Loc, str]]:
    ids: set[str] = set()
    for i, flow in enumerate(policy.flows):
        if flow.id in ids:
            yield ("flows", i, "id"), f"duplicate flow id {flow.id!r}"
        ids.add(flow.id)
        yield from _condition(flow.when, ("flows", i, "when"))
        steps: set[str] = set()
        for j, step in enumerate(flow.steps):
            if step.id in steps:
                yield ("flows", i, "steps", j, "id"), f"duplicate step id {step.id!r}"
            steps.add(step.id)
            if step.when is not None:
                yield from _condition(step.when, ("flows", i, "steps", j, "when"))
    for i, rule in enumerate(policy.recommendations.fallback):
        yield from _condition(rule.when, ("recommendations", "fallback", i, "when"))


def _condition(text: str, loc: Loc) -> Iterator[tuple[Loc, str]]:
    try:
        expression = compile_expression(text)
    except ExpressionError as exc:
        yield loc, str(exc)
        return
    for fact in sorted(n for n in expression.names if n not in KNOWN_FACTS):
        close = difflib.get_close_matches(fact, sorted(KNOWN_FACTS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        yield loc, f"unknown fact {fact!r}{hint}"


def load_guidance_policy(path: Path) -> GuidancePolicy:
    return parse_guidance_policy(read_text(path), str(path))


def parse_guidance_policy(text: str, origin: str) -> GuidancePolicy:
    return parse_yaml_model(text, origin, GuidancePolicy)
