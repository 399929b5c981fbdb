"""The party stage: profiles and party links → the contact index and erasure.

Keyed by party id. It publishes the contact index (contact address → party id) on a
compacted topic that every worker replicates for party identification, and turns a party
erasure request into erase commands for each of the party's interactions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from faust.types import StreamT

from interaction_streams.contract.commands import InteractionCommand, PartyLink
from interaction_streams.contract.envelope import CloudEvent
from interaction_streams.contract.events.profile import CustomerProfile, ProfileErased
from interaction_streams.contract.events.registry import type_payload
from interaction_streams.contract.party_index import ContactIndexEntry
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain import party
from interaction_streams.domain.ingest import RawRecord, Rejected
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.codec import ModelCodec
from interaction_streams.stream.deadletters import DeadLetterSink, raw_record
from interaction_streams.stream.ingest import stage_key
from interaction_streams.stream.tables import model_table

log = logging.getLogger(__name__)


@dataclass
class PartyShell:
    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    deadletters: DeadLetterSink

    def __post_init__(self) -> None:
        c = self.contract
        self.links_topic = c["party-links"].name
        self.source = self.app.topic(
            c["ingested-profile"].name,
            self.links_topic,
            key_serializer="raw",
            value_serializer="raw",
        )
        self.index = self.app.topic(
            c["contact-index"].name, key_serializer="raw", value_serializer="raw"
        )
        self.commands = self.app.topic(
            c["interaction-commands"].name,
            key_serializer="raw",
            value_serializer=ModelCodec(InteractionCommand),
        )
        self.table = model_table(
            self.app,
            "parties",
            party.PartyRecord,
            self.settings,
            key_type=str,
            partitions=c["ingested-profile"].partitions,
            help="contact keys and interaction ids of each party",
        )
        self.app.agent(self.source, name="parties")(self._run)

    async def _run(self, stream: StreamT[Any]) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            record = raw_record(event)
            try:
                await self._handle(record)
            except Exception as exc:
                log.exception("party stage failed on %s@%s", record.topic, record.offset)
                await self.deadletters.send(record, Rejected("processing-error", repr(exc)))
            self.metrics.processing.labels("parties").observe(time.perf_counter() - started)

    async def _handle(self, record: RawRecord) -> None:
        if record.topic == self.links_topic:
            link = PartyLink.model_validate_json(record.value or b"")
            current = self.table.get(link.party_id)
            self.table[link.party_id] = party.on_link(current, link.interaction_id, link.linked)
            return
        envelope = CloudEvent.model_validate_json(record.value or b"")
        payload = type_payload(envelope, "profile").payload
        assert isinstance(payload, ProfileErased)
        key = payload.party_id
        current = self.table.get(key)
        if isinstance(payload, CustomerProfile):
            step = party.on_profile(current, payload, self.settings.phone_region)
        else:
            step = party.on_erasure(current)
        await self._apply(key, step, envelope)

    async def _apply(self, key: str, step: party.PartyStep, cause: CloudEvent) -> None:
        if step.record is None:
            if key in self.table:
                del self.table[key]
        else:
            self.table[key] = step.record
        entry = orjson.dumps(ContactIndexEntry(party_id=key).model_dump(by_alias=True))
        for contact in step.index_set:
            await self.index.send(key=stage_key(contact), value=entry)
        for contact in step.index_removed:
            await self.index.send(key=stage_key(contact), value=None)
        moment = datetime.now(UTC) if self.settings.clock == "live" else cause.time
        for interaction_id in step.erase:
            command = InteractionCommand(
                command="erase",
                command_id=f"erase-{cause.id}-{interaction_id}",
                interaction_id=interaction_id,
                time=max(moment, cause.time),
            )
            await self.commands.send(key=stage_key(interaction_id), value=command)
