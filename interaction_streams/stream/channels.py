"""The channel-operation stage (keyed by channel): health reports, heartbeats, traffic counts
and timer ticks → the channel table → ``ChannelStatus`` on the compacted
``cim.channel.status.v1`` when it changes.

Traffic: the interaction stage calls ``TrafficCounter.observe`` for every channel event it
applies (in whichever worker runs it); contact arrivals are counted per channel and minute of
event time in memory and sent as ``traffic`` commands to ``cim.channel.commands.v1`` when the
event time enters a new minute and at every tick (a few records per channel a minute, not one
per event). A count lost in a crash only blurs one minute of a moving baseline.

Durable timers: the table holds each channel's state (components' last heartbeats, open
minutes); an in-memory copy, rebuilt after each recovery, tells the timer which channels
are due on the stage clock, and it sends them a ``tick`` through Kafka (timers cannot write
tables). After a recovery the current statuses are published again, so a status whose send
was lost in a crash reaches the compacted topic.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from faust.types import StreamT

from interaction_streams.contract.channel_commands import ChannelCommand
from interaction_streams.contract.channel_status import ChannelStatus
from interaction_streams.contract.envelope import CloudEvent
from interaction_streams.contract.events.agent import MediaChannel
from interaction_streams.contract.events.health import ChannelHealthReported, ChannelHeartbeat
from interaction_streams.contract.events.registry import type_payload
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.channels.model import ChannelState
from interaction_streams.domain.channels.policy import ChannelPolicy
from interaction_streams.domain.channels.step import (
    Heartbeat,
    Report,
    Signal,
    Tick,
    Traffic,
    due_ms,
    step,
    traffic_due_wall_ms,
)
from interaction_streams.domain.channels.traffic import MinuteCounts, arrival_channel
from interaction_streams.domain.ingest import RawRecord
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.deadletters import DeadLetterSink
from interaction_streams.stream.ingest import stage_key
from interaction_streams.stream.replica import CompactedReplica
from interaction_streams.stream.tables import model_table
from interaction_streams.stream.wiring import (
    StageClock,
    each_record,
    may_run_timer,
    model_topic,
    raw_topic,
)

log = logging.getLogger(__name__)

CONDITIONS = ("up", "degraded", "down")


@dataclass
class ChannelShell:
    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    deadletters: DeadLetterSink
    policy: ChannelPolicy
    states: dict[str, ChannelState] = field(default_factory=dict)  # active partitions
    pending: set[str] = field(default_factory=set)  # ticks sent, not applied yet
    republish: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        c = self.contract
        self.health_topic = c["ingested-health"].name
        self.commands_topic = c["channel-commands"].name
        self.clock = StageClock(live=self.settings.clock == "live")
        self.source = raw_topic(self.app, self.health_topic, self.commands_topic)
        self.commands = model_topic(self.app, c, "channel-commands", ChannelCommand)
        self.statuses = model_topic(self.app, c, "channel-status", ChannelStatus)
        self.table = model_table(
            self.app,
            "channels",
            ChannelState,
            self.settings,
            key_type=str,
            partitions=c["ingested-health"].partitions,
            help="each channel's components, heartbeats, traffic baseline and published status",
        )
        self.table.on_recover(self._rebuild)
        self.app.agent(self.source, name="channels")(self._run)
        self.app.timer(self.settings.channel_tick_seconds, name="channel-ticks")(self._sweep)

    # ---- the agent ----

    async def _run(self, stream: StreamT[Any]) -> None:
        await each_record(stream, "channels", self.metrics, self.deadletters, self._handle)

    async def _handle(self, record: RawRecord) -> None:
        signal: Signal
        if record.topic == self.commands_topic:
            command = ChannelCommand.model_validate_json(record.value or b"")
            self.clock.tick(record.partition, int(command.time.timestamp() * 1000))
            channel = command.channel
            if command.command == "tick":
                self.pending.discard(channel)
                signal = Tick()
            else:
                signal = Traffic(
                    id=command.id or "",
                    minute_ms=command.minute_ms or 0,
                    count=command.count or 0,
                    newest_ms=int(command.time.timestamp() * 1000),
                )
        else:
            envelope = CloudEvent.model_validate_json(record.value or b"")
            payload = type_payload(envelope, "health").payload
            if not isinstance(payload, ChannelHeartbeat):
                raise ValueError(f"not a health event: {envelope.type}")
            self.clock.tick(record.partition, envelope.time_ms)
            channel = payload.channel
            if isinstance(payload, ChannelHealthReported):
                self.metrics.channel_health_reports.labels(channel, payload.status).inc()
                signal = Report(
                    component=payload.component,
                    status=payload.status,
                    at_ms=envelope.time_ms,
                    error_rate=payload.error_rate,
                    detail=payload.detail,
                )
            else:
                self.metrics.channel_heartbeats.labels(channel).inc()
                signal = Heartbeat(component=payload.component, at_ms=envelope.time_ms)
        key = orjson.loads(record.key) if record.key else channel
        state, status = step(
            self.table.get(key), channel, signal, self.now_ms(), self.policy, self.wall_ms()
        )
        self.table[key] = state
        self.states[key] = state
        if status is not None:
            await self._publish(status)

    async def _publish(self, status: ChannelStatus) -> None:
        await self.statuses.send(key=stage_key(status.channel), value=status)
        self.metrics.channel_status_changes.labels(
            status.channel, status.status, status.reason
        ).inc()
        log.info(
            "channel %s is %s (%s)%s",
            status.channel,
            status.status,
            status.reason,
            f": {status.detail}" if status.detail else "",
        )

    # ---- recovery and timers ----

    async def _rebuild(self) -> None:
        self.states = dict(self.table.items())
        self.pending.clear()
        self.republish = set(self.states)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def wall_ms(self) -> int | None:
        """The wall clock in live mode only: a replay is judged on event time alone."""
        return int(time.time() * 1000) if self.clock.live else None

    def is_due(self, state: ChannelState, now_ms: int, wall_ms: int | None) -> bool:
        due = due_ms(state, self.policy)
        if due is not None and due <= now_ms:
            return True
        traffic_due = traffic_due_wall_ms(state, self.policy)
        return wall_ms is not None and traffic_due is not None and traffic_due <= wall_ms

    async def _sweep(self) -> None:
        if not may_run_timer(self.app):
            return
        for key in sorted(self.republish):
            state = self.states.get(key)
            if state is not None and state.published is not None:
                await self.statuses.send(key=stage_key(key), value=state.published)
        self.republish.clear()
        now, wall, moment = self.now_ms(), self.wall_ms(), self.clock.now()
        for key, state in list(self.states.items()):
            if key in self.pending or not self.is_due(state, now, wall):
                continue
            self.pending.add(key)
            await self.commands.send(
                key=stage_key(key),
                value=ChannelCommand(command="tick", channel=state.channel, time=moment),
            )


@dataclass
class TrafficCounter:
    """Contact arrivals per channel and minute of event time, counted in the interaction
    stage (its ``observers``) and sent to the channel stage as ``traffic`` commands."""

    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    counts: MinuteCounts = field(default_factory=MinuteCounts)
    flushes: int = 0

    def __post_init__(self) -> None:
        self.counter_id = uuid.uuid4().hex[:12]  # names this process's traffic counts
        self.commands = model_topic(self.app, self.contract, "channel-commands", ChannelCommand)
        interval = self.settings.channel_tick_seconds
        self.app.timer(interval, name="channel-traffic")(self._every_tick)

    async def _every_tick(self) -> None:  # a timer function with an argument gets the app
        await self.flush()

    async def observe(self, event_type: str, time_ms: int) -> None:
        channel = arrival_channel(event_type)
        if channel is None:
            return
        self.metrics.channel_arrivals.labels(channel).inc()
        if self.counts.add(channel, time_ms):  # a new minute: the earlier ones go now
            await self.flush(before_ms=self.counts.minute_ms)

    async def flush(self, before_ms: int | None = None) -> None:
        for channel, minute_ms, count, newest_ms in self.counts.drain(before_ms):
            self.flushes += 1
            command = ChannelCommand(
                command="traffic",
                channel=channel,
                time=datetime.fromtimestamp(newest_ms / 1000, tz=UTC),
                id=f"{self.counter_id}-{self.flushes}",
                minute_ms=minute_ms,
                count=count,
            )
            await self.commands.send(key=stage_key(channel), value=command)


def track_channel_status(replica: CompactedReplica[ChannelStatus], metrics: Metrics) -> None:
    """``cim_channel_status{channel, status}`` on every worker, from the replicated topic:
    1 for the channel's current condition, 0 for the others."""

    def changed(key: str, old: ChannelStatus | None, new: ChannelStatus | None) -> None:
        channel: MediaChannel | str = new.channel if new is not None else key
        for condition in CONDITIONS:
            value = 1 if new is not None and new.status == condition else 0
            metrics.channel_status.labels(channel, condition).set(value)

    replica.on_change.append(changed)
