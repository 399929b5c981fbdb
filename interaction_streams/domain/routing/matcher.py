"""The matcher: waiting interactions against the agents of one routing pool. Pure.

The state of a pool (``Pool``) is one value; every step returns a new pool and the decisions
it made, for the routing stage to publish:

- ``enqueue``, ``retarget``, ``remove`` (abandoned: a waiting entry leaves, an open offer is
  rescinded);
- ``match``: waiting entries in order (priority high first, then the oldest ``enqueued_ms``,
  then the id) are offered to available agents who have room on the channel and meet every
  required skill; the strategy of the entry's queue picks among them; the preferred (or last)
  agent alone may take an entry until ``preferred_until_ms``. An offer reserves the slot and
  holds the entry out of the waiting list until it is accepted, rejected or times out;
- ``accept``, ``reject``, ``expire``: an offer that is rejected or times out puts its entry
  back with its original ``enqueued_ms`` (its age is kept) and frees the slot; ``max_missed``
  time-outs in a row set the agent away;
- ``on_agent_event`` applies the agent events of ``cim.agent.events.v1``; ``complete`` and
  ``end_wrap_ups`` the end of work and of wrap-up;
- ``find_expert`` / ``offer_to`` serve consult, transfer and conference with the same
  eligibility rules; ``position_and_wait``, ``positions_and_waits`` and ``queue_stats`` the
  queue figures; ``next_deadline_ms`` the next moment time alone changes the pool.

An agent who rejected (or let time out) an offer of an entry is asked again for that entry only
when no other eligible agent is free, so a lone agent still gets it (no entry starves).

Cost. ``match`` never pairs every agent with every entry. It keeps, with each pool value, the
available agents with room per channel and every agent per skill and level (sets), and the
waiting entries in order of service per need (channel and required skills). Eligibility for a
need is one set intersection; a strategy picks with ``min`` over that set (round-robin: the
next id after the queue's cursor); a need with no eligible agent is skipped for the rest of the
call and, through the next calls, until an agent who changed meets it. The indexes follow each
step by what it changed, so a call after one event costs about the entries the freed agents
may serve, not the whole pool.

Times are event-time milliseconds; nothing here reads a clock.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from itertools import chain, islice
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from pydantic import Field, PrivateAttr

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events import agent as ev
from interaction_streams.domain.routing import agents as ag
from interaction_streams.domain.routing.agents import Agent, CapacityRules
from interaction_streams.domain.routing.skills import SkillRequirement, Target

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "AgentAway",
    "Assignment",
    "Decision",
    "Dequeued",
    "ExpertNeed",
    "Offer",
    "OfferEnded",
    "Pool",
    "QueueStats",
    "Strategy",
    "Waiting",
    "accept",
    "complete",
    "effective",
    "end_wrap_ups",
    "enqueue",
    "escalate",
    "expire",
    "find_expert",
    "match",
    "next_deadline_ms",
    "offer_id",
    "offer_to",
    "on_agent_event",
    "order_key",
    "position_and_wait",
    "positions_and_waits",
    "queue_stats",
    "reject",
    "remove",
    "retarget",
]

Strategy = Literal[
    "longest-idle", "least-occupied", "round-robin", "best-skill-match", "fewest-contacts-today"
]
STRATEGIES: tuple[Strategy, ...] = (
    "longest-idle",
    "least-occupied",
    "round-robin",
    "best-skill-match",
    "fewest-contacts-today",
)
DEFAULT_STRATEGY: Strategy = "longest-idle"
HANDLE_ALPHA = 0.2  # weight of the newest sample in the moving average handle time
DEFAULT_HANDLE_MS = 300_000  # assumed handle time of a queue with no sample yet
NO_STRATEGIES: Mapping[str, str] = MappingProxyType({})
COLLABORATION = "collaboration"  # the round-robin cursor of find_expert
_V = TypeVar("_V")


# ------------------------------------------------------------------------- state and decisions


class Waiting(WireModel):
    """An interaction waiting for an agent (or held out of the list while offered)."""

    interaction_id: str
    channel: str
    target: Target
    enqueued_ms: int  # when it first queued: kept on re-queue, so its age is kept
    preferred_agent: str | None = None  # a named agent (callback, directed transfer)
    preferred_until_ms: int | None = None  # only the preferred/last agent until then
    last_agent: str | None = None  # who handled the customer's last contact (repeat contact)
    attempts: int = 0  # offers made so far
    declined: tuple[str, ...] = ()  # agents who rejected it or let its offer time out
    boost: int = 0  # priority raised by escalations (kept across steps and re-queues)
    min_priority: int | None = None  # a priority earned earlier (a callback keeps its own)
    escalations: tuple[str, ...] = ()  # escalation ids applied (a repeated one is a no-op)

    @property
    def queue(self) -> str:
        return self.target.queues[0]


class Offer(WireModel):
    """A reservation: the interaction is offered to one agent until ``deadline_ms``."""

    offer_id: str  # "<interaction id>#<attempt>"
    interaction_id: str
    agent_id: str
    channel: str
    queue: str
    priority: int
    attempt: int
    offered_ms: int
    deadline_ms: int
    strategy: str
    preferred: bool = False  # went to the preferred/last agent


class Assignment(WireModel):
    """An accepted offer: the agent works on the interaction."""

    offer_id: str
    interaction_id: str
    agent_id: str
    channel: str
    queue: str
    enqueued_ms: int
    accepted_ms: int


OfferEndReason = Literal["rejected", "timed-out", "rescinded", "agent-unavailable"]


class OfferEnded(WireModel):
    offer_id: str
    interaction_id: str
    agent_id: str
    reason: OfferEndReason
    at_ms: int
    requeued: bool  # back in the waiting list with its original age


class AgentAway(WireModel):
    """The matcher set an agent away after missed offers."""

    agent_id: str
    missed: int
    at_ms: int


class Dequeued(WireModel):
    """An interaction left the pool before an agent accepted it (abandoned, ...)."""

    interaction_id: str
    queue: str
    reason: str
    at_ms: int
    waited_ms: int
    rescinded: str | None = None  # the offer id it took back


Decision = Offer | Assignment | OfferEnded | AgentAway | Dequeued


_Row = tuple[tuple[int, int, str], int, bool]  # order key, need number, has a preference


class _Ready:
    """Derived from one ``agents`` dict: the available agents with room (id -> the channels with
    room, and channel -> those agents), the agents in wrap-up (id -> its earliest end), and every
    agent by skill and proficiency (skill -> [level] -> agents at that level or more). A later
    version copies what it changes: the sets of a version are never mutated."""

    __slots__ = ("base", "free", "levels", "rooms", "since", "src", "wrap")

    def __init__(
        self,
        src: dict[str, Agent],
        rooms: dict[str, tuple[str, ...]],
        free: dict[str, set[str]],
        wrap: dict[str, int],
        levels: dict[str, list[set[str]]],
        base: dict[str, Agent] | None = None,
        since: frozenset[str] = frozenset(),
    ) -> None:
        self.src = src
        self.base = base  # an earlier agents dict of the chain of updates (None: unknown)
        self.since = since  # the agents that may differ between ``base`` and ``src``
        self.rooms = rooms
        self.free = free
        self.wrap = wrap
        self.levels = levels


class _Needs:
    """Needs (channel, required skills) numbered in order of first sight. Append-only, so the
    versions of a pool's indexes share it."""

    __slots__ = ("kinds", "numbers")

    def __init__(self) -> None:
        self.numbers: dict[tuple[str, tuple[SkillRequirement, ...]], int] = {}
        self.kinds: list[tuple[str, tuple[tuple[str, int], ...]]] = []  # channel, (skill, level)

    def number(self, entry: Waiting) -> int:
        need = (entry.channel, entry.target.required)
        number = self.numbers.get(need)
        if number is None:
            number = self.numbers[need] = len(self.kinds)
            pairs = tuple((r.skill, r.min_proficiency) for r in entry.target.required)
            self.kinds.append((entry.channel, pairs))
        return number


