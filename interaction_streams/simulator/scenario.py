"""Simulator scenarios: YAML files validated at load (file, line and reason on a bad file).

A scenario names its population (customers, agent groups), its traffic per channel (Poisson
arrivals shaped by a daily profile, IVR menus, bot containment, patience, handle times, holds,
transfers, CSAT) and its business events (a background rate and an outage burst in one area).
Times are simulated seconds from ``start``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from interaction_streams.yamlfile import load_yaml_model

Channel = Literal["voice", "chat", "email", "sms", "social"]
CHANNELS: tuple[Channel, ...] = ("voice", "chat", "email", "sms", "social")
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "deploy" / "scenarios"


class Spec(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


def _weights(value: dict[str, float]) -> dict[str, float]:
    if not value:
        raise ValueError("needs at least one choice")
    if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
        raise ValueError("weights must be >= 0 with a positive sum")
    return value


Weights = dict[str, float]


class Duration(Spec):
    """A random duration in seconds: exponential (mean) or lognormal (mean and sigma of the
    underlying normal), optionally floored by ``minSeconds``."""

    distribution: Literal["exponential", "lognormal", "fixed"] = "exponential"
    mean_seconds: float = Field(gt=0)
    sigma: float = Field(default=0.5, gt=0, le=3)
    min_seconds: float = Field(default=0.0, ge=0)


class IvrOption(Spec):
    digit: str = Field(min_length=1, max_length=4)
    intent: str = Field(min_length=1)
    weight: float = Field(gt=0)


class Ivr(Spec):
    options: tuple[IvrOption, ...] = Field(min_length=1)
    seconds: Duration = Duration(distribution="fixed", mean_seconds=20)
    containment: float = Field(default=0.0, ge=0, le=1, description="solved in the IVR")


class Bot(Spec):
    share: float = Field(ge=0, le=1, description="contacts that start with a bot")
    containment: float = Field(ge=0, le=1, description="bot sessions solved without an agent")
    seconds: Duration = Duration(mean_seconds=60)


class Transfer(Spec):
    probability: float = Field(ge=0, le=1)
    to_queue: str = Field(min_length=1)


class ChannelTraffic(Spec):
    rate_per_hour: float = Field(ge=0, description="mean arrivals per hour at profile 1.0")
    intents: Weights = Field(default_factory=lambda: {"general": 1.0})
    handle: Duration
    patience: Duration | None = None  # None: the customer never abandons (email)
    ivr: Ivr | None = None
    bot: Bot | None = None
    hold_probability: float = Field(default=0.0, ge=0, le=1)
    hold: Duration = Duration(mean_seconds=30)
    transfer: Transfer | None = None
    messages: int = Field(default=0, ge=0, le=50, description="messages each way (chat)")
    csat_response: float = Field(default=0.3, ge=0, le=1)
    requested_queue: str = Field(default="inbound", min_length=1)

    _w = field_validator("intents")(_weights)


class Customers(Spec):
    count: int = Field(ge=1, le=1_000_000)
    tiers: Weights = Field(default_factory=lambda: {"bronze": 1.0})
    segments: Weights = Field(default_factory=lambda: {"consumer": 1.0})
    languages: Weights = Field(default_factory=lambda: {"en": 1.0})
    time_zones: Weights = Field(default_factory=lambda: {"Europe/London": 1.0})
    service_areas: Weights = Field(default_factory=lambda: {"central": 1.0})
    marketing_consent: float = Field(default=0.5, ge=0, le=1)

    _w = field_validator("tiers", "segments", "languages", "time_zones", "service_areas")(_weights)


def _voice_only() -> dict[Channel, int]:
    return {"voice": 1}


class Shift(Spec):
    start_seconds: float = Field(default=0, ge=0)
    end_seconds: float = Field(default=10**9, gt=0)


class AgentGroup(Spec):
    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")
    count: int = Field(ge=1, le=10_000)
    skills: dict[str, tuple[int, int] | int] = Field(default_factory=dict)
    capacity: dict[Channel, int] = Field(default_factory=_voice_only)
    shift: Shift = Shift()
    wrap_up_seconds: int = Field(default=15, ge=0, le=3600)
    answer_delay: Duration = Duration(mean_seconds=3, distribution="lognormal", sigma=0.4)
    reject_probability: float = Field(default=0.0, ge=0, le=1)
    languages: tuple[str, ...] = ()

    @field_validator("skills")
    @classmethod
    def _levels(cls, skills: dict[str, tuple[int, int] | int]) -> dict[str, tuple[int, int] | int]:
        for name, level in skills.items():
            lo, hi = level if isinstance(level, tuple) else (level, level)
            if not 1 <= lo <= hi <= 5:
                raise ValueError(f"proficiency of {name!r} must be 1..5 (or [low, high])")
        return skills


class Outage(Spec):
    service_area: str = Field(min_length=1)
    start_seconds: float = Field(ge=0)
    duration_seconds: float = Field(gt=0)
    calls_per_hour: float = Field(ge=0, description="extra voice calls from the area")
    intent: str = "outage"
    severity: Literal["minor", "major", "critical"] = "major"


class Business(Spec):
    events_per_hour: float = Field(default=0.0, ge=0)
    kinds: Weights = Field(
        default_factory=lambda: {
            "cim.business.bill.issued": 4.0,
            "cim.business.payment.overdue": 1.0,
            "cim.business.order.delayed": 1.0,
            "cim.business.usage.threshold-crossed": 2.0,
            "cim.business.ticket.opened": 1.0,
        }
    )
    outages: tuple[Outage, ...] = ()

    _w = field_validator("kinds")(_weights)


class Scenario(Spec):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    description: str = ""
    start: AwareDatetime
    duration_seconds: float = Field(gt=0, description="simulated length")
    routing_pool: str = Field(default="default", min_length=1, max_length=64)
    routing_policy: str | None = Field(
        default=None, description="routing policy file for the worker, relative to this file"
    )
    daily_profile: tuple[float, ...] = Field(
        default=(1.0,) * 24, description="24 hourly multipliers of every arrival rate"
    )
    customers: Customers
    agents: tuple[AgentGroup, ...] = Field(min_length=1)
    channels: dict[Channel, ChannelTraffic] = Field(min_length=1)
    business: Business = Business()

    @field_validator("daily_profile")
    @classmethod
    def _profile(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) != 24 or any(v < 0 for v in value):
            raise ValueError("dailyProfile needs 24 multipliers >= 0 (one per hour, UTC)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Scenario:
        areas = set(self.customers.service_areas)
        for outage in self.business.outages:
            if outage.service_area not in areas:
                raise ValueError(f"outage area {outage.service_area!r} is not a customer area")
        names = [g.name for g in self.agents]
        if len(names) != len(set(names)):
            raise ValueError("agent group names must be unique")
        served = {c for g in self.agents for c in g.capacity}
        for channel in self.channels:
            if channel not in served:
                raise ValueError(f"no agent group has capacity for {channel}")
        return self

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return self.start_ms + int(self.duration_seconds * 1000)


class LoadedScenario(BaseModel):
    model_config = ConfigDict(frozen=True)
    scenario: Scenario
    path: Path

    @property
    def routing_policy(self) -> Path | None:
        p = self.scenario.routing_policy
        return None if p is None else (self.path.parent / p).resolve()


def resolve(name_or_path: str | Path) -> Path:
    """A scenario file: a path, or a name in deploy/scenarios (``single-queue``)."""
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    return SCENARIO_DIR / f"{name_or_path}.yaml"


def load_scenario(name_or_path: str | Path) -> LoadedScenario:
    path = resolve(name_or_path)
    return LoadedScenario(scenario=load_yaml_model(path, Scenario), path=path)
