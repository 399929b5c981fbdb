"""``GET /customerContext/{partyId}``: a customer's context, answered by the owning worker.

Faust's ``table_route`` forwards the request to the worker that owns the party's partition
(the table and stage-topic keys are the same JSON strings). The snapshot is computed at the
stage clock, so windows, moments and business records are as of now.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import faust
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from interaction_streams.domain.context.accumulate import refresh, snapshot
from interaction_streams.stream.customers import CustomerShell
from interaction_streams.web.errors import tmf_error

FORWARD_SECONDS = 5.0


def register_context_api(app: faust.App, shell: CustomerShell) -> None:
    async def retrieve(view: View, request: Request, **kwargs: Any) -> Response:
        party_id = str(kwargs["party_id"])
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        if app.rebalancing or not recovery.completed.is_set():
            return tmf_error(
                view,
                503,
                "unavailable",
                "Service Unavailable",
                "this worker is recovering its partitions",
            )
        context = shell.table.get(party_id)
        if context is None:
            return tmf_error(
                view, 404, "notFound", "Not Found", f"no customer context for party {party_id!r}"
            )
        # The stage clock is rebuilt from events after a restart; the context's own clock
        # keeps the view the same until they come.
        now = max(shell.now_ms(), context.clock_ms)
        current = refresh(context, now, shell.policy).context
        body = snapshot(current, now, shell.policy)
        return view.json(body.model_dump(mode="json", by_alias=True, exclude_none=True))

    routed = app.table_route(table=shell.table, match_info="party_id")(retrieve)

    @app.page("/customerContext/{party_id}")
    class CustomerContextView(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            try:
                response: Response = await asyncio.wait_for(
                    routed(self, request, **kwargs), FORWARD_SECONDS
                )
            except ServiceUnavailable:
                return tmf_error(
                    self,
                    503,
                    "unavailable",
                    "Service Unavailable",
                    "the owner of this party is not known now",
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                return tmf_error(
                    self,
                    503,
                    "unavailable",
                    "Service Unavailable",
                    f"the owner did not answer ({type(exc).__name__})",
                )
            return response