class _Order:
    """Derived from one ``waiting`` dict: per need, its entries in order of service as rows
    (order key, need number, has a preference); per queue, the rows of its entries in order of
    service (queue lengths and positions by bisection, not by a scan); the end of each
    entry's preference window (the next deadline without a scan). ``base``: an earlier
    ``waiting`` dict this one was derived from by a chain of updates, ``changed``: the ids that
    may differ between the two (what a stage persists, without comparing every entry)."""

    __slots__ = ("base", "by_need", "by_queue", "changed", "needs", "preferred", "src")

    def __init__(
        self,
        src: dict[str, Waiting],
        by_need: dict[int, list[_Row]],
        needs: _Needs,
        by_queue: dict[str, list[_Row]],
        preferred: dict[str, int],
        base: dict[str, Waiting] | None = None,
        changed: frozenset[str] = frozenset(),
    ) -> None:
        self.src = src
        self.by_need = by_need
        self.needs = needs
        self.by_queue = by_queue
        self.preferred = preferred  # id -> preferred_until_ms, of the entries that have one
        self.base = base
        self.changed = changed

    def row(self, entry: Waiting) -> _Row:
        return (order_key(entry), self.needs.number(entry), entry.preferred_until_ms is not None)


class _Stable:
    """Left by ``match`` on its result: the needs no agent of ``src`` (the agents dict) with
    room can meet. A later match starts from them, re-checking only the agents that changed."""

    __slots__ = ("needs", "src", "unmet")

    def __init__(self, src: dict[str, Agent], needs: _Needs, unmet: set[int]) -> None:
        self.src = src
        self.needs = needs
        self.unmet = unmet


class Pool(WireModel):
    """The state of one routing pool (tenant or site).

    Indexes derived from it travel with each value, never serialised: the free agents and the
    agents by skill (valid for one ``agents`` dict, by identity), the order of service per need
    (for one ``waiting`` dict), and the needs the last ``match`` found no agent for (re-checked
    against the agents changed since). A step that changes a dict gets indexes updated by its
    change, or rebuilt on first use; a dict inside a pool is never mutated, so old and new
    values stay valid together. Equality and serialisation see the fields only.
    """

    pool_id: str = "default"
    agents: dict[str, Agent] = Field(default_factory=dict)
    waiting: dict[str, Waiting] = Field(default_factory=dict)
    offers: dict[str, Offer] = Field(default_factory=dict)  # open offers, by interaction id
    offered: dict[str, Waiting] = Field(default_factory=dict)  # their entries (as they waited)
    assignments: dict[str, dict[str, Assignment]] = Field(default_factory=dict)  # agent -> id
    rr_cursor: dict[str, str] = Field(default_factory=dict)  # queue -> last agent offered
    handle_ms: dict[str, float] = Field(default_factory=dict)  # queue -> moving average
    clock_ms: int = 0  # the newest event time seen

    _ready: _Ready | None = PrivateAttr(default=None)
    _order: _Order | None = PrivateAttr(default=None)
    _stable: _Stable | None = PrivateAttr(default=None)
    # (an earlier free-agent index, the agents changed since, the agents dict this holds for)
    _hint: tuple[_Ready, frozenset[str], dict[str, Agent]] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:  # the fields only, not the derived indexes
        if not isinstance(other, Pool):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]


class QueueStats(WireModel):
    queue: str
    waiting: int
    offered: int
    oldest_wait_ms: int
    average_handle_ms: float | None


class ExpertNeed(WireModel):
    """Who a consult, transfer or conference needs: a named agent, a role, or skills."""

    channel: str = "voice"
    required: tuple[SkillRequirement, ...] = ()
    optional: tuple[SkillRequirement, ...] = ()
    agent_id: str | None = None
    role: str | None = None  # met by the skill "role:<role>", e.g. "role:supervisor"
    exclude: tuple[str, ...] = ()  # the requesting agent


def order_key(entry: Waiting) -> tuple[int, int, str]:
    """The order of service: priority high first, then the oldest, then the id."""
    return (-entry.target.priority, entry.enqueued_ms, entry.interaction_id)


def _ready(pool: Pool) -> _Ready:
    """The free-agent index of ``pool``: its own; or the one of an earlier version updated for
    the agents changed since, as the steps noted them (``_carry_ready``) or found by comparing
    every agent by identity; or built."""
    agents = pool.agents
    cached = pool._ready
    if cached is not None and cached.src is agents:
        return cached
    hint = pool._hint
    if hint is not None and hint[2] is agents:
        earlier, ids, _ = hint
        changed = [agents[i] for i in ids if i in agents]
        gone = [earlier.src[i] for i in ids if i not in agents and i in earlier.src]
        built = _updated(earlier, agents, changed, gone)
    elif cached is None:
        built = _updated(None, agents, list(agents.values()), [])
    else:
        old = cached.src
        changed = [a for i, a in agents.items() if old.get(i) is not a]
        built = _updated(cached, agents, changed, [old[i] for i in old.keys() - agents.keys()])
    pool._ready = built
    pool._hint = None
    return built


def _carry_ready(before: Pool, after: Pool, changed: Iterable[Agent]) -> Pool:
    """Note on ``after`` (whose agents are ``before``'s with ``changed`` replaced) which agents
    changed since the last version with a free-agent index, so that the next ``_ready`` updates
    it for those alone. Nothing is computed until then."""
    ids = frozenset(a.id for a in changed)
    cached, hint = before._ready, before._hint
    if cached is not None and cached.src is before.agents:
        after._hint = (cached, ids, after.agents)
    elif hint is not None and hint[2] is before.agents:
        after._hint = (hint[0], hint[1] | ids, after.agents)
    else:
        after._hint = None
    return after


def _rebased(ready: _Ready) -> _Ready:
    """The same index, as the start of a new chain of updates."""
    if ready.base is ready.src and not ready.since:
        return ready
    return _Ready(ready.src, ready.rooms, ready.free, ready.wrap, ready.levels, ready.src)


def _updated(
    cached: _Ready | None, agents: dict[str, Agent], changed: Iterable[Agent], gone: list[Agent]
) -> _Ready:
    """``cached`` (None: nothing) updated to ``agents``, where ``changed`` agents differ from it
    and ``gone`` ones left. Copies the sets it changes."""
    if cached is None:
        old: dict[str, Agent] = {}
        rooms: dict[str, tuple[str, ...]] = {}
        free: dict[str, set[str]] = {}
        wrap: dict[str, int] = {}
        levels: dict[str, list[set[str]]] = {}
    else:
        old = cached.src
        rooms, free, wrap = cached.rooms.copy(), cached.free.copy(), cached.wrap.copy()
        levels = cached.levels.copy()
    changed = list(changed)
    fresh_free: set[str] = set()  # channels whose set this version owns
    fresh_levels: set[str] = set()

    def free_on(channel: str) -> set[str]:
        if channel not in fresh_free:
            free[channel] = free[channel].copy() if channel in free else set()
            fresh_free.add(channel)
        return free[channel]

    def levels_of(skill: str) -> list[set[str]]:
        if skill not in fresh_levels:
            held = levels.get(skill)
            levels[skill] = [x.copy() for x in held] if held else [set() for _ in range(6)]
            fresh_levels.add(skill)
        return levels[skill]

    for a in chain(changed, gone):
        before = old.get(a.id)
        present = a.id in agents
        channels = ag.rooms(a) if present and a.presence == "available" else ()
        had = rooms.get(a.id, ())
        if channels != had:
            for channel in had:
                if channel not in channels:
                    free_on(channel).discard(a.id)
            for channel in channels:
                if channel not in had:
                    free_on(channel).add(a.id)
            if channels:
                rooms[a.id] = channels
            else:
                rooms.pop(a.id, None)
        if present and a.wrap_up_until:
            wrap[a.id] = min(a.wrap_up_until.values())
        else:
            wrap.pop(a.id, None)
        if before is None or before.skills is not a.skills or not present:
            old_skills = before.skills if before is not None else {}
            new_skills = a.skills if present else {}
            for skill in old_skills.keys() | new_skills.keys():
                if old_skills.get(skill) == new_skills.get(skill) and before is not None:
                    continue
                by_level = levels_of(skill)
                for n in range(1, 6):
                    by_level[n].discard(a.id)
                for n in range(1, min(new_skills.get(skill, 0), 5) + 1):
                    by_level[n].add(a.id)
    if cached is None:
        return _Ready(agents, rooms, free, wrap, levels)
    ids = frozenset(a.id for a in chain(changed, gone))
    return _Ready(agents, rooms, free, wrap, levels, cached.base, cached.since | ids)


