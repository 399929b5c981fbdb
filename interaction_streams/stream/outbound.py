"""The outbound stage (keyed by party id, co-partitioned with the customer stage): outbound
requests, delivery updates, business moments → the solicitation policy → decisions on
``cim.outbound.decisions.v1``, TMF681 CommunicationMessages on
``cim.communication.requests.v1``, outbound PartyInteractions (API create and patch commands
to the interaction stage) and, for callbacks, routing requests.

What the policy needs of the party it keeps in its own table, fed from co-partitioned topics:
the profile (consents, time zone, do-not-contact, addresses) from ``cim.ingested.profile.v1``,
so a withdrawn consent counts at once (the context snapshots are debounced); the open inbound
interactions, complaints and answered callbacks from the interaction facts on
``cim.customer.commands.v1``; moments from ``cim.customer.moments.v1``; escalations from
``escalation`` commands on ``cim.outbound.commands.v1``.

Durable timers: deferred requests and checks are deadlines in the table; a Faust timer finds
the parties due on the stage clock and sends ``fire`` to ``cim.outbound.commands.v1``; the
agent re-checks and applies it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson
from faust.types import StreamT

from interaction_streams.contract.commands import InteractionCommand
from interaction_streams.contract.customer import CustomerCommand, MomentEvent
from interaction_streams.contract.envelope import CloudEvent
from interaction_streams.contract.events.outbound import DeliveryUpdated, OutboundRequested
from interaction_streams.contract.events.profile import CustomerProfile, ProfileErased
from interaction_streams.contract.events.registry import type_payload
from interaction_streams.contract.outbound import OutboundCommand, OutboundDecision
from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.ingest import RawRecord
from interaction_streams.domain.outbound import stage
from interaction_streams.domain.outbound.model import OutboundParty
from interaction_streams.domain.outbound.policy import SolicitationPolicy
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.deadletters import DeadLetterSink
from interaction_streams.stream.ingest import stage_key
from interaction_streams.stream.tables import model_table
from interaction_streams.stream.wiring import (
    DueIndex,
    StageClock,
    each_record,
    handle_record,
    may_run_timer,
    model_topic,
    raw_topic,
)

log = logging.getLogger(__name__)


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class OutboundShell:
    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    deadletters: DeadLetterSink
    policy: SolicitationPolicy
    timers: DueIndex = field(default_factory=DueIndex)  # party id -> when time changes it

    def __post_init__(self) -> None:
        c = self.contract
        self.outbound_topic = c["ingested-outbound"].name
        self.profile_topic = c["ingested-profile"].name
        self.facts_topic = c["customer-commands"].name
        self.moments_topic = c["customer-moments"].name
        self.commands_topic = c["outbound-commands"].name
        self.clock = StageClock(live=self.settings.clock == "live")
        # Profiles and interaction facts reach this stage on the customer stage's agent
        # (``ride``) when this worker runs it: the same topics, keyed by party id too, so one
        # Faust hop serves both. Otherwise this stage reads them itself.
        riding = self.settings.runs("customers")
        ridden = () if riding else (self.profile_topic, self.facts_topic)
        self.source = raw_topic(
            self.app, self.outbound_topic, self.moments_topic, self.commands_topic, *ridden
        )
        self.commands = model_topic(self.app, c, "outbound-commands", OutboundCommand)
        self.decisions = model_topic(self.app, c, "outbound-decisions", OutboundDecision)
        self.messages = raw_topic(self.app, c["communication-requests"].name)
        self.interactions = model_topic(self.app, c, "interaction-commands", InteractionCommand)
        self.routing = model_topic(self.app, c, "routing-requests", RoutingRequest)
        self.table = model_table(
            self.app,
            "outbound",
            OutboundParty,
            self.settings,
            key_type=str,
            partitions=c["ingested-outbound"].partitions,
            help="consent facts, contacts, deferred requests and checks of each party",
        )
        self.table.on_recover(self._rebuild)
        self.app.agent(self.source, name="outbound")(self._run)
        self.app.timer(self.settings.sweep_interval_seconds, name="outbound-fires")(self._sweep)

    # ---- the agent ----

    async def _run(self, stream: StreamT[Any]) -> None:
        await each_record(stream, "outbound", self.metrics, self.deadletters, self._handle)

    async def ride(self, record: RawRecord) -> None:
        """A record of the customer stage's agent: profiles and interaction facts are ours too
        (the table row of a party lives in the same partition number: both keyed by party)."""
        if record.topic in (self.profile_topic, self.facts_topic):
            await handle_record("outbound", self.metrics, self.deadletters, self._handle, record)

    async def _handle(self, record: RawRecord) -> None:
        topic, value = record.topic, record.value or b""
        if topic == self.commands_topic:
            command = OutboundCommand.model_validate_json(value)
            await self._command(command, record.partition)
        elif topic == self.facts_topic:
            await self._fact(CustomerCommand.model_validate_json(value), record.partition)
        elif topic == self.moments_topic:
            event = MomentEvent.model_validate_json(value)
            at = event.moment.ended if event.state == "ended" else event.moment.started
            self.clock.tick(record.partition, _ms(at or event.moment.started))
            key = event.party_id
            await self._apply(
                key, stage.on_moment(self.table.get(key), event, self.now_ms(), self.policy)
            )
        elif record.value is not None:
            await self._event(record, topic == self.profile_topic)

    async def _event(self, record: RawRecord, profile: bool) -> None:
        envelope = CloudEvent.model_validate_json(record.value or b"")
        payload = type_payload(envelope, "profile" if profile else "outbound").payload
        self.clock.tick(record.partition, envelope.time_ms)
        now = self.now_ms()
        if isinstance(payload, CustomerProfile):
            key = payload.party_id
            step = stage.on_profile(self.table.get(key), payload, now, self.policy)
        elif isinstance(payload, ProfileErased):
            key = payload.party_id
            step = stage.on_erasure(self.table.get(key))
        elif isinstance(payload, OutboundRequested):
            key = payload.party_id
            step = stage.on_request(self.table.get(key), payload, now, self.policy)
        elif isinstance(payload, DeliveryUpdated):
            key = payload.party_id
            step = stage.on_delivery(self.table.get(key), payload, now, self.policy)
            self.metrics.outbound_deliveries.labels(payload.status).inc()
        else:
            return
        await self._apply(key, step)

    async def _fact(self, command: CustomerCommand, partition: int) -> None:
        if command.command not in ("fact", "unlink"):
            return
        self.clock.tick(partition, _ms(command.time))
        key = command.party_id
        iid = command.fact.interaction_id if command.fact else command.interaction_id
        inbound = command.fact is not None and command.fact.direction == "inbound"
        if not iid or (key not in self.table and not inbound):
            return  # nothing to remember of a party the stage has never heard of
        step = stage.on_fact(
            self.table.get(key), key, command.fact, iid, self.now_ms(), self.policy
        )
        await self._apply(key, step)

    async def _command(self, command: OutboundCommand, partition: int) -> None:
        self.clock.tick(partition, _ms(command.time))
        key = command.party_id
        if command.command == "fire":
            self.timers.arrived(key)
            step = stage.on_fire(self.table.get(key), self.now_ms(), self.policy)
        elif command.escalation_id:
            step = stage.on_escalation(
                self.table.get(key),
                key,
                command.escalation_id,
                bool(command.open),
                self.now_ms(),
                self.policy,
            )
        else:
            return
        await self._apply(key, step)

    async def _apply(self, key: str, step: stage.OutboundStep) -> None:
        if step.store:
            if step.party is None:
                if key in self.table:
                    del self.table[key]
            else:
                self.table[key] = step.party
            self.timers.note(key, step.party.due_ms() if step.party is not None else None)
        for command in step.interactions:
            await self.interactions.send(key=stage_key(command.interaction_id), value=command)
        for route in step.routes:
            await self.routing.send(key=stage_key(route.routing_pool), value=route)
        for message in step.messages:
            await self.messages.send(key=stage_key(key), value=orjson.dumps(message.wire()))
        for decision in step.decisions:
            await self.decisions.send(key=stage_key(key), value=decision)
            rule = decision.rule or "-"
            self.metrics.outbound_decisions.labels(decision.outcome, decision.purpose, rule).inc()
            if decision.outcome == "flagged":
                self.metrics.outbound_uninformed.inc()

    # ---- clock and durable timers ----

    def now_ms(self) -> int:
        return self.clock.now_ms()

    async def _rebuild(self) -> None:
        self.timers.reset()
        for key, party in self.table.items():
            self.timers.note(key, party.due_ms())

    async def _sweep(self) -> None:
        """Send ``fire`` to each party due now (through Kafka: timers cannot write tables);
        the agent re-checks."""
        if not may_run_timer(self.app):
            return
        now, moment = self.now_ms(), self.clock.now()
        for key in self.timers.take(now):
            await self.commands.send(
                key=stage_key(key),
                value=OutboundCommand(command="fire", party_id=key, time=moment),
            )
