"""The routing stage's table rows, pure: one row per entity of a pool, the rows a step
changed, and the pools rebuilt from the rows after a recovery.

Keys: ``<pool>|agent|<agent id>`` (the agent and its assignments), ``<pool>|wait|<interaction
id>`` (a waiting or offered interaction, its open offer and how it was routed) and
``<pool>|meta`` (the round-robin cursors, handle-time averages and the pool's clock). Rows are
never the whole pool: a step writes only the entities it changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from interaction_streams.contract.base import WireModel
from interaction_streams.domain.routing import matcher as m
from interaction_streams.domain.routing.agents import Agent
from interaction_streams.domain.routing.policy import RoutingChoice


class RoutedEntry(WireModel):
    """What the stage keeps of one interaction beside the matcher's entry: the rule it was
    routed by (its timed steps) and the queue it joined (after overflow)."""

    choice: RoutingChoice
    queue: str
    enqueued_ms: int


class RoutingRow(WireModel):
    agent: Agent | None = None
    assignments: dict[str, m.Assignment] | None = None
    waiting: m.Waiting | None = None
    offered: m.Waiting | None = None
    offer: m.Offer | None = None
    routed: RoutedEntry | None = None
    rr_cursor: dict[str, str] | None = None
    handle_ms: dict[str, float] | None = None
    clock_ms: int | None = None


_ABSENT = object()


def _changed_keys(
    before: dict[str, Any], after: dict[str, Any], candidates: Iterable[str] | None = None
) -> list[str]:
    """Keys whose value is not the same object in ``after`` as in ``before`` (added, replaced
    or removed). The matcher copies a dict to change it and keeps every value it does not
    change, so identity finds what a step changed; ``candidates``: the only keys that may
    differ, when the matcher knows them; else one pass in C-speed comprehensions."""
    if after is before:
        return []
    if candidates is not None:
        return [
            k for k in sorted(candidates) if before.get(k, _ABSENT) is not after.get(k, _ABSENT)
        ]
    keys = [k for k, v in after.items() if before.get(k) is not v]
    if len(before) > len(after) - len(keys):  # something left
        keys.extend(k for k in before if k not in after)
    return keys


def changed_rows(
    pool_id: str,
    before: m.Pool,
    after: m.Pool,
    routed: dict[str, RoutedEntry],
    touched: Iterable[str] = (),
) -> dict[str, RoutingRow | None]:
    """The rows to write (None: delete) for the step ``before`` → ``after``; ``touched`` names
    interactions whose routed entry changed even if the matcher's entry did not."""
    rows: dict[str, RoutingRow | None] = {}
    aids = set(_changed_keys(before.agents, after.agents))
    aids.update(_changed_keys(before.assignments, after.assignments))
    for aid in aids:
        agent = after.agents.get(aid)
        rows[f"{pool_id}|agent|{aid}"] = (
            None
            if agent is None
            else RoutingRow(agent=agent, assignments=after.assignments.get(aid))
        )
    forced = set(touched)
    ids = set(_changed_keys(before.waiting, after.waiting, m.waiting_changes(before, after)))
    ids.update(_changed_keys(before.offered, after.offered))
    ids.update(_changed_keys(before.offers, after.offers))
    for iid in ids | forced:
        key = f"{pool_id}|wait|{iid}"
        if iid not in after.waiting and iid not in after.offered:
            if iid in before.waiting or iid in before.offered or iid in forced:
                rows[key] = None
            continue
        rows[key] = RoutingRow(
            waiting=after.waiting.get(iid),
            offered=after.offered.get(iid),
            offer=after.offers.get(iid),
            routed=routed.get(iid),
        )
    if (
        after.rr_cursor != before.rr_cursor
        or after.handle_ms != before.handle_ms
        or after.clock_ms != before.clock_ms
    ):
        rows[f"{pool_id}|meta"] = RoutingRow(
            rr_cursor=after.rr_cursor, handle_ms=after.handle_ms, clock_ms=after.clock_ms
        )
    return rows


def pools_from_rows(
    rows: Iterable[tuple[str, RoutingRow]],
) -> tuple[dict[str, m.Pool], dict[str, dict[str, RoutedEntry]]]:
    """The pools (and the routed entries by pool and interaction) the rows describe."""
    parts: dict[str, dict[str, Any]] = {}
    routed: dict[str, dict[str, RoutedEntry]] = {}
    for key, row in rows:
        pool_id, _, rest = key.partition("|")
        kind, _, ident = rest.partition("|")
        p = parts.setdefault(
            pool_id, {"agents": {}, "waiting": {}, "offered": {}, "offers": {}, "assignments": {}}
        )
        if kind == "agent" and row.agent is not None:
            p["agents"][ident] = row.agent
            if row.assignments:
                p["assignments"][ident] = row.assignments
        elif kind == "wait":
            if row.waiting is not None:
                p["waiting"][ident] = row.waiting
            if row.offered is not None and row.offer is not None:
                p["offered"][ident] = row.offered
                p["offers"][ident] = row.offer
            if row.routed is not None:
                routed.setdefault(pool_id, {})[ident] = row.routed
        elif kind == "meta":
            p["rr_cursor"] = row.rr_cursor or {}
            p["handle_ms"] = row.handle_ms or {}
            p["clock_ms"] = row.clock_ms or 0
    pools = {pool_id: m.Pool(pool_id=pool_id, **p) for pool_id, p in parts.items()}
    return pools, routed
