"""The solicitation policy: consent, quiet hours, caps, cool-downs, hold and fold, de-duplication,
exemptions, channel choice, moment triggers, callbacks and the incident under-use check.

Loaded from YAML (``CIM_SOLICITATION_POLICY``) and validated; a bad file is refused with its
file, line and reason (``YamlFileError``). Exemption conditions use the routing expression
language (``domain/routing/expressions.py``) over the request facts (``REQUEST_FACTS``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.agent import MediaChannel
from interaction_streams.contract.events.profile import Purpose
from interaction_streams.domain.outbound.quiet import Window, zone
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

PURPOSES: tuple[Purpose, ...] = (
    "marketing",
    "service",
    "alert",
    "collections",
    "queue-position",
    "callback",
)
REQUEST_FACTS = frozenset({"purpose", "urgency", "template", "campaign", "trigger", "channels"})
Bypass = Literal["caps", "quietHours", "coolDown", "hold", "dedup"]
Loc = tuple[int | str, ...]
DAY = 86_400


def _clock(value: Any) -> Any:
    """``"21:00"`` (YAML may also read ``21:00`` as sexagesimal minutes: refuse that form)."""
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day (HH:MM)") from None
    if isinstance(value, time):
        return value
    raise ValueError('a time of day needs quotes: "HH:MM"')


class QuietHours(WireModel):
    """No contact between ``start`` and ``end`` (wall time, customer's zone) for ``purposes``."""

    start: time
    end: time
    purposes: tuple[Purpose, ...] = PURPOSES

    _times = field_validator("start", "end", mode="before")(_clock)

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are equal: the window is empty or the whole day")
        return self


class Cap(WireModel):
    """At most ``max`` contacts for ``purposes`` (on ``channels``, all if empty) in any
    ``window_seconds``: a contact exactly one window old no longer counts."""

    name: str = Field(min_length=1, max_length=64)
    purposes: tuple[Purpose, ...] = Field(min_length=1)
    channels: tuple[MediaChannel, ...] = ()
    max: int = Field(ge=0)
    window_seconds: int = Field(gt=0)


class CoolDown(WireModel):
    """No contact for ``purposes`` within ``after_complaint_seconds`` of a complaint (an
    inbound interaction whose reason is in ``complaint_reasons``), nor while an escalation
    or one of ``while_moments`` is open."""

    purposes: tuple[Purpose, ...] = ("marketing", "collections")
    after_complaint_seconds: int = Field(default=7 * DAY, ge=0)
    complaint_reasons: tuple[str, ...] = ("complaint",)
    while_moments: tuple[str, ...] = ("open-ticket",)


class Hold(WireModel):
    """While the customer is in an open inbound interaction: ``fold`` purposes are dropped
    (the live interaction covers them), ``purposes`` wait until it ends (at most
    ``max_hold_seconds``, then they go)."""

    purposes: tuple[Purpose, ...] = ("marketing", "service", "collections")
    fold: tuple[Purpose, ...] = ("queue-position",)
    max_hold_seconds: int = Field(default=3600, gt=0)


class Exemption(WireModel):
    """Requests matching ``when`` (over ``REQUEST_FACTS``) skip the ``bypass`` rules; consent
    and do-not-contact are never bypassed."""

    name: str = Field(min_length=1, max_length=64)
    when: str = Field(min_length=1)
    bypass: tuple[str, ...] = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _compiles(cls, when: str) -> str:
        try:
            expression = compile_expression(when)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        for fact in sorted(expression.names - REQUEST_FACTS):
            close = difflib.get_close_matches(fact, sorted(REQUEST_FACTS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown fact {fact!r}{hint}")
        return when

    @field_validator("bypass")
    @classmethod
    def _known_rules(cls, bypass: tuple[str, ...]) -> tuple[str, ...]:
        rules: tuple[str, ...] = Bypass.__args__  # type: ignore[attr-defined]
        for what in bypass:
            if what in ("consent", "doNotContact"):
                raise ValueError(f"{what} is never bypassed")
            if what not in rules:
                close = difflib.get_close_matches(what, rules, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown rule {what!r}{hint}")
        return bypass

    @cached_property
    def expression(self) -> Expression:
        return compile_expression(self.when)


class Trigger(WireModel):
    """A business moment starting for a party becomes an outbound request."""

    name: str = Field(min_length=1, max_length=64)
    moment: str = Field(min_length=1, max_length=64)
    purpose: Purpose
    urgency: Literal["low", "normal", "high"] = "normal"
    template: str = Field(min_length=1, max_length=128)
    channels: tuple[MediaChannel, ...] = ()
    valid_seconds: int = Field(default=DAY, gt=0)


class UnderUse(WireModel):
    """Customers in ``moment`` not sent a ``purposes`` contact within ``inform_within_seconds``
    are flagged."""

    moment: str = "affected-by-incident"
    purposes: tuple[Purpose, ...] = ("alert",)
    inform_within_seconds: int = Field(default=3600, gt=0)


class Callbacks(WireModel):
    """A callback not answered by an agent ``grace_seconds`` after its promised time is
    missed; ``channel`` is the channel of the callback interaction."""

    grace_seconds: int = Field(default=900, gt=0)
    channel: MediaChannel = "voice"


class SolicitationPolicy(WireModel):
    version: str | None = None
    default_time_zone: str = "UTC"
    channel_order: tuple[MediaChannel, ...] = ("sms", "email", "voice", "chat", "social")
    implied_consent: tuple[Purpose, ...] = ("callback",)
    quiet_hours: tuple[QuietHours, ...] = ()
    caps: tuple[Cap, ...] = ()
    cool_down: CoolDown = CoolDown()
    hold: Hold = Hold()
    dedup_window_seconds: int = Field(default=DAY, ge=0)
    exemptions: tuple[Exemption, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    under_use: UnderUse | None = None
    callbacks: Callbacks = Callbacks()
    templates: dict[str, str] = Field(default_factory=dict)
    sender_name: str = "Customer Care"

    @model_validator(mode="after")
    def _consistent(self) -> SolicitationPolicy:
        problems = list(_problems(self))
        if problems:
            raise PolicyProblems(problems)
        return self

    def quiet_windows(self, purpose: str) -> tuple[Window, ...]:
        return tuple((q.start, q.end) for q in self.quiet_hours if purpose in q.purposes)

    @cached_property
    def history_ms(self) -> int:
        """How long sent contacts must be remembered: the longest cap or dedup window."""
        longest = max([c.window_seconds for c in self.caps] + [self.dedup_window_seconds, 1])
        return longest * 1000


def _problems(policy: SolicitationPolicy) -> Iterator[tuple[Loc, str]]:
    if zone(policy.default_time_zone, "").key != policy.default_time_zone:
        yield ("defaultTimeZone",), f"unknown time zone {policy.default_time_zone!r}"
    for n, name in enumerate(_dupes([c.name for c in policy.caps])):
        if name:
            yield ("caps", n, "name"), f"duplicate cap name {name!r}"
    for n, name in enumerate(_dupes([e.name for e in policy.exemptions])):
        if name:
            yield ("exemptions", n, "name"), f"duplicate exemption name {name!r}"
    for i, trigger in enumerate(policy.triggers):
        if trigger.template not in policy.templates and policy.templates:
            yield ("triggers", i, "template"), f"unknown template {trigger.template!r}"


def _dupes(names: list[str]) -> list[str | None]:
    seen: set[str] = set()
    out: list[str | None] = []
    for name in names:
        out.append(name if name in seen else None)
        seen.add(name)
    return out


def load_solicitation_policy(path: Path | None) -> SolicitationPolicy:
    if path is None:
        return SolicitationPolicy()
    return parse_solicitation_policy(read_text(path), str(path))


def parse_solicitation_policy(text: str, origin: str) -> SolicitationPolicy:
    """Validate policy text; ``YamlFileError`` lists ``origin:line: reason``."""
    return parse_yaml_model(text, origin, SolicitationPolicy)
