"""TMF630 notification delivery: every TMF683 event to the listeners whose query selects it.

The ``hub-delivery`` agent (concurrency 1) reads ``cim.party-interaction.events.v1`` and,
for each event, POSTs its JSON to ``{callback}/listener/{eventName}`` of every matching
subscription (the subscriptions are a replica of ``cim.hub.subscriptions.v1`` on every
worker), all subscribers of one event at once.

At least once: the agent moves to the next event only when every delivery of this one
succeeded or was given up, so the offset is committed after the attempts; a crash
delivers again (listeners de-duplicate by ``eventId``). A failed attempt (connection
error, timeout, 5xx, 429) is retried with exponential back-off; other 4xx answers are not
retried. A delivery given up is lost for that subscriber.

One dead callback must not stall the stream for everyone: after ``breaker_failures``
deliveries in a row given up, a subscriber is skipped (its events are dropped for it,
counted as ``skipped``) for ``breaker_cooldown_seconds``; then the next event is tried
again. The worst stall per event is still ``max_attempts`` timeouts plus the back-off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import faust
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faust.types import StreamT
from mode import Service
from prometheus_client import Counter, Gauge
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.hub import (
    Breakers,
    Subscription,
    backoff_seconds,
    event_type_of,
    listener_url,
    should_retry,
)
from interaction_streams.kafka_options import producer_options
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import KafkaSettings
from interaction_streams.stream.replica import CompactedReplica
from interaction_streams.web.auth import ApiSettings, BearerAuth
from interaction_streams.web.hub import HubUnavailable, register_hub_views

log = logging.getLogger(__name__)

Outcome = Literal["delivered", "failed", "skipped"]
OUTCOMES: tuple[Outcome, ...] = ("delivered", "failed", "skipped")


class HubSettings(BaseSettings):
    """Delivery to listeners; environment variables with prefix ``CIM_HUB_``."""

    model_config = SettingsConfigDict(env_prefix="CIM_HUB_", frozen=True, extra="ignore")

    delivery_timeout_seconds: float = Field(default=5.0, gt=0, description="per attempt")
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_seconds: float = Field(default=0.2, ge=0, description="after the first failure")
    backoff_max_seconds: float = Field(default=5.0, ge=0)
    breaker_failures: int = Field(default=3, ge=1, description="deliveries given up in a row")
    breaker_cooldown_seconds: float = Field(default=60.0, ge=0)
    write_wait_seconds: float = Field(
        default=5.0, gt=0, description="how long POST/DELETE wait for the local replica"
    )


class HubMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.deliveries = Counter(
            "cim_hub_deliveries_total",
            "Notifications to hub listeners: delivered, failed (given up) or skipped "
            "(listener in cool-down).",
            ["outcome"],
            registry=metrics.registry,
        )
        for outcome in OUTCOMES:
            self.deliveries.labels(outcome)
        self.subscriptions = Gauge(
            "cim_hub_subscriptions",
            "Hub subscriptions known to this worker.",
            registry=metrics.registry,
        )


class HubService(Service):
    """The hub of one worker: subscription replica, writes to the topic, and delivery."""

    def __init__(
        self,
        topic: str,
        kafka: KafkaSettings,
        settings: HubSettings,
        metrics: HubMetrics,
        *,
        client_id: str = "interaction-streams-hub",
        **kwargs: Any,
    ) -> None:
        self.topic = topic
        self.kafka = kafka
        self.settings = settings
        self.metrics = metrics
        self.client_id = client_id
        self.replica: CompactedReplica[Subscription] = CompactedReplica(
            topic, Subscription.model_validate_json, kafka, client_id=f"{client_id}-replica"
        )
        self.replica.on_change.append(self._changed)
        self.breakers = Breakers(settings.breaker_failures, settings.breaker_cooldown_seconds)
        self._producer: AIOKafkaProducer | None = None
        self._session: aiohttp.ClientSession | None = None
        self._notifier: Notifier | None = None
        super().__init__(**kwargs)

    def on_init_dependencies(self) -> list[CompactedReplica[Subscription]]:
        return [self.replica]  # started after on_start: the producer and session exist first

    async def on_start(self) -> None:
        self._producer = AIOKafkaProducer(**producer_options(self.kafka, client_id=self.client_id))
        await self._producer.start()
        timeout = aiohttp.ClientTimeout(total=self.settings.delivery_timeout_seconds)
        self._session = aiohttp.ClientSession(timeout=timeout)
        self._notifier = Notifier(self._session, self.settings, self.metrics, self.breakers)

    async def on_shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    @property
    def ready(self) -> asyncio.Event:
        return self.replica.ready

    # ---- HubBackend: what the views use ----

    def subscription(self, subscription_id: str) -> Subscription | None:
        return self.replica.get(subscription_id)

    async def wait_ready(self, timeout: float) -> bool:
        return await self.replica.wait_ready(timeout)

    async def subscribe(self, subscription: Subscription) -> None:
        value = orjson.dumps(subscription.model_dump(mode="json", exclude_none=True))
        await self._write(subscription.id, value)
        log.info("hub subscription %s added (%s)", subscription.id, subscription.query or "all")

    async def unsubscribe(self, subscription_id: str) -> None:
        await self._write(subscription_id, None)
        log.info("hub subscription %s deleted", subscription_id)

    async def _write(self, subscription_id: str, value: bytes | None) -> None:
        if self._producer is None:
            raise HubUnavailable("the hub is not started")
        try:
            sent = await self._producer.send_and_wait(
                self.topic, value, key=orjson.dumps(subscription_id)
            )
        except KafkaError as exc:
            log.warning("hub: cannot write subscription %s: %r", subscription_id, exc)
            raise HubUnavailable("the subscription could not be stored; retry") from exc
        if not await self.replica.wait_for_offset(
            sent.partition, sent.offset, self.settings.write_wait_seconds
        ):
            log.warning("hub: subscription %s stored but not yet read back", subscription_id)

    def _changed(self, key: str, old: Subscription | None, new: Subscription | None) -> None:
        if new is None:
            self.breakers.forget(key)
        self.metrics.subscriptions.set(len(self.replica))

    # ---- delivery ----

    async def run_agent(self, stream: StreamT[Any]) -> None:
        """The ``hub-delivery`` agent body: one event at a time."""
        async for value in stream:
            await self.deliver_event(value)

    async def deliver_event(self, value: bytes | None) -> None:
        while not await self.replica.wait_ready(30.0):
            log.warning("hub: delivery waits for the subscriptions of %s", self.topic)
        event_type = event_type_of(value)
        if event_type is None or value is None:
            log.warning("hub: an event without a readable eventType was not delivered")
            return
        matching = [s for _, s in self.replica.items() if s.matches(event_type)]
        if matching:
            assert self._notifier is not None
            await self._notifier.notify_all(matching, event_type, value)


class Notifier:
    """POSTs events to listeners: retries with back-off, and a breaker per subscriber."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: HubSettings,
        metrics: HubMetrics,
        breakers: Breakers,
    ) -> None:
        self.session = session
        self.settings = settings
        self.metrics = metrics
        self.breakers = breakers

    async def notify_all(
        self, subscriptions: list[Subscription], event_type: str, value: bytes
    ) -> list[Outcome]:
        """Every subscriber at once; returns when each delivery succeeded or was given up."""
        return list(
            await asyncio.gather(*(self.notify(s, event_type, value) for s in subscriptions))
        )

    async def notify(self, subscription: Subscription, event_type: str, value: bytes) -> Outcome:
        outcome: Outcome
        try:
            outcome = await self._attempts(subscription, event_type, value)
        except Exception:  # a bug must not stop the stream for every subscriber
            log.exception("hub: delivery to subscription %s failed", subscription.id)
            outcome = "failed"
        self.metrics.deliveries.labels(outcome).inc()
        return outcome

    async def _attempts(self, subscription: Subscription, event_type: str, value: bytes) -> Outcome:
        sid = subscription.id
        if not self.breakers.allows(sid, time.monotonic()):
            return "skipped"
        url = listener_url(subscription.callback, event_type)
        s = self.settings
        status: int | None = None
        for attempt in range(1, s.max_attempts + 1):
            status = await self._post(url, value)
            if status is not None and 200 <= status < 300:
                self.breakers.succeeded(sid)
                return "delivered"
            if not should_retry(status) or attempt == s.max_attempts:
                break
            await asyncio.sleep(backoff_seconds(attempt, s.backoff_seconds, s.backoff_max_seconds))
        opened = self.breakers.failed(sid, time.monotonic())
        log.warning(
            "hub: %s to subscription %s at %s given up (last status %s)%s",
            event_type,
            sid,
            urlsplit(url).hostname,
            status if status is not None else "none: no answer",
            f"; skipped for {s.breaker_cooldown_seconds:g} s" if opened else "",
        )
        return "failed"

    async def _post(self, url: str, value: bytes) -> int | None:
        """The HTTP status, or None when no answer came (connection error, timeout)."""
        try:
            async with self.session.post(
                url,
                data=value,
                headers={"Content-Type": "application/json"},
                allow_redirects=False,
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.debug("hub: POST failed: %r", exc)
            return None


def register_hub(
    app: faust.App,
    contract: TopicContract,
    kafka: KafkaSettings,
    api: ApiSettings,
    metrics: Metrics,
    settings: HubSettings | None = None,
) -> HubService:
    """Wire the hub into a worker: its service, the ``hub-delivery`` agent and the views."""
    hub = HubService(
        contract["hub-subscriptions"].name,
        kafka,
        settings or HubSettings(),
        HubMetrics(metrics),
        client_id=f"{app.conf.id}-hub",
    )
    app.add_dependency(hub)
    events = app.topic(
        contract["party-interaction-events"].name, key_serializer="raw", value_serializer="raw"
    )
    app.agent(events, name="hub-delivery", concurrency=1)(hub.run_agent)
    register_hub_views(app, hub, BearerAuth(api))
    return hub
