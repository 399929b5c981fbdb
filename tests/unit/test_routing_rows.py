"""The routing stage's per-entity rows: the rows a step writes rebuild the same pools (as a
recovery would, through the changelog's JSON), and a step writes only what it changed."""

from __future__ import annotations

from interaction_streams.domain.routing import matcher as m
from interaction_streams.domain.routing.policy import RoutingChoice, TargetSpec
from interaction_streams.domain.routing.rows import (
    RoutedEntry,
    RoutingRow,
    changed_rows,
    pools_from_rows,
)
from tests.unit.test_routing_matcher import T0, login, req, waiting


class Table(dict[str, RoutingRow]):
    def apply(self, rows: dict[str, RoutingRow | None]) -> None:
        for key, row in rows.items():
            if row is None:
                self.pop(key, None)
            else:  # through JSON, as the changelog carries it
                self[key] = RoutingRow.model_validate_json(row.model_dump_json())


def test_rows_rebuild_the_pool_and_each_step_writes_only_its_changes() -> None:
    table = Table()
    routed: dict[str, RoutedEntry] = {}
    choice = RoutingChoice(rule="r", target=TargetSpec(queue="q"))

    def step(before: m.Pool, after: m.Pool) -> m.Pool:
        table.apply(changed_rows("p1", before, after, routed))
        return after

    pool = m.Pool(pool_id="p1")
    pool = step(pool, login(pool, "a1", skills={"billing": 4}))
    pool = step(pool, login(pool, "a2", at=T0 + 1))
    for iid, at in (("c1", T0 + 10), ("c2", T0 + 20), ("c3", T0 + 30)):
        routed[iid] = RoutedEntry(choice=choice, queue="q", enqueued_ms=at)
        pool = step(pool, m.enqueue(pool, waiting(iid, at, required=(req("billing", 3),))))
    offered, offers = m.match(pool, T0 + 40)
    rows = changed_rows("p1", pool, offered, routed)
    assert sorted(rows) == ["p1|agent|a1", "p1|meta", "p1|wait|c1"]
    pool = step(pool, offered)
    assert [(o.interaction_id, o.agent_id) for o in offers] == [("c1", "a1")]
    accepted, _ = m.accept(pool, offers[0].offer_id, T0 + 41)
    pool = step(pool, accepted)
    assert "p1|wait|c1" not in table and table["p1|agent|a1"].assignments

    pools, rebuilt_routed = pools_from_rows(table.items())
    assert pools["p1"] == pool
    assert sorted(rebuilt_routed["p1"]) == ["c2", "c3"]
    # The rebuilt pool behaves as the live one: c2 goes next, when a1 is free again.
    done = m.complete(pool, "a1", "c1", T0 + 50)
    again = m.complete(pools["p1"], "a1", "c1", T0 + 50)
    assert m.match(done, T0 + 60)[1] == m.match(again, T0 + 60)[1]
