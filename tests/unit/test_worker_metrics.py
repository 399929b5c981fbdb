"""Scrape-time series: consumer lag per partition, interactions by channel and status."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from interaction_streams.domain.interaction.model import Interaction
from interaction_streams.domain.interaction.timeline import Timeline
from interaction_streams.observability.metrics import Metrics
from interaction_streams.observability.worker_metrics import InteractionCounts, refresh_lag


@dataclass
class Consumer:
    """What the lag reads of Faust's consumer: assignment, high watermarks, commits."""

    assigned: dict[TP, int | None]
    _committed_offset: dict[TP, int | None] = field(default_factory=dict)

    def assignment(self) -> set[TP]:
        return set(self.assigned)

    def highwater(self, tp: TP) -> int | None:
        return self.assigned[tp]


def lag(metrics: Metrics) -> dict[tuple[str, str], float]:
    (family,) = [f for f in metrics.registry.collect() if f.name == "cim_consumer_lag_records"]
    return {(s.labels["topic"], s.labels["partition"]): s.value for s in family.samples}


def test_lag_is_the_high_watermark_minus_the_committed_offset() -> None:
    a0, a1, b0 = TP("a", 0), TP("a", 1), TP("b", 0)
    consumer = Consumer({a0: 10, a1: 5, b0: None}, {a0: 4})
    app: Any = SimpleNamespace(consumer=consumer)
    metrics = Metrics()
    refresh_lag(app, metrics)
    # a1 was never committed: all of it; b0 has not been fetched yet: no series
    assert lag(metrics) == {("a", "0"): 6.0, ("a", "1"): 5.0}
    consumer.assigned = {a1: 7}  # a0 revoked
    consumer._committed_offset[a1] = 7
    refresh_lag(app, metrics)
    assert lag(metrics) == {("a", "1"): 0.0}


def timeline(channel: str, status: str) -> Timeline:
    current = Interaction.model_validate(
        {
            "id": "i",
            "channel": channel,
            "status": status,
            "createdMs": 0,
            "statusChangedMs": 0,
            "phaseSinceMs": 0,
            "lastEventMs": 0,
        }
    )
    return Timeline(current=current)


def gauge(metrics: Metrics) -> dict[tuple[str, str], float]:
    (family,) = [f for f in metrics.registry.collect() if f.name == "cim_interactions"]
    return {(s.labels["channel"], s.labels["status"]): s.value for s in family.samples}


def test_interactions_by_status_follow_moves_and_recount() -> None:
    metrics = Metrics()
    counts = InteractionCounts(metrics)
    opened, done = timeline("voice", "inProgress"), timeline("voice", "completed")
    counts.moved(None, opened)
    counts.moved(None, timeline("chat", "inProgress"))
    counts.moved(opened, opened)  # no change of status
    counts.moved(opened, done)
    assert gauge(metrics) == {
        ("voice", "inProgress"): 0.0,
        ("voice", "completed"): 1.0,
        ("chat", "inProgress"): 1.0,
    }
    counts.moved(done, None)  # purged
    assert gauge(metrics)[("voice", "completed")] == 0.0 and counts.total() == 1
    counts.reset()  # after a recovery: only what the table holds now
    counts.count(done)
    counts.publish()
    assert gauge(metrics) == {("voice", "completed"): 1.0}
