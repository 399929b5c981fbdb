"""The escalation policy: service-level deadlines and conditions, and the levels they escalate to.

* ``answerTargets``: seconds to answer a waiting interaction, per queue and priority (the
  first entry that matches; ``queue: "*"`` matches any queue).
* ``email``: first-response and next-response targets counted in business time on a named
  ``calendar`` (opening hours per weekday, holidays, time zone).
* ``callback``: a promised callback time (sent by the platform on the escalation commands
  topic) must be kept.
* ``rules``: named conditions in the routing expression language (``expressions.py``) over the
  escalation facts (``KNOWN_FACTS``); ``afterSeconds`` asks the condition to hold that long.

Each cause escalates through ``levels``: ``L1`` raises the priority of the waiting interaction
(``priorityBoost``, applied by the routing stage), ``L2`` alerts a supervisor, ``L3`` asks for a
TMF621 trouble ticket (``severity``, ``ticketType``, ``ticketPriority``). A level's
``afterSeconds`` counts from the breach (deadlines) or from when the condition began to hold.
A warning goes out ``warningLeadSeconds`` before a deadline is breached.

Loaded from YAML (``CIM_ESCALATION_POLICY``); a bad file is refused with ``file:line: reason``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, Field, model_validator

from interaction_streams.contract.base import WireModel
from interaction_streams.domain.escalation.calendar import BusinessCalendar
from interaction_streams.domain.routing.expressions import (
    Expression,
    ExpressionError,
    compile_expression,
)
from interaction_streams.yamlfile import (
    PolicyProblems,
    parse_yaml_model,
    read_text,
)

M = TypeVar("M", bound=BaseModel)
Level = Literal["L1", "L2", "L3"]
Loc = tuple[int | str, ...]
CauseName = str

KNOWN_FACTS = frozenset(
    {
        "channel",
        "direction",
        "intent",
        "queue",
        "priority",
        "phase",
        "status",
        "waiting",
        "answered",
        "abandoned",
        "closed",
        "party.known",
        "sentiment",
        "context.tier",
        "context.segment",
        "context.repeatContact",
        "context.sentiment",
        "context.contacts24h",
        "context.abandoned24h",
        "moments",
    }
)


class LevelStep(WireModel):
    level: Level
    after_seconds: float = Field(default=0.0, ge=0)
    priority_boost: int = Field(default=10, ge=1, le=1000)  # L1
    severity: Literal["critical", "major", "minor"] = "major"  # L3
    ticket_type: str = Field(default="complaint", min_length=1, max_length=64)  # L3
    ticket_priority: Literal["high", "medium", "low"] = "high"  # L3


class AnswerTarget(WireModel):
    queue: str = Field(default="*", min_length=1)
    min_priority: int = Field(default=0, ge=0)
    seconds: float = Field(gt=0)


class EmailTargets(WireModel):
    calendar: str
    first_response_seconds: float = Field(gt=0)
    next_response_seconds: float = Field(gt=0)
    levels: tuple[LevelStep, ...] = Field(min_length=1)


class CallbackTarget(WireModel):
    grace_seconds: float = Field(default=0, ge=0)
    levels: tuple[LevelStep, ...] = Field(min_length=1)


class Rule(WireModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    when: str = Field(min_length=1)
    after_seconds: float = Field(default=0.0, ge=0)
    # condition: the escalation closes when the condition stops holding or the interaction ends;
    # end: it stays open until the interaction ends; never: a one-shot alert, no close record.
    closes: Literal["condition", "end", "never"] = "condition"
    levels: tuple[LevelStep, ...] = Field(min_length=1)

    @cached_property
    def expression(self) -> Expression:
        try:
            return compile_expression(self.when)
        except ExpressionError:  # refused by EscalationPolicy, with its location
            return compile_expression("false")


class EscalationPolicy(WireModel):
    version: str | None = None
    warning_lead_seconds: float = Field(default=30.0, ge=0)
    calendars: dict[str, BusinessCalendar] = Field(default_factory=dict)
    answer_targets: tuple[AnswerTarget, ...] = ()
    answer_levels: tuple[LevelStep, ...] = (LevelStep(level="L1"),)
    email: EmailTargets | None = None
    callback: CallbackTarget | None = None
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> EscalationPolicy:
        problems = list(_problems(self))
        if problems:
            raise PolicyProblems(problems)
        return self

    def answer_seconds(self, queue: str | None, priority: int | None) -> float | None:
        for target in self.answer_targets:
            if target.queue in ("*", queue) and (priority or 0) >= target.min_priority:
                return target.seconds
        return None

    @cached_property
    def email_calendar(self) -> BusinessCalendar | None:
        return None if self.email is None else self.calendars.get(self.email.calendar)


def _problems(policy: EscalationPolicy) -> Iterator[tuple[Loc, str]]:
    if policy.email is not None and policy.email.calendar not in policy.calendars:
        close = difflib.get_close_matches(policy.email.calendar, policy.calendars, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        yield ("email", "calendar"), f"unknown calendar {policy.email.calendar!r}{hint}"
    names: set[str] = set()
    for i, rule in enumerate(policy.rules):
        if rule.name in names:
            yield ("rules", i, "name"), f"duplicate rule name {rule.name!r}"
        names.add(rule.name)
        try:
            expression = compile_expression(rule.when)
        except ExpressionError as exc:
            yield ("rules", i, "when"), str(exc)
        else:
            for fact in sorted(n for n in expression.names if n not in KNOWN_FACTS):
                close = difflib.get_close_matches(fact, sorted(KNOWN_FACTS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                yield ("rules", i, "when"), f"unknown fact {fact!r}{hint}"
        yield from _levels(rule.levels, ("rules", i, "levels"))
    yield from _levels(policy.answer_levels, ("answerLevels",))
    if policy.email is not None:
        yield from _levels(policy.email.levels, ("email", "levels"))
    if policy.callback is not None:
        yield from _levels(policy.callback.levels, ("callback", "levels"))


def _levels(steps: tuple[LevelStep, ...], loc: Loc) -> Iterator[tuple[Loc, str]]:
    seen: set[str] = set()
    for i, step in enumerate(steps):
        if step.level in seen:
            yield (*loc, i, "level"), f"level {step.level} listed twice"
        seen.add(step.level)


def load_escalation_policy(path: Path) -> EscalationPolicy:
    """Read and validate a policy file; ``YamlFileError`` lists ``file:line: reason``."""
    return parse_escalation_policy(read_text(path), str(path))


def parse_escalation_policy(text: str, origin: str) -> EscalationPolicy:
    return parse_yaml_model(text, origin, EscalationPolicy)
