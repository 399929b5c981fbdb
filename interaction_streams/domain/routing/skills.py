"""Skill requirements, shared by the routing policy (which sets them) and the matcher (which
meets them)."""

from __future__ import annotations

from pydantic import Field

from interaction_streams.contract.base import WireModel


class SkillRequirement(WireModel):
    """An agent must have ``skill`` at ``min_proficiency`` (1 to 5) or more."""

    skill: str = Field(min_length=1, max_length=64)
    min_proficiency: int = Field(default=1, ge=1, le=5)


class Target(WireModel):
    """Where an interaction waits and what it needs, as of one moment of its wait.

    ``queues`` lists the queue first and any overflow queues added by timed steps;
    ``required`` must all be met; ``optional`` raise the match score only.
    """

    queues: tuple[str, ...] = Field(min_length=1)
    priority: int = Field(default=0, ge=0, le=1000)
    required: tuple[SkillRequirement, ...] = ()
    optional: tuple[SkillRequirement, ...] = ()
    rule: str = "default"  # the policy rule that matched
    step: int = 0  # how many timed steps have applied