def _order(pool: Pool) -> _Order:
    """The order of service of ``pool``'s waiting entries, per need."""
    cached = pool._order
    if cached is not None and cached.src is pool.waiting:
        return cached
    built = _Order(pool.waiting, {}, cached.needs if cached is not None else _Needs(), {}, {})
    for entry in pool.waiting.values():
        row = built.row(entry)
        built.by_need.setdefault(row[1], []).append(row)
        built.by_queue.setdefault(entry.queue, []).append(row)
        if entry.preferred_until_ms is not None:
            built.preferred[entry.interaction_id] = entry.preferred_until_ms
    for rows in built.by_need.values():
        rows.sort()
    for keys in built.by_queue.values():
        keys.sort()
    pool._order = built
    return built


def _with_waiting(
    pool: Pool,
    waiting: dict[str, Waiting],
    *,
    added: Iterable[Waiting] = (),
    removed: Iterable[Waiting] = (),
    removed_by_need: dict[int, set[str]] | None = None,
    update: dict[str, Any] | None = None,
) -> Pool:
    """``pool`` with ``waiting`` (and ``update``). ``added``: entries new in ``waiting``;
    ``removed``: entries of ``pool.waiting`` no longer in it (or ``removed_by_need``: their ids
    by need number, when the caller knows them). The order of service follows by that change
    when the old one is known, else it is rebuilt on first use."""
    new = pool.model_copy(update={**(update or {}), "waiting": waiting})
    old = pool._order
    if old is None or old.src is not pool.waiting:
        new._order = None
        return new
    by_need = old.by_need.copy()
    by_queue = old.by_queue.copy()
    copied: set[int] = set()
    copied_queues: set[str] = set()

    def rows_of(need: int) -> list[_Row]:
        if need not in copied:
            by_need[need] = list(by_need.get(need, ()))
            copied.add(need)
        return by_need[need]

    def keys_of(queue: str) -> list[_Row]:
        if queue not in copied_queues:
            by_queue[queue] = list(by_queue.get(queue, ()))
            copied_queues.add(queue)
        return by_queue[queue]

    gone = list(removed)
    if removed_by_need is not None or len(gone) > 32:  # many: one pass per need and queue
        ids_by_need = removed_by_need if removed_by_need is not None else {}
        for entry in gone:
            ids_by_need.setdefault(old.needs.number(entry), set()).add(entry.interaction_id)
        for need, ids in ids_by_need.items():
            if len(ids) > 32 or any(i not in old.src for i in ids):
                by_need[need] = [r for r in by_need.get(need, ()) if r[0][2] not in ids]
                copied.add(need)
                continue
            rows = rows_of(need)
            for i in ids:  # a few: found by bisection
                _drop_row(rows, order_key(old.src[i]))
        gone_by_queue: dict[str, list[tuple[int, int, str]]] = {}  # queue -> order keys
        for ids in ids_by_need.values():
            for i in ids:
                was = old.src.get(i)
                if was is not None:
                    gone_by_queue.setdefault(was.queue, []).append(order_key(was))
        for queue, dropped in gone_by_queue.items():
            if len(dropped) > 32:
                ids = {k[2] for k in dropped}
                by_queue[queue] = [r for r in by_queue.get(queue, ()) if r[0][2] not in ids]
                copied_queues.add(queue)
                continue
            rows = keys_of(queue)
            for key in dropped:
                _drop_row(rows, key)
    else:
        for entry in gone:
            key = order_key(entry)
            _drop_row(rows_of(old.needs.number(entry)), key)
            _drop_row(keys_of(entry.queue), key)
    ids = {entry.interaction_id for entry in added}
    ids.update(entry.interaction_id for entry in gone)
    if removed_by_need is not None:
        ids.update(i for taken in removed_by_need.values() for i in taken)
    for entry in added:
        row = old.row(entry)
        insort(rows_of(row[1]), row)
        insort(keys_of(entry.queue), row)
    preferred = old.preferred
    if any(i in preferred for i in ids) or any(e.preferred_until_ms is not None for e in added):
        preferred = {i: t for i, t in preferred.items() if i not in ids}
        for e in added:
            if e.preferred_until_ms is not None:
                preferred[e.interaction_id] = e.preferred_until_ms
    if old.base is not None and len(old.changed) < _LINEAGE_LIMIT:
        base, changed = old.base, old.changed | ids
    else:  # start a new chain from the previous version
        base, changed = old.src, frozenset(ids)
    new._order = _Order(waiting, by_need, old.needs, by_queue, preferred, base, changed)
    return new


def _drop_row(rows: list[_Row], key: tuple[int, int, str]) -> None:
    """Remove the row of order key ``key`` from sorted ``rows`` (if there)."""
    at = bisect_left(rows, (key,))
    if at < len(rows) and rows[at][0] == key:
        del rows[at]


_LINEAGE_LIMIT = 256  # ids a chain of waiting-list updates remembers before it starts anew


def waiting_changes(before: Pool, after: Pool) -> frozenset[str] | None:
    """The interaction ids whose waiting entry may differ between two versions of a pool (a
    superset: compare the entries to be sure); None when the versions are not known to be
    related (then every entry must be compared)."""
    if after.waiting is before.waiting:
        return frozenset()
    a = after._order
    if a is None or a.src is not after.waiting or a.base is None:
        return None
    if a.base is before.waiting:
        return a.changed
    b = before._order
    if b is not None and b.src is before.waiting and b.base is a.base:
        return a.changed | b.changed
    return None


def _carried_unmet(pool: Pool, order: _Order, ready: _Ready) -> set[int]:
    """The needs known unmet by the last match, minus those an agent changed since could meet."""
    stable = pool._stable
    if stable is None or stable.needs is not order.needs:
        return set()
    unmet = set(stable.unmet)
    if stable.src is pool.agents or not unmet:
        return unmet
    agents, rooms = pool.agents, ready.rooms
    if ready.base is stable.src:
        changed = [agents[i] for i in ready.since if i in agents]
    else:
        before = stable.src
        changed = [a for i, a in agents.items() if before.get(i) is not a]
    fresh = [(a.skills, rooms[a.id]) for a in changed if a.id in rooms]
    channels = {channel for _, held in fresh for channel in held}
    kinds = order.needs.kinds
    for n in stable.unmet:
        channel, pairs = kinds[n]
        if channel not in channels:
            continue
        for skills, held in fresh:
            if channel not in held:
                continue
            for skill, level in pairs:
                if skills.get(skill, 0) < level:
                    break
            else:
                unmet.discard(n)
                break
    return unmet


