"""The agents of a routing pool: presence, skills, per-channel capacity, work and wrap-up. Pure.

Capacity follows the utilisation models of Salesforce Omni-Channel and Genesys Cloud:

- each channel has its own limit (``capacity``: voice 1, chat 3, email 5, ...); a channel
  absent from it (or 0) is one the agent does not take;
- an ``exclusive`` channel (voice by default) is taken alone: an agent with voice work takes
  nothing else, and an agent with any other work takes no voice;
- an optional cross-channel limit (``max_total``) caps the items of all channels together.

Work counted against capacity: items reserved by an open offer (``offered``) and accepted items
(``work``), an accepted item staying counted through its wrap-up (``wrap_up_until``), as
Asterisk's ``wrapuptime`` and Omni-Channel's after-conversation work hold the slot.

``presence`` is what the agent (or the matcher, after missed offers) declared; only
``available`` agents receive offers. ``effective_presence`` derives what a supervisor would
see (busy when full, wrap-up when only wrapping up).

Every function returns a new ``Agent``; none reads a clock: time comes in as event-time ms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.agent import AgentLoggedIn, Presence
from interaction_streams.domain.routing.skills import SkillRequirement

__all__ = [
    "DAY_MS",
    "Agent",
    "CapacityRules",
    "assign",
    "can_take",
    "contacts_on",
    "effective_presence",
    "end_due_wrap_ups",
    "end_wrap_up",
    "has_room",
    "is_idle",
    "load",
    "logged_in",
    "logged_out",
    "meets",
    "missed_offer",
    "presence_changed",
    "release",
    "reserve",
    "rooms",
    "skill_score",
    "skills_updated",
    "total_used",
    "unreserve",
    "used",
    "within_capacity",
]

DAY_MS = 86_400_000  # contacts today count per UTC day of event time


class CapacityRules(WireModel):
    """Pool-wide capacity rules applied to an agent when it logs in."""

    exclusive: tuple[str, ...] = ("voice",)
    max_total: int | None = Field(default=None, ge=1)  # all channels together


class Agent(WireModel):
    id: str
    name: str | None = None
    presence: Presence = "available"
    presence_reason: str | None = None
    skills: dict[str, int] = Field(default_factory=dict)  # skill -> proficiency 1..5
    capacity: dict[str, int] = Field(default_factory=dict)  # channel -> concurrent items
    exclusive: tuple[str, ...] = ("voice",)
    max_total: int | None = None
    work: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # channel -> accepted ids
    offered: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # channel -> reserved ids
    wrap_up_until: dict[str, int] = Field(default_factory=dict)  # accepted id -> wrap-up end
    wrap_up_seconds: int = 30
    idle_since_ms: int = 0  # since when the agent has had no work (or became available)
    contacts_today: int = 0
    contacts_day: int = 0  # the day (event time ms // DAY_MS) contacts_today counts
    missed_offers_in_a_row: int = 0
    last_assigned_ms: int | None = None  # the last offer made to the agent


# ------------------------------------------------------------------------- capacity


def used(agent: Agent, channel: str) -> int:
    """Items of ``channel`` that hold capacity: reserved, in progress or in wrap-up."""
    return len(agent.work.get(channel, ())) + len(agent.offered.get(channel, ()))


def total_used(agent: Agent) -> int:
    return sum(len(ids) for ids in agent.work.values()) + sum(
        len(ids) for ids in agent.offered.values()
    )


def rooms(agent: Agent) -> tuple[str, ...]:
    """The channels on which one more item fits the agent's capacity (presence aside)."""
    work, offered, capacity = agent.work, agent.offered, agent.capacity
    counts: dict[str, int] = {}
    total = 0
    for held in (work, offered):
        for channel, ids in held.items():
            counts[channel] = counts.get(channel, 0) + len(ids)
            total += len(ids)
    if agent.max_total is not None and total >= agent.max_total:
        return ()
    if total == 0:
        return tuple(ch for ch, n in capacity.items() if n > 0)
    for channel in agent.exclusive:
        if counts.get(channel):
            return ()
    exclusive = agent.exclusive
    return tuple(ch for ch, n in capacity.items() if n > counts.get(ch, 0) and ch not in exclusive)


