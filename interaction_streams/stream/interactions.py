"""The interaction stage: channel events and commands → interactions table → TMF683 events.

Keyed by interaction id. Party identification reads the contact index replica; the
retention timer sends purge commands through Kafka (Faust writes tables only in streams).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from faust.types import StreamT

from interaction_streams.contract.commands import InteractionCommand
from interaction_streams.contract.customer import CustomerCommand
from interaction_streams.contract.envelope import CloudEvent
from interaction_streams.contract.errors import InvalidEvent
from interaction_streams.contract.events.channel import ContactStarted
from interaction_streams.contract.events.registry import type_payload
from interaction_streams.contract.party_index import ContactIndexEntry
from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain import party
from interaction_streams.domain.ingest import RawRecord
from interaction_streams.domain.interaction.lifecycle import Stimulus
from interaction_streams.domain.interaction.stage import (
    StepResult,
    on_erase,
    on_purge,
    on_stimulus,
    purge_due_ms,
)
from interaction_streams.domain.interaction.timeline import Timeline
from interaction_streams.observability.metrics import Metrics
from interaction_streams.observability.worker_metrics import InteractionCounts
from interaction_streams.settings import Settings
from interaction_streams.stream.deadletters import DeadLetterSink
from interaction_streams.stream.ingest import stage_key
from interaction_streams.stream.replica import CompactedReplica
from interaction_streams.stream.tables import model_table
from interaction_streams.stream.wiring import (
    DueIndex,
    Handler,
    StageClock,
    each_record,
    may_run_timer,
    model_topic,
    raw_topic,
)

log = logging.getLogger(__name__)


@dataclass
class InteractionShell:
    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    contact_index: CompactedReplica[ContactIndexEntry]
    deadletters: DeadLetterSink
    # Closed interactions: id -> when their retention ends. In memory, rebuilt from the table
    # after each recovery, so the retention timer never scans the whole table.
    retention: DueIndex = field(default_factory=DueIndex)
    # Called with (event type, event time) for every channel event applied (channel traffic).
    observers: list[Callable[[str, int], Awaitable[None]]] = field(default_factory=list)
    riders: list[Handler] = field(default_factory=list)  # stages reading the same records

    def __post_init__(self) -> None:
        c = self.contract
        self.channel_topic = c["ingested-channel"].name
        self.commands_topic = c["interaction-commands"].name
        self.clock = StageClock(live=self.settings.clock == "live")
        self.source = raw_topic(self.app, self.channel_topic, self.commands_topic)
        self.commands = model_topic(self.app, c, "interaction-commands", InteractionCommand)
        self.events = raw_topic(self.app, c["party-interaction-events"].name)
        self.customers = model_topic(self.app, c, "customer-commands", CustomerCommand)
        self.routing = model_topic(self.app, c, "routing-requests", RoutingRequest)
        self.table = model_table(
            self.app,
            "interactions",
            Timeline,
            self.settings,
            key_type=str,
            partitions=c["ingested-channel"].partitions,
            help="every open interaction, and closed ones until their retention passes",
        )
        self.status_counts = InteractionCounts(self.metrics)  # cim_interactions{channel,status}
        self.lateness_ms = int(self.settings.lateness_seconds * 1000)
        self.retention_ms = int(self.settings.interaction_retention_seconds * 1000)
        self.table.on_recover(self._rebuild_closed)
        self.app.agent(self.source, name="interactions")(self._run)
        self.app.timer(self.settings.sweep_interval_seconds, name="interaction-retention")(
            self._sweep
        )

    # ---- the agent ----

    async def _run(self, stream: StreamT[Any]) -> None:
        await self.contact_index.wait_ready()
        await each_record(
            stream, "interactions", self.metrics, self.deadletters, self._handle, self.riders
        )

    async def _handle(self, record: RawRecord) -> None:
        if record.topic == self.commands_topic:
            command = InteractionCommand.model_validate_json(record.value or b"")
            await self._command(command, record.partition)
            return
        stim = self._stimulus(record)
        self.clock.tick(record.partition, stim.time_ms)
        key = orjson.loads(record.key or b'""')
        before = self.table.get(key)
        result = on_stimulus(before, stim, self.lateness_ms)
        if result.admission in ("applied", "late"):
            for observe in self.observers:
                await observe(stim.type, stim.time_ms)
        await self._write(key, result, before)

    def _stimulus(self, record: RawRecord) -> Stimulus:
        envelope = CloudEvent.model_validate_json(record.value or b"")
        try:
            typed = type_payload(envelope, "channel")
        except InvalidEvent as exc:  # ingest validated it: only a contract change gets here
            raise ValueError(exc.detail) from None
        payload = typed.payload
        party_id = role = contact_key = None
        if isinstance(payload, ContactStarted):
            party_id, role, contact_key = party.resolve(
                payload.party_id, payload.contact, self._lookup, self.settings.phone_region
            )
        return Stimulus(
            id=envelope.id,
            type=envelope.type,
            time_ms=envelope.time_ms,
            data=typed.canonical().data,
            party_id=party_id,
            party_role=role,
            contact_key=contact_key,
        )

    def _lookup(self, contact_key: str) -> str | None:
        entry = self.contact_index.get(contact_key)
        return entry.party_id if entry else None

    async def _command(self, command: InteractionCommand, partition: int) -> None:
        key = command.interaction_id
        at_ms = int(command.time.timestamp() * 1000)
        current = self.table.get(key)
        if command.command == "apply" and command.type and command.data is not None:
            self.clock.tick(partition, at_ms)
            stim = Stimulus(
                id=command.command_id, type=command.type, time_ms=at_ms, data=dict(command.data)
            )
            await self._write(key, on_stimulus(current, stim, self.lateness_ms), current)
        elif command.command == "purge":
            self.retention.arrived(key)  # a later purge of the key may be sent again
            await self._write(key, on_purge(current, at_ms, self.retention_ms), current)
        elif command.command == "erase":
            await self._write(key, on_erase(current, command.command_id, at_ms), current)

    async def _write(self, key: str, result: StepResult, before: Timeline | None = None) -> None:
        if result.admission == "duplicate":
            self.metrics.duplicates.labels(self.channel_topic).inc()
            return
        if result.timeline is None or result.admission is not None:
            self.status_counts.moved(before, result.timeline)
        if result.timeline is None:
            if key in self.table:
                del self.table[key]
            self.retention.note(key, None)
        elif result.admission is not None:
            self.table[key] = result.timeline
            self._note_closed(key, result.timeline)
        if result.admission == "late":
            self.metrics.late_events.labels("interactions").inc()
        if result.new_anomalies:
            self.metrics.anomalies.labels("interactions").inc(result.new_anomalies)
        for tmf_event in result.events:
            await self.events.send(key=stage_key(key), value=orjson.dumps(tmf_event))
            self.metrics.interaction_events.labels(tmf_event["eventType"]).inc()
        for fact in result.facts:
            command = CustomerCommand(
                command="fact" if fact.fact else "unlink",
                party_id=fact.party_id,
                time=self.clock.now(),
                fact=fact.fact,
                interaction_id=fact.interaction_id,
            )
            await self.customers.send(key=stage_key(fact.party_id), value=command)
        route = result.routing
        if route is not None and route.party_id is not None:
            # Through the customer stage, which adds the party's context facts.
            command = CustomerCommand(
                command="route", party_id=route.party_id, time=route.time, route=route
            )
            await self.customers.send(key=stage_key(route.party_id), value=command)
        elif route is not None:
            await self.routing.send(key=stage_key(route.routing_pool), value=route)

    # ---- retention ----

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def _note_closed(self, key: str, timeline: Timeline) -> None:
        self.retention.note(key, purge_due_ms(timeline, self.retention_ms))

    async def _rebuild_closed(self) -> None:
        self.retention.reset()
        self.status_counts.reset()
        for key, timeline in self.table.items():
            self._note_closed(key, timeline)
            self.status_counts.count(timeline)
        self.status_counts.publish()

    async def _sweep(self) -> None:
        if not may_run_timer(self.app):
            return
        now = self.now_ms()
        moment = datetime.fromtimestamp(now / 1000, tz=UTC)
        for key in self.retention.take(now):
            command = InteractionCommand(
                command="purge",
                command_id=f"purge|{key}|{self.retention.due.get(key, now)}",
                interaction_id=key,
                time=moment,
            )
            await self.commands.send(key=stage_key(key), value=command)
