"""Operational endpoints: /health (the process answers), /ready (tables recovered), /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import faust
from faust.web import Request, Response, View

from interaction_streams.observability.metrics import Metrics
from interaction_streams.observability.worker_metrics import refresh

# Prometheus text format 0.0.4 (UTF-8); aiohttp refuses a charset inside content_type.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


def is_ready(app: faust.App, readiness: Iterable[asyncio.Event] = ()) -> bool:
    """Ready once partitions are assigned, every active table has recovered and every
    replica (contact index, hub subscriptions) has loaded."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    return bool(
        not app.rebalancing
        and not app.in_recovery
        and recovery.completed.is_set()
        and app.consumer.assignment()
        and all(event.is_set() for event in readiness)
    )


def register_ops_views(
    app: faust.App,
    metrics: Metrics,
    readiness: Iterable[asyncio.Event] = (),
    table_sizes: Mapping[str, Callable[[], int]] | None = None,
) -> None:
    readiness = tuple(readiness)

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.json({"status": "ok"})

    @app.page("/ready")
    class Ready(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            ready = is_ready(app, readiness)
            return self.json(
                {"status": "ready" if ready else "recovering"}, status=200 if ready else 503
            )

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            metrics.worker_ready.set(1 if is_ready(app, readiness) else 0)
            refresh(app, metrics, table_sizes or {})  # consumer lag and table sizes, as of now
            return self.bytes(metrics.exposition(), content_type=METRICS_CONTENT_TYPE)