def has_room(agent: Agent, channel: str) -> bool:
    """Whether one more ``channel`` item fits the agent's capacity (presence aside)."""
    return channel in rooms(agent)


def can_take(agent: Agent, channel: str) -> bool:
    """Whether the agent may be offered one more ``channel`` item now."""
    return agent.presence == "available" and has_room(agent, channel)


def within_capacity(agent: Agent) -> bool:
    """The capacity invariant: per-channel limits, the total limit and exclusivity hold."""
    total = total_used(agent)
    if agent.max_total is not None and total > agent.max_total:
        return False
    for channel in set(agent.work) | set(agent.offered):
        n = used(agent, channel)
        if n > agent.capacity.get(channel, 0):
            return False
        if n and channel in agent.exclusive and total > n:
            return False
    return True


def load(agent: Agent) -> float:
    """Occupancy 0..1: items held over the agent's capacity (an exclusive channel in use: 1)."""
    total = total_used(agent)
    if total == 0:
        return 0.0
    if any(used(agent, ch) for ch in agent.exclusive):
        return 1.0
    room = sum(n for ch, n in agent.capacity.items() if n > 0 and ch not in agent.exclusive)
    if agent.max_total is not None:
        room = min(room, agent.max_total)
    return 1.0 if room <= 0 else min(1.0, total / room)


def is_idle(agent: Agent) -> bool:
    """No work, no reservation."""
    return not agent.work and not agent.offered


def contacts_on(agent: Agent, day: int) -> int:
    """Contacts accepted on ``day`` (0 when the counter belongs to an earlier day)."""
    return agent.contacts_today if agent.contacts_day == day else 0


def meets(agent: Agent, required: Iterable[SkillRequirement]) -> bool:
    skills = agent.skills
    return all(skills.get(r.skill, 0) >= r.min_proficiency for r in required)


def skill_score(agent: Agent, requirements: Iterable[SkillRequirement]) -> int:
    """The sum of the agent's proficiency over the named skills (best-skill-match)."""
    skills = agent.skills
    return sum(skills.get(r.skill, 0) for r in requirements)


def effective_presence(agent: Agent) -> Presence:
    """What a supervisor sees: the declared presence, or for an available agent ``busy`` when
    no channel has room and ``wrap-up`` when every held item is in wrap-up."""
    if agent.presence != "available":
        return agent.presence
    if rooms(agent):
        return "available"
    accepted = {i for ids in agent.work.values() for i in ids}
    if accepted and not agent.offered and accepted <= set(agent.wrap_up_until):
        return "wrap-up"
    return "busy"


# ------------------------------------------------------------------------- agent events


def logged_in(
    agent: Agent | None, event: AgentLoggedIn, now_ms: int, rules: CapacityRules | None = None
) -> Agent:
    """Log in (or log in again: skills, capacity and wrap-up are replaced, work is kept)."""
    rules = rules or CapacityRules()
    fields: dict[str, object] = {
        "name": event.name,
        "presence": "available",
        "presence_reason": None,
        "skills": dict(event.skills),
        "capacity": {ch: n for ch, n in event.capacity.items() if n > 0},
        "exclusive": rules.exclusive,
        "max_total": rules.max_total,
        "wrap_up_seconds": event.wrap_up_seconds,
        "missed_offers_in_a_row": 0,
    }
    if agent is None or (agent.presence != "available" and not agent.work):
        fields["idle_since_ms"] = now_ms
    return (agent or Agent(id=event.agent_id)).model_copy(update=fields)


def logged_out(agent: Agent, now_ms: int, reason: str | None = None) -> Agent:
    """Offline. Work in progress stays counted until the agent completes it."""
    return agent.model_copy(update={"presence": "offline", "presence_reason": reason})


def presence_changed(
    agent: Agent, presence: Presence, now_ms: int, reason: str | None = None
) -> Agent:
    """A declared presence. Becoming available again clears the missed-offer count and, for an
    agent with no work, restarts its idle time (longest-idle counts from then)."""
    update: dict[str, object] = {"presence": presence, "presence_reason": reason}
    if presence == "available" and agent.presence != "available":
        update["missed_offers_in_a_row"] = 0
        if not agent.work:
            update["idle_since_ms"] = now_ms
    return agent.model_copy(update=update)


