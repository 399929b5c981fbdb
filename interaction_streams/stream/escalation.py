"""The escalation stage (keyed by interaction id): TMF683 events, routing decisions, email
messages and its own commands → the escalation table → records on ``cim.escalations.v1``,
for level L1 ``escalate`` requests on ``cim.routing.requests.v1`` (keyed by routing pool),
and, for an escalation of a known party that closes with its cause, ``escalation`` commands
(opened, closed) on ``cim.outbound.commands.v1`` (keyed by party id: the cool-down).

Facts keyed otherwise reach the stage re-keyed by interaction id through
``cim.escalation.commands.v1``: the customer's context from enqueue routing requests (keyed by
pool) and work assignments (keyed by agent). Durable timers: each case's next due time is in
an in-memory index rebuilt from the table after every recovery; a Faust timer sends a tick
for each due case through the commands topic (timers cannot write tables) and the agent
re-checks it on the stage clock. The same ticks delete a case (``esc.expire``)
``CIM_ESCALATION_RETENTION_SECONDS`` after it resolved, or
``CIM_ESCALATION_CASE_RETENTION_SECONDS`` of event time after its last activity when its
interaction never closes (its open escalations close with reason ``expired``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson
from faust.types import StreamT

from interaction_streams.contract.envelope import CloudEvent
from interaction_streams.contract.escalation import EscalationCommand, EscalationRecord
from interaction_streams.contract.events.agent import GuidanceStepCompleted, RecommendationAnswer
from interaction_streams.contract.events.registry import type_payload
from interaction_streams.contract.guidance import RecommendationResponse
from interaction_streams.contract.outbound import OutboundCommand
from interaction_streams.contract.routing import RoutingDecision, RoutingRequest, WorkAssignment
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.escalation import case as esc
from interaction_streams.domain.escalation.policy import EscalationPolicy
from interaction_streams.domain.guidance.policy import GuidancePolicy
from interaction_streams.domain.ingest import RawRecord
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.deadletters import DeadLetterSink
from interaction_streams.stream.guidance import GuidanceWiring
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
_MESSAGE_TYPES = (b'"cim.interaction.message.received"', b'"cim.interaction.message.sent"')
_EMAIL_START = b'"cim.email.received"'
_IVR_COMPLETED = b'"cim.voice.ivr.completed"'
_GUIDANCE_TYPES = (b'"cim.agent.guidance.step.completed"', b'"cim.agent.recommendation.')


@dataclass
class EscalationShell:
    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    deadletters: DeadLetterSink
    policy: EscalationPolicy
    guidance_policy: GuidancePolicy
    timers: DueIndex = field(default_factory=DueIndex)  # interaction id -> next due time

    def __post_init__(self) -> None:
        c = self.contract
        self.events_topic = c["party-interaction-events"].name
        self.decisions_topic = c["routing-decisions"].name
        self.channel_topic = c["ingested-channel"].name
        self.commands_topic = c["escalation-commands"].name
        self.clock = StageClock(live=self.settings.clock == "live")
        self.retention_ms = int(self.settings.escalation_retention_seconds * 1000)
        self.idle_ms = int(self.settings.escalation_case_retention_seconds * 1000)
        self.commands = model_topic(self.app, c, "escalation-commands", EscalationCommand)
        self.records = model_topic(self.app, c, "escalations", EscalationRecord)
        self.routing = model_topic(self.app, c, "routing-requests", RoutingRequest)
        self.outbound = model_topic(self.app, c, "outbound-commands", OutboundCommand)
        self.table = model_table(
            self.app,
            "escalation",
            esc.Case,
            self.settings,
            key_type=str,
            partitions=c["escalation-commands"].partitions,
            help="the escalation case of each interaction: facts, causes, fired and open",
        )
        self.table.on_recover(self._rebuild)
        self.guidance = GuidanceWiring(
            self.app, c, self.settings, self.metrics, self.guidance_policy
        )
        # The ingested channel events reach this stage on the interaction stage's agent and
        # the routing requests and agent events reach the forwarder on the routing stage's
        # (``ride_channel``, ``ride_routing``) when this worker runs those stages: one Faust
        # hop serves both. Otherwise this stage reads them itself.
        self.agent_topic = c["ingested-agent"].name
        self.requests_topic = c["routing-requests"].name
        self.source = raw_topic(
            self.app,
            self.events_topic,
            self.decisions_topic,
            self.commands_topic,
            self.guidance.responses_topic,
            *(() if self.settings.runs("interactions") else (self.channel_topic,)),
        )
        self.app.agent(self.source, name="escalation")(self._run)
        forwarded = () if self.settings.runs("routing") else (self.requests_topic, self.agent_topic)
        forward = raw_topic(self.app, c["work-assignments"].name, *forwarded)
        self.app.agent(forward, name="escalation-forward")(self._run_forward)
        self.app.timer(self.settings.escalation_sweep_seconds, name="escalation-ticks")(self._sweep)

    # ---- re-keying by interaction id ----

    async def _run_forward(self, stream: StreamT[Any]) -> None:
        await each_record(stream, "escalation-forward", self.metrics, self.deadletters, self._fwd)

    async def ride_routing(self, record: RawRecord) -> None:
        """A record of the routing stage's agent: routing requests and agent events are
        forwarded from there (the forwarder writes no table: any partition will do)."""
        if record.topic in (self.requests_topic, self.agent_topic):
            await handle_record(
                "escalation-forward", self.metrics, self.deadletters, self._fwd, record
            )

    async def ride_channel(self, record: RawRecord) -> None:
        """A record of the interaction stage's agent: the ingested channel events (keyed by
        interaction id, as this stage's table: its rows live in the same partition number)."""
        if record.topic == self.channel_topic:
            await handle_record("escalation", self.metrics, self.deadletters, self._handle, record)

    async def _fwd(self, record: RawRecord) -> None:
        value = record.value or b""
        if record.topic == self.agent_topic:
            if any(t in value for t in _GUIDANCE_TYPES):
                await self._forward_agent_event(value)
            return
        if record.topic == self.requests_topic:
            request = RoutingRequest.model_validate_json(value)
            if request.command != "enqueue":
                return
            command = EscalationCommand(
                command="context",
                command_id=f"context|{request.interaction_id}|{request.time.isoformat()}",
                interaction_id=request.interaction_id,
                time=request.time,
                request=request,
            )
        else:
            work = WorkAssignment.model_validate_json(value)
            if work.kind != "assign" or work.interaction_id is None:
                return
            command = EscalationCommand(
                command="assign",
                command_id=work.id,
                interaction_id=work.interaction_id,
                time=work.at,
                assignment=work,
            )
        await self.commands.send(key=stage_key(command.interaction_id), value=command)

    async def _forward_agent_event(self, value: bytes) -> None:
        envelope = CloudEvent.model_validate_json(value)
        payload = type_payload(envelope, "agent").payload
        if isinstance(payload, GuidanceStepCompleted):
            command = EscalationCommand(
                command="guidance-step",
                command_id=envelope.id,
                interaction_id=payload.interaction_id,
                time=envelope.time,
                agent_id=payload.agent_id,
                flow_id=payload.flow_id,
                step_id=payload.step_id,
            )
        elif isinstance(payload, RecommendationAnswer):
            command = EscalationCommand(
                command="recommendation-answer",
                command_id=envelope.id,
                interaction_id=payload.interaction_id,
                time=envelope.time,
                agent_id=payload.agent_id,
                recommendation_id=payload.recommendation_id,
                action_id=payload.action_id,
                accepted=envelope.type == "cim.agent.recommendation.accepted",
            )
        else:
            return
        await self.commands.send(key=stage_key(command.interaction_id), value=command)

    # ---- the agent ----

    async def _run(self, stream: StreamT[Any]) -> None:
        await each_record(stream, "escalation", self.metrics, self.deadletters, self._handle)

    async def _handle(self, record: RawRecord) -> None:
        value = record.value or b""
        if record.topic == self.channel_topic:
            ivr = _IVR_COMPLETED in value
            if (
                not ivr
                and not any(t in value for t in _MESSAGE_TYPES)
                and _EMAIL_START not in value
            ):
                return  # the stage reads only conversations' messages and IVR completions
            envelope = CloudEvent.model_validate_json(value)
            iid = str(envelope.data.get("interactionId", "")) if envelope.data else ""
            if not iid:
                return
            if envelope.type == "cim.voice.ivr.completed":
                self.clock.tick(record.partition, envelope.time_ms)
                await self.guidance.ivr_completed(iid, self._facts(iid), envelope.time_ms)
                return
            inbound = envelope.type != "cim.interaction.message.sent"
            await self._step(
                iid,
                record.partition,
                envelope.time_ms,
                lambda c: esc.on_message(c, inbound, envelope.time_ms),
            )
        elif record.topic == self.events_topic:
            event = orjson.loads(value)
            resource = (event.get("event") or {}).get("partyInteraction") or {}
            iid = str(resource.get("id") or "")
            if not iid:
                return
            if event.get("eventType") == "PartyInteractionDeleteEvent":
                erased = self.table.get(iid)
                self._forget(iid)  # erased: no personal data stays behind
                if erased is not None:  # the party's cool-down ends with the case
                    for signal in esc.released(erased, _ms(event.get("eventTime"))):
                        await self.outbound.send(key=stage_key(signal.party_id), value=signal)
                return
            at_ms = _ms(event.get("eventTime"))
            event_id = event.get("eventId")
            await self._step(
                iid,
                record.partition,
                at_ms,
                lambda c: esc.on_interaction(c, resource, at_ms, event_id),
            )
            if resource.get("subStatus") in ("wrapUp", "closed"):
                await self.guidance.end(iid, at_ms)
        elif record.topic == self.guidance.responses_topic:
            response = RecommendationResponse.model_validate_json(value)
            at_ms = int(response.time.timestamp() * 1000)
            self.clock.tick(record.partition, at_ms)
            await self.guidance.response(response, at_ms)
        elif record.topic == self.decisions_topic:
            decision = RoutingDecision.model_validate_json(value)
            if decision.kind != "queued":
                return
            at_ms = int(decision.at.timestamp() * 1000)
            await self._step(
                decision.interaction_id,
                record.partition,
                at_ms,
                lambda c: esc.on_routed(c, decision.queue, decision.priority),
            )
        else:
            await self._command(EscalationCommand.model_validate_json(value), record.partition)

    async def _command(self, command: EscalationCommand, partition: int) -> None:
        iid = command.interaction_id
        at_ms = int(command.time.timestamp() * 1000)
        if command.command == "tick":
            self.timers.arrived(iid)
            self.clock.tick(partition, at_ms)
            await self._tick(iid)
        elif command.command == "assign" and command.assignment is not None:
            self.clock.tick(partition, at_ms)
            agent = command.assignment.agent_id
            await self.guidance.assign(iid, self._facts(iid), agent, at_ms)
        elif command.command == "guidance-step" and command.flow_id and command.step_id:
            self.clock.tick(partition, at_ms)
            await self.guidance.step(iid, command.flow_id, command.step_id, at_ms)
        elif command.command == "recommendation-answer" and command.action_id:
            self.clock.tick(partition, at_ms)
            await self.guidance.answer(
                iid,
                command.recommendation_id or "",
                command.action_id,
                bool(command.accepted),
                command.agent_id or "",
                at_ms,
            )
        elif command.command == "context" and command.request is not None:
            request = command.request
            await self._step(iid, partition, at_ms, lambda c: esc.on_context(c, request))
        elif command.command == "promise-callback" and command.due is not None:
            due = int(command.due.timestamp() * 1000)
            await self._step(iid, partition, at_ms, lambda c: esc.on_callback(c, due))
        elif command.command == "callback-done":
            await self._step(iid, partition, at_ms, lambda c: esc.on_callback(c, None))

    async def _step(self, iid: str, partition: int, at_ms: int, apply: Any) -> None:
        """Fire what was due before the event, apply it, fire what it makes due."""
        self.clock.tick(partition, at_ms)
        before = self.table.get(iid)
        current = before if before is not None else esc.Case(interaction_id=iid)
        current, early = esc.advance(current, self.policy, at_ms)
        current, late = esc.advance(esc.touched(apply(current), at_ms), self.policy, at_ms)
        await self._save(iid, before, current, [*early, *late])

    def _forget(self, iid: str) -> None:
        if iid in self.table:
            del self.table[iid]
        if iid in self.guidance.table:
            del self.guidance.table[iid]
        self.timers.note(iid, None)
        self.guidance.due.pop(iid, None)

    def _facts(self, iid: str) -> dict[str, Any]:
        case = self.table.get(iid)
        return {} if case is None else {**case.facts(), "party.id": case.party_id}

    async def _tick(self, iid: str) -> None:
        now = self.clock.now_ms()
        await self.guidance.tick(iid, self._facts(iid), now)
        before = self.table.get(iid)
        if before is None:
            self.timers.note(iid, None)
            return
        current, fired = esc.advance(before, self.policy, now)
        closes = esc.expire(current, self.policy, now, self.retention_ms, self.idle_ms)
        if closes is not None:  # resolved long ago, or its interaction never closed
            self._forget(iid)
            await self._send(iid, [*fired, *closes])
            return
        await self._save(iid, before, current, fired)

    async def _save(
        self, iid: str, before: esc.Case | None, case: esc.Case, fired: list[esc.Fired]
    ) -> None:
        if case != before:
            self.table[iid] = case
        self._index(iid, case)
        await self._send(iid, fired)

    async def _send(self, iid: str, fired: list[esc.Fired]) -> None:
        for item in fired:
            record = item.record
            self.metrics.escalations.labels(record.cause, record.level or "-", record.kind).inc()
            await self.records.send(key=stage_key(iid), value=record)
            if item.routing is not None:
                await self.routing.send(
                    key=stage_key(item.routing.routing_pool), value=item.routing
                )
            if item.outbound is not None:
                await self.outbound.send(key=stage_key(item.outbound.party_id), value=item.outbound)

    # ---- durable timers ----

    def _index(self, iid: str, case: esc.Case) -> None:
        due = esc.next_due_ms(case, self.policy)
        if due is None:  # nothing to fire: the tick that deletes the case
            due = esc.deletion_due_ms(case, self.policy, self.retention_ms, self.idle_ms)
        self.timers.note(iid, due)

    async def _rebuild(self) -> None:
        self.timers.reset()
        for iid, case in self.table.items():
            self._index(iid, case)

    async def _sweep(self) -> None:
        if not may_run_timer(self.app):
            return
        now = self.clock.now_ms()
        moment = self.clock.now()
        for iid in self.timers.take(now, also=self.guidance.due):
            await self.commands.send(
                key=stage_key(iid),
                value=EscalationCommand(
                    command="tick", command_id=f"tick|{iid}|{now}", interaction_id=iid, time=moment
                ),
            )


def _ms(text: Any) -> int:
    from datetime import datetime

    if not isinstance(text, str):
        return 0
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
