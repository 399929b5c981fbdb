"""The customer stage (keyed by party id): profiles, business events and interaction facts →
the customer-context table, the contact index, moments and debounced context snapshots.

It also carries party erasure: the contact index entries, every interaction of the party,
its area membership and its context (tombstoned) go.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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
from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.context import stage
from interaction_streams.domain.context.accumulate import snapshot
from interaction_streams.domain.context.model import CustomerContext
from interaction_streams.domain.context.policy import ContextPolicy
from interaction_streams.domain.ingest import RawRecord
from interaction_streams.domain.routing.request import with_context
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.deadletters import DeadLetterSink
from interaction_streams.stream.ingest import stage_key
from interaction_streams.stream.tables import model_table
from interaction_streams.stream.wiring import (
    Handler,
    StageClock,
    each_record,
    may_run_timer,
    model_topic,
    raw_topic,
)

log = logging.getLogger(__name__)


@dataclass
class CustomerShell:
    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    deadletters: DeadLetterSink
    policy: ContextPolicy
    # Contexts whose snapshot debouncing held back: party id -> when it may go out. In
    # memory, rebuilt from the table after each recovery, so the timer never scans it all.
    held_back: dict[str, int] = field(default_factory=dict)
    riders: list[Handler] = field(default_factory=list)  # stages reading the same records

    def __post_init__(self) -> None:
        c = self.contract
        self.profile_topic = c["ingested-profile"].name
        self.business_topic = c["ingested-business"].name
        self.commands_topic = c["customer-commands"].name
        self.clock = StageClock(live=self.settings.clock == "live")
        self.source = raw_topic(
            self.app, self.profile_topic, self.business_topic, self.commands_topic
        )
        self.commands = model_topic(self.app, c, "customer-commands", CustomerCommand)
        self.areas = model_topic(self.app, c, "area-commands", AreaCommand)
        self.moments = model_topic(self.app, c, "customer-moments", MomentEvent)
        self.snapshots = raw_topic(self.app, c["customer-context"].name)
        self.index = raw_topic(self.app, c["contact-index"].name)
        self.routing = model_topic(self.app, c, "routing-requests", RoutingRequest)
        self.interaction_commands = model_topic(
            self.app, c, "interaction-commands", InteractionCommand
        )
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

    # ---- the agent ----

    async def _run(self, stream: StreamT[Any]) -> None:
        await each_record(
            stream, "customers", self.metrics, self.deadletters, self._handle, self.riders
        )

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
        self.clock.tick(record.partition, at_ms)
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
        self.clock.tick(partition, at_ms)
        now = self.now_ms()
        current = self.table.get(key)
        if command.command == "route" and command.route is not None:
            context = snapshot(current, now, self.policy) if current is not None else None
            route = with_context(command.route, context)
            await self.routing.send(key=stage_key(route.routing_pool), value=route)
            return
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
        moment = self.clock.now()
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

    def now_ms(self) -> int:
        return self.clock.now_ms()

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
        if not may_run_timer(self.app):
            return
        now, moment = self.now_ms(), self.clock.now()
        for key, due in list(self.held_back.items()):
            if due <= now:
                await self.commands.send(
                    key=stage_key(key),
                    value=CustomerCommand(command="flush", party_id=key, time=moment),
                )