def skills_updated(agent: Agent, skills: Mapping[str, int]) -> Agent:
    return agent.model_copy(update={"skills": dict(skills)})


# ------------------------------------------------------------------------- work changes


def _with(held: dict[str, tuple[str, ...]], channel: str, item: str) -> dict[str, tuple[str, ...]]:
    out = held.copy()
    out[channel] = (*held.get(channel, ()), item)
    return out


def _without(held: dict[str, tuple[str, ...]], item: str) -> tuple[dict[str, tuple[str, ...]], str]:
    """``held`` without ``item``, and the channel it was on ("" when absent)."""
    for channel, ids in held.items():
        if item in ids:
            out = held.copy()
            rest = tuple(i for i in ids if i != item)
            if rest:
                out[channel] = rest
            else:
                del out[channel]
            return out, channel
    return held, ""


def reserve(agent: Agent, channel: str, item: str, now_ms: int) -> Agent:
    """An offer reserves one ``channel`` slot."""
    return agent.model_copy(
        update={"offered": _with(agent.offered, channel, item), "last_assigned_ms": now_ms}
    )


def unreserve(agent: Agent, item: str, now_ms: int, *, answered: bool = False) -> Agent:
    """The offer ended without acceptance (rejected, timed out, rescinded): the slot is free.
    ``answered`` (a rejection) shows the agent is there: the missed-offer run is broken."""
    offered, channel = _without(agent.offered, item)
    if not channel:
        return agent
    update: dict[str, object] = {"offered": offered}
    if answered:
        update["missed_offers_in_a_row"] = 0
    return agent.model_copy(update=update)


def assign(agent: Agent, item: str, now_ms: int) -> Agent:
    """The offer was accepted: the reservation becomes work; a contact counts for today."""
    offered, channel = _without(agent.offered, item)
    if not channel:
        return agent
    day = now_ms // DAY_MS
    return agent.model_copy(
        update={
            "offered": offered,
            "work": _with(agent.work, channel, item),
            "contacts_today": contacts_on(agent, day) + 1,
            "contacts_day": day,
            "missed_offers_in_a_row": 0,
        }
    )


def release(agent: Agent, item: str, now_ms: int) -> Agent:
    """The agent completed ``item``: its wrap-up starts (the slot stays held until it ends), or
    with no wrap-up time the slot is free at once."""
    if item in agent.wrap_up_until or not any(item in ids for ids in agent.work.values()):
        return agent
    if agent.wrap_up_seconds > 0:
        until = agent.wrap_up_until.copy()
        until[item] = now_ms + agent.wrap_up_seconds * 1000
        return agent.model_copy(update={"wrap_up_until": until})
    return _drop_work(agent, item, now_ms)


def end_wrap_up(agent: Agent, item: str, now_ms: int) -> Agent:
    """The wrap-up of ``item`` ended: its slot is free."""
    if item not in agent.wrap_up_until:
        return agent
    return _drop_work(agent, item, now_ms)


def end_due_wrap_ups(agent: Agent, now_ms: int) -> Agent:
    """End every wrap-up whose time is up at ``now_ms``."""
    for item, until in sorted(agent.wrap_up_until.items()):
        if until <= now_ms:
            agent = _drop_work(agent, item, now_ms)
    return agent


def _drop_work(agent: Agent, item: str, now_ms: int) -> Agent:
    work, _ = _without(agent.work, item)
    until = {i: t for i, t in agent.wrap_up_until.items() if i != item}
    update: dict[str, object] = {"work": work, "wrap_up_until": until}
    if not work:
        update["idle_since_ms"] = now_ms
    return agent.model_copy(update=update)


def missed_offer(agent: Agent, now_ms: int, max_missed: int) -> tuple[Agent, bool]:
    """An offer timed out at the agent; after ``max_missed`` in a row it is set away.
    Returns the agent and whether this miss set it away."""
    missed = agent.missed_offers_in_a_row + 1
    update: dict[str, object] = {"missed_offers_in_a_row": missed}
    away = max_missed > 0 and missed >= max_missed and agent.presence == "available"
    if away:
        update["presence"] = "away"
        update["presence_reason"] = "missed-offers"
    return agent.model_copy(update=update), away