# Copies use dict.copy(): it clones the table even after deletions, where dict(d) and {**d}
# re-insert every key once a dict has a hole.


def _minus(d: dict[str, _V], key: str) -> dict[str, _V]:
    out = d.copy()
    out.pop(key, None)
    return out


def _plus(d: dict[str, _V], key: str, value: _V) -> dict[str, _V]:
    out = d.copy()
    out[key] = value
    return out


def _merged(d: dict[str, _V], other: Mapping[str, _V]) -> dict[str, _V]:
    out = d.copy()
    out.update(other)
    return out


def offer_id(interaction_id: str, attempt: int) -> str:
    return f"{interaction_id}#{attempt}"


def _open_offer(pool: Pool, an_offer_id: str) -> Offer | None:
    interaction_id, _, _ = an_offer_id.rpartition("#")
    offer = pool.offers.get(interaction_id)
    return offer if offer is not None and offer.offer_id == an_offer_id else None


def _strategy(strategies: Mapping[str, str], queue: str, default: str) -> Strategy:
    name = strategies.get(queue, default)
    for known in STRATEGIES:
        if name == known:
            return known
    raise ValueError(f"unknown strategy {name!r} for queue {queue!r}; known: {STRATEGIES}")


# ------------------------------------------------------------------------- waiting list


def effective(entry: Waiting, target: Target) -> Target:
    """``target`` (as the policy and its steps give it) with the entry's escalation boost added
    and its ``min_priority`` kept, at most 1000."""
    priority = min(1000, target.priority + entry.boost)
    if entry.min_priority is not None:
        priority = max(priority, min(1000, entry.min_priority))
    if priority == target.priority:
        return target
    return target.model_copy(update={"priority": priority})


def enqueue(pool: Pool, entry: Waiting) -> Pool:
    """Add a waiting interaction. A duplicate of an open offer changes nothing; a second
    enqueue of a waiting entry replaces it, keeping the earlier age, the offers made and the
    escalations. ``min_priority`` keeps a priority earned earlier (a callback's)."""
    iid = entry.interaction_id
    if iid in pool.offers:
        return pool
    old = pool.waiting.get(iid)
    attempts = max(entry.attempts, old.attempts if old else 0, _last_attempt(pool, iid))
    update: dict[str, object] = {"attempts": attempts}
    if old is not None:
        update["enqueued_ms"] = min(old.enqueued_ms, entry.enqueued_ms)
        update["declined"] = tuple(dict.fromkeys(old.declined + entry.declined))
        update["boost"] = max(old.boost, entry.boost)
        update["escalations"] = tuple(dict.fromkeys(old.escalations + entry.escalations))
    entry = entry.model_copy(update=update)
    entry = entry.model_copy(update={"target": effective(entry, entry.target)})
    waiting = _plus(pool.waiting, iid, entry)
    return _with_waiting(pool, waiting, added=[entry], removed=[old] if old else [])


def _last_attempt(pool: Pool, interaction_id: str) -> int:
    """The attempt of an accepted offer still at work (a transfer re-queues while connected),
    so that offer ids stay unique."""
    # a comprehension over every agent's work: this runs at every enqueue
    held = [w[interaction_id] for w in pool.assignments.values() if interaction_id in w]
    return max((int(a.offer_id.rpartition("#")[2] or 0) for a in held), default=0)


def retarget(pool: Pool, interaction_id: str, target: Target) -> Pool:
    """A timed step changed where the interaction waits or what it needs. An entry held by an
    open offer is updated too (it takes effect if the offer does not end in acceptance).
    ``target`` is the policy's: the entry's escalation boost and minimum priority apply on
    top. The same pool when nothing changes."""
    old = pool.waiting.get(interaction_id)
    if old is not None:
        target = effective(old, target)
        if target == old.target:
            return pool
        entry = old.model_copy(update={"target": target})
        waiting = _plus(pool.waiting, interaction_id, entry)
        return _with_waiting(pool, waiting, added=[entry], removed=[old])
    held = pool.offered.get(interaction_id)
    if held is not None:
        target = effective(held, target)
        if target == held.target:
            return pool
        entry = held.model_copy(update={"target": target})
        return pool.model_copy(update={"offered": _plus(pool.offered, interaction_id, entry)})
    return pool


def escalate(
    pool: Pool, interaction_id: str, boost: int, escalation_id: str | None = None
) -> tuple[Pool, Waiting | None]:
    """Raise the priority of a waiting (or offered) interaction by ``boost``, keeping its age;
    later steps keep the boost. An escalation id already applied, or an interaction not
    waiting, changes nothing (None)."""
    old = pool.waiting.get(interaction_id)
    held = pool.offered.get(interaction_id)
    entry = old if old is not None else held
    if entry is None or boost <= 0 or (escalation_id and escalation_id in entry.escalations):
        return pool, None
    escalations = (*entry.escalations, escalation_id) if escalation_id else entry.escalations
    priority = min(1000, entry.target.priority + boost)
    new = entry.model_copy(
        update={
            "boost": entry.boost + boost,
            "escalations": escalations,
            "target": entry.target.model_copy(update={"priority": priority}),
        }
    )
    if old is not None:
        waiting = _plus(pool.waiting, interaction_id, new)
        return _with_waiting(pool, waiting, added=[new], removed=[old]), new
    return pool.model_copy(update={"offered": _plus(pool.offered, interaction_id, new)}), new


def remove(
    pool: Pool, interaction_id: str, reason: str, now_ms: int
) -> tuple[Pool, tuple[Decision, ...]]:
    """The interaction left the queue (abandoned, answered elsewhere, closed): its waiting
    entry goes and an open offer is rescinded, freeing the agent's slot."""
    entry = pool.waiting.get(interaction_id) or pool.offered.get(interaction_id)
    if entry is None:
        return pool, ()
    decisions: list[Decision] = []
    offer = pool.offers.get(interaction_id)
    if offer is not None:
        pool = _end_offer(pool, offer, "rescinded", now_ms, requeue=False)
        decisions.append(
            OfferEnded(
                offer_id=offer.offer_id,
                interaction_id=interaction_id,
                agent_id=offer.agent_id,
                reason="rescinded",
                at_ms=now_ms,
                requeued=False,
            )
        )
    clock = {"clock_ms": max(pool.clock_ms, now_ms)}
    if interaction_id in pool.waiting:
        gone = [pool.waiting[interaction_id]]
        pool = _with_waiting(pool, _minus(pool.waiting, interaction_id), removed=gone, update=clock)
    else:
        pool = pool.model_copy(update=clock)
    decisions.append(
        Dequeued(
            interaction_id=interaction_id,
            queue=entry.queue,
            reason=reason,
            at_ms=now_ms,
            waited_ms=max(0, now_ms - entry.enqueued_ms),
            rescinded=offer.offer_id if offer else None,
        )
    )
    return pool, tuple(decisions)


# ------------------------------------------------------------------------- match


