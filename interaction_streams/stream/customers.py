"""The customer stage (keyed by party id): profiles, business events and interaction facts →
the customer-context table, the contact index, moments and debounced context snapshots.

It also carries party erasure: the contact index entries, every interaction of the party,
its area membership and its context (tombstoned) go.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from faust.types import StreamT

from interaction_streams.contract.commands import InteractionCommand
from interaction_streams.contract.customer import AreaCommand, CustomerCommand, MomentEvent
from interaction_streams.contract.envelope import CloudEvent
from interaction_streams.contract.events.profile import CustomerProfile, ProfileErased
from interaction_streams.contract.events.registry import Family, type_payload
from interaction_streams.contract.party_index import ContactIndexEntry
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.context import stage
from interaction_streams.domain.context.model import CustomerContext
from interaction_streams.domain.context.policy import ContextPolicy
from interaction_streams.domain.ingest import RawRecord, Rejected
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.codec import ModelCodec
from interaction_streams.stream.deadletters import DeadLetterSink, raw_record
from interaction_streams.stream.ingest import stage_key
from interaction_streams.stream.tables import model_table

log = logging.getLogger(__name__)


@dataclass
class CustomerShell:
    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    deadletters: DeadLetterSink
    policy: ContextPolicy
    clocks: dict[int, int] = field(default_factory=dict)
    # Contexts whose snapshot debouncing held back: party id -> when it may go out. In
    # memory, rebuilt from the table after each recovery, so the timer never scans it all.
    held_back: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = self.contract
        self.profile_topic = c["ingested-profile"].name
        self.business_topic = c["ingested-business"].name
        self.commands_topic = c["customer-commands"].name
        self.source = self.app.topic(
            self.profile_topic,
            self.business_topic,
            self.commands_topic,
            key_serializer="raw",
            value_serializer="raw",
        )
        self.commands = self._topic("customer-commands", CustomerCommand)
        self.areas = self._topic("area-commands", AreaCommand)
        self.moments = self._topic("customer-moments", MomentEvent)
        self.snapshots = self.app.topic(
            c["customer-context"].name, key_serializer="raw", value_serializer="raw"
        )
        self.index = self.app.topic(
            c["contact-index"].name, key_serializer="raw", value_serializer="raw"
        )
        self.interaction_commands = self._topic("interaction-commands", InteractionCommand)
        self.table = model_table(
            self.app,
            "customers",
            CustomerContext,
            self.settings,
            key_type=str,
            partitions=c["ingested-profile"].partitions,
            help="the context of each customer, keyed by party id",
        )
        self.table.on_recover(self._rebuild_held_back)
        self.app.agent(self.source, name="customers")(self._run)
        self.app.timer(self.settings.sweep_interval_seconds, name="context-snapshots")(self._sweep)

    def _topic(self, topic_id: str, model: Any) -> Any:
        return self.app.topic(
            self.contract[topic_id].name, key_serializer="raw", value_serializer=ModelCodec(model)
        )

    # ---- the agent ----

    async def _run(self, stream: StreamT[Any]) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            record = raw_record(event)
            try:
                await self._handle(record)
            except Exception as exc:
                log.exception("customer stage failed on %s@%s", record.topic, record.offset)
                await self.deadletters.send(record, Rejected("processing-error", repr(exc)))
            self.metrics.processing.labels("customers").observe(time.perf_counter() - started)

    async def _handle(self, record: RawRecord) -> None:
        if record.topic == self.commands_topic:
            command = CustomerCommand.model_validate_json(record.value or b"")
            await self._command(command, record.partition)
            return
        envelope = CloudEvent.model_validate_json(record.value or b"")
        family: Family = "profile" if record.topic == self.profile_topic else "business"
        typed = type_payload(envelope, family)
        payload = typed.payload
        at_ms = envelope.time_ms
        self._tick(record.partition, at_ms)
        now = self.now_ms()
        if isinstance(payload, CustomerProfile):
            key = payload.party_id
            step = stage.on_profile(
                self.table.get(key), payload, at_ms, self.policy, self.settings.phone_region, now
            )
        elif isinstance(payload, ProfileErased):
            key = payload.party_id
            step = stage.on_erasure(self.table.get(key), key)
        else:
            key = typed.routing_key
            current = self.table.get(key) if hasattr(payload, "party_id") else None
            step = stage.on_business_event(current, envelope.type, payload, at_ms, self.policy, now)
        await self._apply(key, step, envelope.id)

    async def _command(self, command: CustomerCommand, partition: int) -> None:
        key = command.party_id
        at_ms = int(command.time.timestamp() * 1000)
        self._tick(partition, at_ms)
        now = self.now_ms()
        current = self.table.get(key)
        if command.command == "fact" and command.fact is not None:
            step = stage.on_fact(current, key, command.fact, self.policy, now)
        elif command.command == "unlink" and command.interaction_id:
            step = stage.on_unlink(current, command.interaction_id, self.policy, now)
        elif command.command == "notice" and command.notice is not None:
            step = stage.on_notice(current, key, command.notice, self.policy, now)
        elif command.command == "flush" and current is not None:
            step = stage.finish(current, now, self.policy)
        else:
            return
        await self._apply(key, step, f"{command.command}-{at_ms}")

    async def _apply(self, key: str, step: stage.CustomerStep, cause: str) -> None:
        if step.store:
            if step.context is None:
                if key in self.table:
                    del self.table[key]
                self.held_back.pop(key, None)
            else:
                self.table[key] = step.context
                self._note_held_back(key, step.context)
        entry = orjson.dumps(ContactIndexEntry(party_id=key).model_dump(by_alias=True))
        for contact in step.index_set:
            await self.index.send(key=stage_key(contact), value=entry)
        for contact in step.index_removed:
            await self.index.send(key=stage_key(contact), value=None)
        moment = datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC)
        for interaction_id in step.erase:
            await self.interaction_commands.send(
                key=stage_key(interaction_id),
                value=InteractionCommand(
                    command="erase",
                    command_id=f"erase-{cause}-{interaction_id}",
                    interaction_id=interaction_id,
                    time=moment,
                ),
            )
        for area_command in step.area_commands:
            await self.areas.send(key=stage_key(area_command.area), value=area_command)
        for party_id, notice in step.notices:
            await self.commands.send(
                key=stage_key(party_id),
                value=CustomerCommand(
                    command="notice", party_id=party_id, time=moment, notice=notice
                ),
            )
        for moment_event in step.moments:
            await self.moments.send(key=stage_key(moment_event.party_id), value=moment_event)
            self.metrics.moments.labels(moment_event.moment.name, moment_event.state).inc()
        if step.snapshot is not None:
            body = step.snapshot.model_dump(mode="json", by_alias=True, exclude_none=True)
            await self.snapshots.send(key=stage_key(key), value=orjson.dumps(body))
            self.metrics.snapshots.inc()
        if step.tombstone:
            await self.snapshots.send(key=stage_key(key), value=None)

    # ---- clock and debounced snapshots ----

    def _tick(self, partition: int, event_ms: int) -> None:
        self.clocks[partition] = max(self.clocks.get(partition, 0), event_ms)

    def now_ms(self) -> int:
        newest = max(self.clocks.values(), default=0)
        if self.settings.clock == "live":
            return max(newest, int(time.time() * 1000))
        return newest

    def _note_held_back(self, key: str, ctx: CustomerContext) -> None:
        if ctx.dirty:
            interval_ms = int(self.policy.snapshot_interval_seconds * 1000)
            self.held_back[key] = (ctx.published_ms or 0) + interval_ms
        else:
            self.held_back.pop(key, None)

    async def _rebuild_held_back(self) -> None:
        self.held_back.clear()
        for key, ctx in self.table.items():
            self._note_held_back(key, ctx)

    async def _sweep(self) -> None:
        """Ask for the snapshots that debouncing held back (through Kafka: timers cannot
        write tables); the agent re-checks each one."""
        recovery = self.app.tables.recovery  # type: ignore[attr-defined]
        if self.app.rebalancing or not recovery.completed.is_set():
            return
        now = self.now_ms()
        moment = datetime.fromtimestamp(now / 1000, tz=UTC)
        for key, due in list(self.held_back.items()):
            if due <= now:
                await self.commands.send(
                    key=stage_key(key),
                    value=CustomerCommand(command="flush", party_id=key, time=moment),
                )
