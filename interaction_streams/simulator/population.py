"""The simulated population: customers (published as profiles) and agents, drawn from a seed.

Everything is a pure function of the scenario and the seed: the same seed gives the same people.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interaction_streams.simulator.scenario import AgentGroup, Scenario


def pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    """One key of ``weights`` with probability proportional to its weight (stable order)."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


@dataclass(frozen=True)
class Customer:
    party_id: str
    name: str
    tier: str
    segment: str
    language: str
    time_zone: str
    service_area: str
    phone: str
    email: str
    marketing: bool

    def profile(self) -> dict[str, Any]:
        """The payload of ``cim.customer.profile.updated`` (camelCase, as the contract reads)."""
        consents = [
            {"channel": "voice", "purpose": "service", "granted": True},
            {"channel": "sms", "purpose": "alert", "granted": True},
            {"channel": "email", "purpose": "marketing", "granted": self.marketing},
        ]
        return {
            "partyId": self.party_id,
            "name": self.name,
            "phones": [self.phone],
            "emails": [self.email],
            "language": self.language,
            "timeZone": self.time_zone,
            "tier": self.tier,
            "segment": self.segment,
            "serviceArea": self.service_area,
            "consents": consents,
        }


_FIRST = ("Ada", "Bo", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kemi", "Lea")
_LAST = ("Okafor", "Smith", "Garcia", "Novak", "Khan", "Ito", "Berg", "Rossi", "Silva", "Moreau")


def customers(scenario: Scenario, seed: int) -> tuple[Customer, ...]:
    spec = scenario.customers
    rng = random.Random(f"{seed}/customers")
    out = []
    for n in range(spec.count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        party = f"cust-{n:06d}"
        out.append(
            Customer(
                party_id=party,
                name=f"{first} {last}",
                tier=pick(rng, spec.tiers),
                segment=pick(rng, spec.segments),
                language=pick(rng, spec.languages),
                time_zone=pick(rng, spec.time_zones),
                service_area=pick(rng, spec.service_areas),
                phone=f"+4420{7000_0000 + n:08d}",
                email=f"{first.lower()}.{party}@example.com",
                marketing=rng.random() < spec.marketing_consent,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class SimAgentSpec:
    agent_id: str
    group: AgentGroup
    skills: Mapping[str, int]

    def login(self) -> dict[str, Any]:
        """The payload of ``cim.agent.logged-in`` (without the routing pool)."""
        return {
            "agentId": self.agent_id,
            "name": f"{self.group.name} #{self.agent_id.rsplit('-', 1)[-1]}",
            "skills": dict(self.skills),
            "capacity": dict(self.group.capacity),
            "wrapUpSeconds": self.group.wrap_up_seconds,
        }


def agents(scenario: Scenario, seed: int) -> tuple[SimAgentSpec, ...]:
    rng = random.Random(f"{seed}/agents")
    out = []
    for group in scenario.agents:
        for n in range(group.count):
            skills = {}
            for skill, level in group.skills.items():
                lo, hi = level if isinstance(level, tuple) else (level, level)
                skills[skill] = rng.randint(lo, hi)
            out.append(SimAgentSpec(f"{group.name}-{n + 1:03d}", group, skills))
    return tuple(out)


def by_area(people: Sequence[Customer]) -> dict[str, tuple[Customer, ...]]:
    areas: dict[str, list[Customer]] = {}
    for c in people:
        areas.setdefault(c.service_area, []).append(c)
    return {a: tuple(cs) for a, cs in areas.items()}
