"""The area stage (keyed by service area): who lives where, and incident fan-out.

Members of an area are kept in buckets; an incident that names an area reads its buckets
and sends one notice per member to the customer stage: no scan of all customers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import StreamT

from interaction_streams.contract.customer import AreaCommand, CustomerCommand
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.context import areas
from interaction_streams.domain.ingest import RawRecord
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.deadletters import DeadLetterSink
from interaction_streams.stream.ingest import stage_key
from interaction_streams.stream.tables import model_table
from interaction_streams.stream.wiring import each_record, model_topic, raw_topic

log = logging.getLogger(__name__)


@dataclass
class AreaShell:
    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    deadletters: DeadLetterSink

    def __post_init__(self) -> None:
        c = self.contract
        self.source = raw_topic(self.app, c["area-commands"].name)
        self.customers = model_topic(self.app, c, "customer-commands", CustomerCommand)
        self.table = model_table(
            self.app,
            "area-members",
            areas.AreaBucket,
            self.settings,
            key_type=str,
            partitions=c["area-commands"].partitions,
            help="customers of each service area, in buckets",
        )
        self.app.agent(self.source, name="areas")(self._run)

    async def _run(self, stream: StreamT[Any]) -> None:
        await each_record(stream, "areas", self.metrics, self.deadletters, self._on_record)

    async def _on_record(self, record: RawRecord) -> None:
        await self._handle(AreaCommand.model_validate_json(record.value or b""))

    async def _handle(self, command: AreaCommand) -> None:
        if command.command in ("join", "leave") and command.party_id:
            key = areas.bucket_key(command.area, command.party_id)
            current = self.table.get(key)
            if command.command == "join":
                self.table[key] = areas.join(current, command.party_id)
            else:
                remaining = areas.leave(current, command.party_id)
                if remaining is None:
                    if key in self.table:
                        del self.table[key]
                else:
                    self.table[key] = remaining
            return
        if command.command == "incident" and command.notice is not None:
            moment = datetime.fromtimestamp(command.notice.at_ms / 1000, tz=UTC)
            reached = 0
            for key in areas.bucket_keys(command.area):
                bucket = self.table.get(key)
                for party_id in bucket.parties if bucket else ():
                    await self.customers.send(
                        key=stage_key(party_id),
                        value=CustomerCommand(
                            command="notice", party_id=party_id, time=moment, notice=command.notice
                        ),
                    )
                    reached += 1
            self.metrics.incident_fanout.observe(reached)
