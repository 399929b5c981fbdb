"""Series computed when ``/metrics`` is scraped: consumer lag per partition and table
sizes, read from the Faust app (cheap: cached high watermarks, the stages' own indexes,
else RocksDB's key estimate, which counts recent overwrites until a compaction)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import faust

from interaction_streams.observability.metrics import Metrics

log = logging.getLogger(__name__)

# Tables whose stage keeps its exact size itself (from an in-memory index).
EXACT_SIZES = frozenset({"ingest-dedup"})


def refresh(
    app: faust.App, metrics: Metrics, exact_sizes: Mapping[str, Callable[[], int]] = {}
) -> None:
    """Update the scrape-time series; a failure never breaks the scrape. ``exact_sizes``:
    tables whose stage knows their size from an in-memory index."""
    try:
        refresh_lag(app, metrics)
        refresh_table_sizes(app, metrics, exact_sizes)
    except Exception:  # during start-up or a rebalance the consumer may be half there
        log.debug("scrape-time metrics skipped", exc_info=True)


def refresh_lag(app: faust.App, metrics: Metrics) -> None:
    """High watermark (cached from the last fetch) minus the committed offset. Faust's
    consumer keeps the committed offsets, read from Kafka at each assignment and updated on
    each commit (no public accessor); a partition never committed counts from offset 0."""
    consumer = app.consumer
    committed: Mapping[Any, int | None] = getattr(consumer, "_committed_offset", {})
    metrics.consumer_lag.clear()  # revoked partitions disappear
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue  # nothing fetched from it yet
        done = committed.get(tp) or 0
        metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, highwater - done))


def refresh_table_sizes(
    app: faust.App, metrics: Metrics, exact_sizes: Mapping[str, Callable[[], int]]
) -> None:
    for name, table in app.tables.items():
        if name in EXACT_SIZES:
            continue
        size = exact_sizes[name]() if name in exact_sizes else _size(table)
        if size is not None:
            metrics.table_entries.labels(name).set(size)


def _size(table: Any) -> int | None:
    store = table.data
    dbs = getattr(store, "_dbs_for_actives", None)
    if dbs is None:
        return len(store)  # memory:// (a dict)
    return sum(db.property_int_value("rocksdb.estimate-num-keys") or 0 for db in dbs())


class InteractionCounts:
    """``cim_interactions{channel, status}`` kept from each change of the interaction table
    (``moved``), recounted after each recovery (``recount``)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.counts: Counter[tuple[str, str]] = Counter()

    @staticmethod
    def _label(timeline: Any) -> tuple[str, str] | None:
        current = getattr(timeline, "current", None) if timeline is not None else None
        return None if current is None else (str(current.channel), str(current.status))

    def moved(self, before: Any, after: Any) -> None:
        old, new = self._label(before), self._label(after)
        if old == new:
            return
        for label, delta in ((old, -1), (new, 1)):
            if label is not None:
                self.counts[label] += delta
                self.metrics.interactions.labels(*label).set(max(0, self.counts[label]))

    def reset(self) -> None:
        self.counts = Counter()

    def count(self, timeline: Any) -> None:
        label = self._label(timeline)
        if label is not None:
            self.counts[label] += 1

    def total(self) -> int:
        return sum(self.counts.values())

    def publish(self) -> None:
        self.metrics.interactions.clear()
        for label, n in self.counts.items():
            self.metrics.interactions.labels(*label).set(n)