class _Keys(dict[str, tuple[object, ...]]):
    """Strategy keys of agents, computed on first use: ``min(ids, key=keys.__getitem__)`` then
    reads them at C speed. An agent's entry is dropped when it takes an offer."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[str], tuple[object, ...]]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, agent_id: str) -> tuple[object, ...]:
        key = self.fn(agent_id)
        self[agent_id] = key
        return key


_EMPTY: frozenset[str] = frozenset()
_RING_SCAN = 64  # candidates from which round-robin scans the ring instead of sorting them


class _Round:
    """The working state of one ``match`` (or ``find_expert``): a mutable copy of the agents and
    indexes of those free at its start (by channel; by skill and proficiency). Within a round
    agents only gain work, so an agent with no room left on a channel never regains it and a
    need (channel, required skills) that no free agent meets stays unmet."""

    def __init__(self, pool: Pool, now_ms: int, ready: _Ready) -> None:
        self.now = now_ms
        self.day = now_ms // ag.DAY_MS
        self.agents = pool.agents.copy()
        self.ready = ready.rooms  # the rooms at the start of the round
        self.rooms: dict[str, tuple[str, ...]] = {}  # the rooms of agents that took offers
        self.free = {ch: ids.copy() for ch, ids in ready.free.items() if ids}  # shrinks
        self.levels = ready.levels
        self.keys: dict[str, _Keys] = {}
        self.scores: dict[tuple[str, ...], _Keys] = {}  # skill names -> -score
        self.rings: dict[str, list[str]] = {}
        self.heaps: dict[tuple[str, str], list[tuple[tuple[object, ...], str]]] = {}
        self.unmet: set[int] = set()  # needs (interned) that no free agent meets

    # -- eligibility

    def skilled(self, skill: str, level: int) -> AbstractSet[str]:
        """The agents (of the pool, free or not) with ``skill`` at ``level`` or more."""
        by_level = self.levels.get(skill)
        return by_level[min(max(level, 1), 5)] if by_level else _EMPTY

    def eligible(self, channel: str, required: tuple[SkillRequirement, ...]) -> AbstractSet[str]:
        """Agents with room on ``channel`` now who meet every required skill (do not mutate)."""
        free = self.free.get(channel)
        if not free:
            return _EMPTY
        if not required:
            return free
        sets: list[AbstractSet[str]] = []
        for req in required:
            having = self.skilled(req.skill, req.min_proficiency)
            if not having:
                return _EMPTY
            sets.append(having)
        return free.intersection(*sets)

    def preferred(self, entry: Waiting) -> tuple[str, ...]:
        """The agents the entry is held for now: its preferred and last agents while its
        window lasts, unless they declined it or are not logged in."""
        if entry.preferred_until_ms is None or self.now >= entry.preferred_until_ms:
            return ()
        names = [i for i in (entry.preferred_agent, entry.last_agent) if i]
        return tuple(
            dict.fromkeys(
                i
                for i in names
                if i not in entry.declined
                and i in self.agents
                and self.agents[i].presence != "offline"
            )
        )

    # -- strategies

    def idle_key(self, agent_id: str) -> tuple[object, ...]:
        """Longest idle first: agents with nothing held by the time they became idle, then the
        others by their last offer; the id breaks ties."""
        a = self.agents[agent_id]
        if a.work or a.offered:
            return (1, a.last_assigned_ms or 0, agent_id)
        return (0, a.idle_since_ms, agent_id)

    def keys_of(self, strategy: Strategy) -> _Keys:
        keys = self.keys.get(strategy)
        if keys is None:
            agents, day, idle = self.agents, self.day, self.idle_key
            fn: Callable[[str], tuple[object, ...]]
            if strategy == "least-occupied":

                def fn(i: str) -> tuple[object, ...]:
                    return (ag.load(agents[i]), *idle(i))

            elif strategy == "fewest-contacts-today":

                def fn(i: str) -> tuple[object, ...]:
                    a = agents[i]
                    return (ag.contacts_on(a, day) + sum(map(len, a.offered.values())), *idle(i))

            else:
                fn = idle
            keys = self.keys[strategy] = _Keys(fn)
        return keys

    def choose(
        self,
        ids: AbstractSet[str],
        strategy: Strategy,
        channel: str,
        scored: tuple[SkillRequirement, ...],
        cursor: str | None,
    ) -> str:
        """The best of ``ids`` (not empty) by ``strategy``."""
        if strategy == "round-robin":
            return self.next_in_ring(ids, channel, cursor)
        if strategy == "best-skill-match":
            if scored:
                return self.best_skilled(ids, scored)
            strategy = "longest-idle"
        if ids is self.free.get(channel):
            return self.first_free(strategy, channel)
        return min(ids, key=self.keys_of(strategy).__getitem__)

    def first_free(self, strategy: Strategy, channel: str) -> str:
        """The best of every agent with room on ``channel`` (an entry with no required skill):
        a heap per strategy and channel, re-keyed lazily (keys only grow within a round)."""
        keys, free = self.keys_of(strategy), self.free[channel]
        heap = self.heaps.get((strategy, channel))
        if heap is None:
            heap = self.heaps[(strategy, channel)] = [(keys[i], i) for i in free]
            heapq.heapify(heap)
        while True:
            key, agent_id = heap[0]
            if agent_id not in free:  # no room left on the channel: never again in this round
                heapq.heappop(heap)
            elif keys[agent_id] != key:
                heapq.heapreplace(heap, (keys[agent_id], agent_id))
            else:
                return agent_id

    def best_skilled(self, ids: AbstractSet[str], scored: tuple[SkillRequirement, ...]) -> str:
        """Best-skill-match: the highest sum of proficiency over ``scored``, then longest idle.
        One skill: by proficiency level, from 5 down, with set operations."""
        idle = self.keys_of("longest-idle").__getitem__
        names = tuple(sorted(r.skill for r in scored))
        if not names:
            return min(ids, key=idle)
        if len(set(names)) == 1:
            for level in range(5, 0, -1):
                best = ids & self.skilled(names[0], level)
                if best:
                    return min(best, key=idle)
            return min(ids, key=idle)
        scores = self.scores.get(names)
        if scores is None:
            agents = self.agents

            def score(i: str) -> tuple[object, ...]:
                skills = agents[i].skills
                return (-sum(skills.get(name, 0) for name in names),)

            scores = self.scores[names] = _Keys(score)
        top = scores[min(ids, key=scores.__getitem__)]
        return min([i for i in ids if scores[i] == top], key=idle)

    def next_in_ring(self, ids: AbstractSet[str], channel: str, cursor: str | None) -> str:
        """Round-robin: the first of ``ids`` after ``cursor`` in id order, wrapping around."""
        if len(ids) < _RING_SCAN:
            ordered = sorted(ids)
            k = bisect_right(ordered, cursor) if cursor is not None else 0
            return ordered[k] if k < len(ordered) else ordered[0]
        ring = self.rings.get(channel)
        if ring is None:
            ring = self.rings[channel] = sorted(self.free.get(channel, ()))
        start = bisect_right(ring, cursor) if cursor is not None else 0
        for agent_id in islice(ring, start, None):
            if agent_id in ids:
                return agent_id
        for agent_id in islice(ring, 0, start):
            if agent_id in ids:
                return agent_id
        return min(ids)  # unreachable: ids are free on the channel, so in the ring

    def pick(
        self, entry: Waiting, strategy: Strategy, cursor: str | None, need: int
    ) -> tuple[str | None, bool]:
        """The agent for ``entry`` (or None), and whether it is the preferred one."""
        channel = entry.channel
        free = self.free.get(channel)
        if not free:
            return None, False
        target = entry.target
        if entry.preferred_until_ms is not None:
            held = self.preferred(entry)
            if held:
                for agent_id in held:
                    if agent_id in free and ag.meets(self.agents[agent_id], target.required):
                        return agent_id, True
                return None, False
        if need in self.unmet:
            return None, False
        ids = self.eligible(channel, target.required)
        if not ids:
            self.unmet.add(need)
            return None, False
        if entry.declined:  # asked again only when no one else is free
            others = ids - set(entry.declined)
            if others:
                ids = others
        scored = target.required + target.optional if strategy == "best-skill-match" else ()
        return self.choose(ids, strategy, channel, scored, cursor), False

    def took(self, agent: Agent) -> bool:
        """Record that ``agent`` got an offer; False once no agent has room on any channel."""
        agent_id = agent.id
        self.agents[agent_id] = agent
        before = self.rooms.get(agent_id, self.ready.get(agent_id, ()))
        after = ag.rooms(agent)
        self.rooms[agent_id] = after
        for channel in before:
            if channel not in after:
                self.free[channel].discard(agent_id)
        for keys in self.keys.values():
            keys.pop(agent_id, None)
        return any(self.free.values())


def match(
    pool: Pool,
    now_ms: int,
    strategies: Mapping[str, str] = NO_STRATEGIES,
    offer_timeout_ms: int = 20_000,
    *,
    default_strategy: str = DEFAULT_STRATEGY,
) -> tuple[Pool, tuple[Offer, ...]]:
    """Offer waiting interactions to free agents, in order of service, until no waiting entry
    fits a free agent. ``strategies`` maps a queue to its strategy (else ``default_strategy``);
    an entry is ranked by the strategy of its first queue. Offers made at ``now_ms`` time out
    at ``now_ms + offer_timeout_ms``."""
    pool, _ = end_wrap_ups(pool, now_ms)
    now_ms = max(now_ms, pool.clock_ms)
    ready = _ready(pool)
    rnd = _Round(pool, now_ms, ready)
    order = _order(pool)
    rnd.unmet = _carried_unmet(pool, order, ready)
    kinds, free, unmet = order.needs.kinds, rnd.free, rnd.unmet
    lists = []
    for need, rows in order.by_need.items():
        if not rows or need in unmet:
            continue
        if free.get(kinds[need][0]):
            lists.append(rows)
        else:  # no one with room on the channel: unmet until an agent changes
            unmet.add(need)
    if not lists:
        pool._ready = _rebased(ready)
        pool._stable = _Stable(pool.agents, order.needs, unmet)
        return pool, ()
    # lazily merged: a round that runs out of free agents early reads only the heads
    sequence = lists[0] if len(lists) == 1 else heapq.merge(*lists)
    source = pool.waiting
    cursor = pool.rr_cursor.copy()
    strategy_of: dict[str, Strategy] = {}
    made: list[Offer] = []
    taken: dict[int, set[str]] = {}  # need -> interaction ids offered
    held: dict[str, Waiting] = {}
    for key, need, _ in sequence:
        if need in unmet:
            continue
        if not free.get(kinds[need][0]):  # no one left with room on the channel
            unmet.add(need)
            continue
        entry = source[key[2]]
        queue = entry.target.queues[0]
        strategy = strategy_of.get(queue)
        if strategy is None:
            strategy = strategy_of[queue] = _strategy(strategies, queue, default_strategy)
        agent_id, preferred = rnd.pick(entry, strategy, cursor.get(queue), need)
        if agent_id is None:
            continue
        iid = entry.interaction_id
        attempt = entry.attempts + 1
        offer = Offer(
            offer_id=offer_id(iid, attempt),
            interaction_id=iid,
            agent_id=agent_id,
            channel=entry.channel,
            queue=queue,
            priority=entry.target.priority,
            attempt=attempt,
            offered_ms=now_ms,
            deadline_ms=now_ms + offer_timeout_ms,
            strategy="preferred" if preferred else strategy,
            preferred=preferred,
        )
        made.append(offer)
        taken.setdefault(need, set()).add(iid)
        held[iid] = entry
        if strategy == "round-robin" and not preferred:
            cursor[queue] = agent_id
        if not rnd.took(ag.reserve(rnd.agents[agent_id], entry.channel, iid, now_ms)):
            break
    if not made:
        pool._ready = _rebased(ready)
        pool._stable = _Stable(pool.agents, order.needs, rnd.unmet)
        return pool, ()
    waiting = source.copy()
    for iid in held:
        del waiting[iid]
    new = _with_waiting(
        pool,
        waiting,
        removed_by_need=taken,
        update={
            "agents": rnd.agents,
            "offers": _merged(pool.offers, {o.interaction_id: o for o in made}),
            "offered": _merged(pool.offered, held),
            "rr_cursor": cursor,
            "clock_ms": now_ms,
        },
    )
    rooms = ready.rooms.copy()
    for agent_id, channels in rnd.rooms.items():
        if channels:
            rooms[agent_id] = channels
        else:
            rooms.pop(agent_id, None)
    new._ready = _Ready(new.agents, rooms, rnd.free, ready.wrap, ready.levels, new.agents)
    new._stable = _Stable(new.agents, order.needs, rnd.unmet)
    return new, tuple(made)


# ------------------------------------------------------------------------- offer outcomes


def _end_offer(
    pool: Pool,
    offer: Offer,
    reason: OfferEndReason,
    now_ms: int,
    *,
    requeue: bool,
    answered: bool = False,
) -> Pool:
    """Close an open offer: free the slot and, if ``requeue``, put the entry back with its
    original age (an agent who declined or missed it is asked again only as a last resort)."""
    iid = offer.interaction_id
    entry = pool.offered[iid]
    offers = _minus(pool.offers, iid)
    offered = _minus(pool.offered, iid)
    agents = pool.agents.copy()
    agent = agents.get(offer.agent_id)
    changed: list[Agent] = []
    if agent is not None:
        agents[offer.agent_id] = agent = ag.unreserve(agent, iid, now_ms, answered=answered)
        changed.append(agent)
    update: dict[str, object] = {
        "offers": offers,
        "offered": offered,
        "agents": agents,
        "clock_ms": max(pool.clock_ms, now_ms),
    }
    if not requeue:
        return _carry_ready(pool, pool.model_copy(update=update), changed)
    changes: dict[str, object] = {"attempts": max(entry.attempts, offer.attempt)}
    if reason in ("rejected", "timed-out") and offer.agent_id not in entry.declined:
        changes["declined"] = (*entry.declined, offer.agent_id)
    entry = entry.model_copy(update=changes)
    new = _with_waiting(pool, _plus(pool.waiting, iid, entry), added=[entry], update=update)
    return _carry_ready(pool, new, changed)


def accept(pool: Pool, an_offer_id: str, now_ms: int) -> tuple[Pool, Assignment | None]:
    """The agent accepted. An unknown, closed or late offer (``now_ms`` at or past its deadline:
    event time decides, so a replay decides the same) changes nothing."""
    offer = _open_offer(pool, an_offer_id)
    if offer is None or now_ms >= offer.deadline_ms:
        return pool, None
    iid = offer.interaction_id
    entry = pool.offered[iid]
    assignment = Assignment(
        offer_id=offer.offer_id,
        interaction_id=iid,
        agent_id=offer.agent_id,
        channel=offer.channel,
        queue=offer.queue,
        enqueued_ms=entry.enqueued_ms,
        accepted_ms=now_ms,
    )
    agent = ag.assign(pool.agents[offer.agent_id], iid, now_ms)
    held = _plus(pool.assignments.get(offer.agent_id, {}), iid, assignment)
    new = pool.model_copy(
        update={
            "offers": _minus(pool.offers, iid),
            "offered": _minus(pool.offered, iid),
            "agents": _plus(pool.agents, agent.id, agent),
            "assignments": _plus(pool.assignments, offer.agent_id, held),
            "clock_ms": max(pool.clock_ms, now_ms),
        }
    )
    return _carry_ready(pool, new, [agent]), assignment


def reject(pool: Pool, an_offer_id: str, now_ms: int) -> tuple[Pool, OfferEnded | None]:
    """The agent rejected: the interaction waits again with its original age."""
    offer = _open_offer(pool, an_offer_id)
    if offer is None:
        return pool, None
    pool = _end_offer(pool, offer, "rejected", now_ms, requeue=True, answered=True)
    return pool, OfferEnded(
        offer_id=offer.offer_id,
        interaction_id=offer.interaction_id,
        agent_id=offer.agent_id,
        reason="rejected",
        at_ms=now_ms,
        requeued=True,
    )


def expire(
    pool: Pool, now_ms: int, max_missed: int = 3
) -> tuple[Pool, tuple[OfferEnded, ...], tuple[AgentAway, ...]]:
    """Time out every offer whose deadline is at or before ``now_ms`` (in deadline order): the
    interaction waits again with its original age; an agent reaching ``max_missed`` time-outs
    in a row (0: never) is set away."""
    due = sorted(
        (o for o in pool.offers.values() if o.deadline_ms <= now_ms),
        key=lambda o: (o.deadline_ms, o.offer_id),
    )
    ended: list[OfferEnded] = []
    away: list[AgentAway] = []
    for offer in due:
        pool = _end_offer(pool, offer, "timed-out", now_ms, requeue=True)
        ended.append(
            OfferEnded(
                offer_id=offer.offer_id,
                interaction_id=offer.interaction_id,
                agent_id=offer.agent_id,
                reason="timed-out",
                at_ms=now_ms,
                requeued=True,
            )
        )
        agent = pool.agents.get(offer.agent_id)
        if agent is None:
            continue
        agent, set_away = ag.missed_offer(agent, now_ms, max_missed)
        pool = _put(pool, agent, pool.clock_ms)
        if set_away:
            away.append(
                AgentAway(agent_id=agent.id, missed=agent.missed_offers_in_a_row, at_ms=now_ms)
            )
    return pool, tuple(ended), tuple(away)


def _rescind_agent_offers(
    pool: Pool, agent_id: str, now_ms: int
) -> tuple[Pool, tuple[OfferEnded, ...]]:
    """An agent went offline: its open offers go back to the waiting list at once."""
    mine = sorted((o for o in pool.offers.values() if o.agent_id == agent_id), key=_order_offer)
    ended: list[OfferEnded] = []
    for offer in mine:
        pool = _end_offer(pool, offer, "agent-unavailable", now_ms, requeue=True)
        ended.append(
            OfferEnded(
                offer_id=offer.offer_id,
                interaction_id=offer.interaction_id,
                agent_id=agent_id,
                reason="agent-unavailable",
                at_ms=now_ms,
                requeued=True,
            )
        )
    return pool, tuple(ended)


def _order_offer(offer: Offer) -> tuple[int, str]:
    return (offer.offered_ms, offer.offer_id)


# ------------------------------------------------------------------------- work and agents


def complete(pool: Pool, agent_id: str, interaction_id: str, now_ms: int) -> Pool:
    """The agent completed the interaction: its wrap-up starts (the slot stays held until
    ``end_wrap_ups``); the queue's moving average handle time takes the sample (accepted to
    now, plus the wrap-up time)."""
    agent = pool.agents.get(agent_id)
    held = pool.assignments.get(agent_id, {})
    if agent is None or interaction_id not in held:
        return pool
    assignment = held[interaction_id]
    sample = max(0, now_ms - assignment.accepted_ms) + agent.wrap_up_seconds * 1000
    previous = pool.handle_ms.get(assignment.queue)
    average = sample if previous is None else previous + HANDLE_ALPHA * (sample - previous)
    rest = {k: v for k, v in held.items() if k != interaction_id}
    assignments = _minus(pool.assignments, agent_id)
    if rest:
        assignments[agent_id] = rest
    agent = ag.release(agent, interaction_id, now_ms)
    new = pool.model_copy(
        update={
            "agents": _plus(pool.agents, agent_id, agent),
            "assignments": assignments,
            "handle_ms": _plus(pool.handle_ms, assignment.queue, float(average)),
            "clock_ms": max(pool.clock_ms, now_ms),
        }
    )
    return _carry_ready(pool, new, [agent])


def end_wrap_ups(pool: Pool, now_ms: int) -> tuple[Pool, tuple[str, ...]]:
    """End every wrap-up due at ``now_ms``; returns the agents whose wrap-up ended."""
    due = [i for i, until in _ready(pool).wrap.items() if until <= now_ms]
    changed = {i: ag.end_due_wrap_ups(pool.agents[i], now_ms) for i in due}
    if not changed:
        return pool, ()
    new = pool.model_copy(update={"agents": _merged(pool.agents, changed)})
    return _carry_ready(pool, new, changed.values()), tuple(sorted(changed))


def on_agent_event(
    pool: Pool,
    event_type: str,
    event: ev.AgentEvent,
    now_ms: int,
    *,
    rules: CapacityRules | None = None,
) -> tuple[Pool, tuple[Decision, ...]]:
    """Apply one event of ``cim.agent.events.v1`` (its CloudEvents type and payload).
    Events of an agent that never logged in are ignored, except the login."""
    aid = event.agent_id
    agent = pool.agents.get(aid)
    clock = max(pool.clock_ms, now_ms)
    if isinstance(event, ev.AgentLoggedIn) and event_type == "cim.agent.logged-in":
        agent = ag.logged_in(agent, event, now_ms, rules)
        return _put(pool, agent, clock), ()
    if agent is None:
        return pool, ()
    if event_type == "cim.agent.logged-out":
        return _offline(pool, ag.logged_out(agent, now_ms), now_ms)
    if isinstance(event, ev.PresenceChanged):
        agent = ag.presence_changed(agent, event.presence, now_ms, event.reason)
        if event.presence == "offline":
            return _offline(pool, agent, now_ms)
        return _put(pool, agent, clock), ()
    if isinstance(event, ev.OfferAnswer):
        offer = _open_offer(pool, event.offer_id)
        if offer is None or offer.agent_id != aid:
            return pool, ()
        if event_type == "cim.agent.offer.accepted":
            pool, assignment = accept(pool, event.offer_id, now_ms)
            return pool, (assignment,) if assignment else ()
        if event_type == "cim.agent.offer.rejected":
            pool, ended = reject(pool, event.offer_id, now_ms)
            return pool, (ended,) if ended else ()
        return pool, ()
    if isinstance(event, ev.WorkCompleted):
        return complete(pool, aid, event.interaction_id, now_ms), ()
    if isinstance(event, ev.AgentSkills) and event_type == "cim.agent.skills.updated":
        return _put(pool, ag.skills_updated(agent, event.skills), clock), ()
    return pool, ()


def _put(pool: Pool, agent: Agent, clock_ms: int) -> Pool:
    new = pool.model_copy(
        update={"agents": _plus(pool.agents, agent.id, agent), "clock_ms": clock_ms}
    )
    return _carry_ready(pool, new, [agent])


def _offline(pool: Pool, agent: Agent, now_ms: int) -> tuple[Pool, tuple[Decision, ...]]:
    pool = _put(pool, agent, max(pool.clock_ms, now_ms))
    return _rescind_agent_offers(pool, agent.id, now_ms)


# ------------------------------------------------------------------------- collaboration


def find_expert(
    pool: Pool, need: ExpertNeed, now_ms: int, strategy: str = DEFAULT_STRATEGY
) -> str | None:
    """An agent free now for a consult, transfer or conference: the named agent if it is
    eligible, else the best by ``strategy`` among the agents with room on the channel who meet
    every required skill (and the role). Same eligibility as ``match``; changes nothing."""
    pool, _ = end_wrap_ups(pool, now_ms)
    required = need.required
    if need.role:
        required = (*required, SkillRequirement(skill=f"role:{need.role}"))
    if need.agent_id is not None:
        a = pool.agents.get(need.agent_id)
        ok = a is not None and ag.can_take(a, need.channel) and ag.meets(a, required)
        return need.agent_id if ok and need.agent_id not in need.exclude else None
    rnd = _Round(pool, now_ms, _ready(pool))
    ids = rnd.eligible(need.channel, required)
    if need.exclude:
        ids = ids - set(need.exclude)
    if not ids:
        return None
    name = _strategy({}, "", strategy)
    scored = required + need.optional if name == "best-skill-match" else ()
    return rnd.choose(ids, name, need.channel, scored, pool.rr_cursor.get(COLLABORATION))


def offer_to(
    pool: Pool, entry: Waiting, agent_id: str, now_ms: int, offer_timeout_ms: int = 20_000
) -> tuple[Pool, Offer | None]:
    """Offer ``entry`` (a consult, transfer or conference leg) straight to ``agent_id`` if it is
    eligible now; it then follows the offer path (accept, reject, time-out re-queue into
    ``entry``'s target). None when the agent cannot take it or the entry is already offered."""
    agent = pool.agents.get(agent_id)
    iid = entry.interaction_id
    if (
        agent is None
        or iid in pool.offers
        or not ag.can_take(agent, entry.channel)
        or not ag.meets(agent, entry.target.required)
    ):
        return pool, None
    attempt = max(entry.attempts, _last_attempt(pool, iid)) + 1
    offer = Offer(
        offer_id=offer_id(iid, attempt),
        interaction_id=iid,
        agent_id=agent_id,
        channel=entry.channel,
        queue=entry.queue,
        priority=entry.target.priority,
        attempt=attempt,
        offered_ms=now_ms,
        deadline_ms=now_ms + offer_timeout_ms,
        strategy="direct",
        preferred=True,
    )
    gone = [pool.waiting[iid]] if iid in pool.waiting else []
    agent = ag.reserve(agent, entry.channel, iid, now_ms)
    update = {
        "agents": _plus(pool.agents, agent_id, agent),
        "offers": _plus(pool.offers, iid, offer),
        "offered": _plus(pool.offered, iid, entry),
        "clock_ms": max(pool.clock_ms, now_ms),
    }
    new = _with_waiting(pool, _minus(pool.waiting, iid), removed=gone, update=update)
    return _carry_ready(pool, new, [agent]), offer


# ------------------------------------------------------------------------- figures


def position_and_wait(
    pool: Pool,
    interaction_id: str,
    now_ms: int,
    default_handle_ms: int = DEFAULT_HANDLE_MS,
    slots: dict[tuple[str, tuple[SkillRequirement, ...]], int] | None = None,
) -> tuple[int, int | None] | None:
    """The waiting entry's position in its queue (1: next) by the order of service, and an
    estimated wait: position / slots that can serve it x the queue's average handle time.
    Slots: the channel capacity of logged-in agents (not away or offline) who meet its
    required skills (``slots``: those already counted for this pool, by need). None for the
    wait when no agent can serve it; None when not waiting."""
    entry = pool.waiting.get(interaction_id)
    if entry is None:
        return None
    rows = _order(pool).by_queue.get(entry.queue, [])
    ahead = bisect_left(rows, (order_key(entry),))
    return _estimate(pool, entry, ahead + 1, {} if slots is None else slots, default_handle_ms)


def positions_and_waits(
    pool: Pool, now_ms: int, default_handle_ms: int = DEFAULT_HANDLE_MS
) -> dict[str, tuple[int, int | None]]:
    """``position_and_wait`` of every waiting entry at once (for queue-position notices), from
    the order of service each queue keeps."""
    slots: dict[int, int] = {}  # need number -> slots
    out: dict[str, tuple[int, int | None]] = {}
    waiting = pool.waiting
    for queue, rows in _order(pool).by_queue.items():
        handle = pool.handle_ms.get(queue, float(default_handle_ms))
        for position, (key, need, _) in enumerate(rows, start=1):
            n = slots.get(need)
            if n is None:
                n = slots[need] = _slots(pool, waiting[key[2]])
            out[key[2]] = (position, round(position / n * handle) if n > 0 else None)
    return out


def queue_positions(pool: Pool) -> dict[str, int]:
    """Every waiting entry's position in its queue (1: next), without the estimated waits."""
    return {
        row[0][2]: position
        for rows in _order(pool).by_queue.values()
        for position, row in enumerate(rows, start=1)
    }


def queue_lengths(pool: Pool) -> dict[str, int]:
    """Waiting entries per queue (their first queue), offered ones not counted."""
    return {queue: len(rows) for queue, rows in _order(pool).by_queue.items() if rows}


def _estimate(
    pool: Pool,
    entry: Waiting,
    position: int,
    slots_by_need: dict[tuple[str, tuple[SkillRequirement, ...]], int],
    default_handle_ms: int,
) -> tuple[int, int | None]:
    need = (entry.channel, entry.target.required)
    slots = slots_by_need.get(need)
    if slots is None:
        slots = slots_by_need[need] = _slots(pool, entry)
    if slots <= 0:
        return position, None
    handle = pool.handle_ms.get(entry.queue, float(default_handle_ms))
    return position, round(position / slots * handle)


def _slots(pool: Pool, entry: Waiting) -> int:
    """The channel capacity of the agents logged in (not away or offline) who meet the entry's
    required skills."""
    agents: Iterable[Agent] = pool.agents.values()
    if entry.target.required:  # the agents with every skill, from the skill index
        levels = _ready(pool).levels
        having: AbstractSet[str] | None = None
        for r in entry.target.required:
            by_level = levels.get(r.skill)
            found = by_level[min(max(r.min_proficiency, 1), 5)] if by_level else _EMPTY
            having = found if having is None else having & found
        agents = [pool.agents[i] for i in (having or ()) if i in pool.agents]
    return sum(
        a.capacity.get(entry.channel, 0) for a in agents if a.presence not in ("offline", "away")
    )


def queue_stats(pool: Pool, now_ms: int) -> dict[str, QueueStats]:
    """Per queue (the first queue of each entry): waiting, offered, the oldest wait so far.
    From the order of service each queue keeps: a count, and the oldest entry of each priority
    (the first of its run of rows), so the cost is the priorities, not the entries."""
    waiting: dict[str, int] = {}
    offered: dict[str, int] = {}
    oldest: dict[str, int] = {}
    for queue, rows in _order(pool).by_queue.items():
        if rows:
            waiting[queue] = len(rows)
            oldest[queue] = _oldest(rows)
    for w in pool.offered.values():
        q = w.queue
        offered[q] = offered.get(q, 0) + 1
        oldest[q] = min(oldest.get(q, w.enqueued_ms), w.enqueued_ms)
    return {
        q: QueueStats(
            queue=q,
            waiting=waiting.get(q, 0),
            offered=offered.get(q, 0),
            oldest_wait_ms=max(0, now_ms - oldest[q]),
            average_handle_ms=pool.handle_ms.get(q),
        )
        for q in sorted(oldest)
    }


def next_deadline_ms(pool: Pool) -> int | None:
    """The earliest moment the pool changes by time alone (an offer deadline, the end of a
    wrap-up, the end of a preference window): when the stage should call ``expire`` and
    ``match`` next."""
    times = [o.deadline_ms for o in pool.offers.values()]
    times.extend(_ready(pool).wrap.values())
    times.extend(t for t in _order(pool).preferred.values() if t > pool.clock_ms)
    return min(times) if times else None


def _oldest(rows: list[_Row]) -> int:
    """The oldest ``enqueued_ms`` of a queue's rows (in order of service: by priority, then
    age): the first row of each priority's run, found by bisection."""
    oldest, at = rows[0][0][1], 0
    while at < len(rows):
        key = rows[at][0]
        oldest = min(oldest, key[1])
        at = bisect_left(rows, ((key[0] + 1,),), at)
    return oldest
