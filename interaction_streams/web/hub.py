"""The TMF630 hub of TMF683 v5: ``POST /hub`` registers a listener, ``DELETE /hub/{id}``
removes it. Served under ``/tmf-api/partyInteractionManagement/v5`` and at the root.

Views never write state: a subscription is produced to the compacted topic
``cim.hub.subscriptions.v1`` (a tombstone deletes it) and every worker reads it back into
its replica. The answer waits until this worker's replica has the change, so that a
client can delete right after it created.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import faust
import orjson
from faust.web import Request, Response, View
from pydantic import ValidationError

from interaction_streams.domain.hub import HubRequest, Subscription
from interaction_streams.web.auth import SCOPE_HUB_WRITE, BearerAuth
from interaction_streams.web.errors import tmf_error, validation_message

TMF683_BASE = "/tmf-api/partyInteractionManagement/v5"
HUB_BASES = (TMF683_BASE, "")
READY_WAIT_SECONDS = 5.0


class HubUnavailable(Exception):
    """The subscription topic cannot be written now (the client may retry)."""


class HubBackend(Protocol):
    """What the views need from the hub service."""

    def subscription(self, subscription_id: str) -> Subscription | None: ...

    async def wait_ready(self, timeout: float) -> bool: ...

    async def subscribe(self, subscription: Subscription) -> None: ...

    async def unsubscribe(self, subscription_id: str) -> None: ...


def register_hub_views(app: faust.App, hub: HubBackend, auth: BearerAuth) -> None:
    for base in HUB_BASES:
        _register(app, base, hub, auth)


def _register(app: faust.App, base: str, hub: HubBackend, auth: BearerAuth) -> None:
    name = "tmf683" if base else "root"

    class Hub(View):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            denied = auth.check(self, request, SCOPE_HUB_WRITE)
            if denied is not None:
                return denied
            try:
                body = orjson.loads(await request.read())
                if not isinstance(body, dict):
                    return _invalid(self, "the body must be a JSON object {callback, query}")
                wanted = HubRequest.model_validate(body)
            except orjson.JSONDecodeError as exc:
                return _invalid(self, f"the body is not JSON: {exc}")
            except ValidationError as exc:
                return _invalid(self, validation_message(exc), _code(exc))
            subscription = Subscription(
                id=str(uuid.uuid4()), callback=wanted.callback, query=wanted.query
            )
            try:
                await hub.subscribe(subscription)
            except HubUnavailable as exc:
                return _unavailable(self, str(exc))
            href = f"{base}/hub/{subscription.id}"
            return self.json(
                {"@type": "Hub", "href": href, **subscription.model_dump(exclude_none=True)},
                status=201,
                headers={"Location": href},
            )

    class HubEntry(View):
        async def delete(self, request: Request, **kwargs: Any) -> Response:
            denied = auth.check(self, request, SCOPE_HUB_WRITE)
            if denied is not None:
                return denied
            subscription_id = str(kwargs.get("id", ""))
            if not await hub.wait_ready(READY_WAIT_SECONDS):
                return _unavailable(self, "the subscriptions are still loading")
            if hub.subscription(subscription_id) is None:
                return tmf_error(
                    self, 404, "notFound", "Not Found", f"no subscription {subscription_id!r}"
                )
            try:
                await hub.unsubscribe(subscription_id)
            except HubUnavailable as exc:
                return _unavailable(self, str(exc))
            return self.bytes(b"", status=204)

    app.page(f"{base}/hub", name=f"hub-{name}")(Hub)
    app.page(f"{base}/hub/{{id}}", name=f"hub-entry-{name}")(HubEntry)


def _invalid(view: View, message: str, code: str = "invalidBody") -> Response:
    return tmf_error(view, 400, code, "Bad Request", message)


def _code(error: ValidationError) -> str:
    """``invalidCallback`` or ``invalidQuery`` when that field alone is wrong."""
    fields = {str(problem["loc"][0]) for problem in error.errors() if problem["loc"]}
    if fields == {"callback"}:
        return "invalidCallback"
    if fields == {"query"}:
        return "invalidQuery"
    return "invalidBody"


def _unavailable(view: View, message: str) -> Response:
    return tmf_error(
        view, 503, "unavailable", "Service Unavailable", message, headers={"Retry-After": "1"}
    )
