"""The routing and assignment stage (keyed by routing pool): routing requests, agent events and
timer ticks → the matcher → offers, assignments and rescinds on ``cim.work.assignments.v1``
(keyed by agent id) and routing decisions on ``cim.routing.decisions.v1`` (keyed by
interaction id).

Each pool lives in memory as one ``matcher.Pool`` (it carries indexes); the table keeps one
row per entity (``<pool>|agent|<id>``, ``<pool>|wait|<interaction id>``, ``<pool>|meta``),
written when the entity changed, and the pools are rebuilt from the rows after each recovery.
Durable timers: a Faust timer finds the pools due on the stage clock (an offer deadline, a
wrap-up end, a timed step) and sends a tick to ``cim.routing.commands.v1`` with the pool's
key; the agent re-checks and applies it.
"""

from __future__ import annotations

import heapq
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import faust
from faust.types import StreamT

from interaction_streams.contract.channel_status import ChannelStatus
from interaction_streams.contract.envelope import CloudEvent
from interaction_streams.contract.events.agent import AgentEvent
from interaction_streams.contract.events.registry import type_payload
from interaction_streams.contract.routing import (
    PolicyDocument,
    RoutingCommand,
    RoutingDecision,
    RoutingRequest,
    WorkAssignment,
)
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.ingest import RawRecord
from interaction_streams.domain.routing import matcher as m
from interaction_streams.domain.routing import outputs
from interaction_streams.domain.routing.decide import (
    facts_for,
    last_agent_preference,
    next_step_after,
    overflow_for,
    route,
    target_at,
)
from interaction_streams.domain.routing.policy import RoutingPolicy, next_policy
from interaction_streams.domain.routing.positions import position_updates
from interaction_streams.domain.routing.request import legs_to_withdraw
from interaction_streams.domain.routing.rows import (
    RoutedEntry,
    RoutingRow,
    changed_rows,
    pools_from_rows,
)
from interaction_streams.domain.routing.skills import SkillRequirement, Target
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.deadletters import DeadLetterSink
from interaction_streams.stream.ingest import stage_key
from interaction_streams.stream.replica import CompactedReplica, worker_replica
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

COLLABORATION = "collaboration"  # the queue of consult, transfer and conference legs
NAMED_WAIT_MS = 60_000  # a named-agent leg re-queued after a missed offer waits for them
SLOTS_MAX_AGE_MS = 1_000  # estimated waits use the serving capacity of at most 1 s ago


@dataclass
class RoutingShell:
    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    deadletters: DeadLetterSink
    policy: RoutingPolicy
    channel_status: CompactedReplica[ChannelStatus]  # the worker's replica (rules read it)
    pools: dict[str, m.Pool] = field(default_factory=dict)
    routed: dict[str, dict[str, RoutedEntry]] = field(default_factory=dict)  # pool -> iid
    # pool -> interaction -> (the position last sent, when): updates on change, rate-limited
    positions: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    positions_due: dict[str, int] = field(default_factory=dict)  # pool -> next recompute
    positions_dirty: set[str] = field(default_factory=set)  # pools changed since
    position_backlog: dict[str, deque[str]] = field(default_factory=dict)  # updates to send
    slots: dict[str, tuple[int, dict[Any, int]]] = field(default_factory=dict)  # (when, counts)
    pending_ticks: set[str] = field(default_factory=set)
    # pool -> (when the next timed step is due, interaction): a heap, stale entries skipped
    step_heap: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    answered: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    stat_labels: set[tuple[str, str]] = field(default_factory=set)  # (pool, queue) set
    offering: dict[str, tuple[tuple[str, ...], str | None]] = field(default_factory=dict)
    presence_labels: set[tuple[str, str]] = field(default_factory=set)
    riders: list[Handler] = field(default_factory=list)  # stages reading the same records

    def __post_init__(self) -> None:
        c = self.contract
        self.agent_topic = c["ingested-agent"].name
        self.requests_topic = c["routing-requests"].name
        self.commands_topic = c["routing-commands"].name
        self.clock = StageClock(live=self.settings.clock == "live")
        self.source = raw_topic(
            self.app, self.agent_topic, self.requests_topic, self.commands_topic
        )
        self.requests = model_topic(self.app, c, "routing-requests", RoutingRequest)
        self.commands = model_topic(self.app, c, "routing-commands", RoutingCommand)
        self.decisions = model_topic(self.app, c, "routing-decisions", RoutingDecision)
        self.position_updates = model_topic(self.app, c, "routing-positions", RoutingDecision)
        self.assignments = model_topic(self.app, c, "work-assignments", WorkAssignment)
        self.strategies = {name: q.strategy for name, q in self.policy.queues.items()}
        self.offer_timeout_ms = int(self.settings.routing_offer_timeout_seconds * 1000)
        self.position_interval_ms = int(self.settings.routing_position_interval_seconds * 1000)
        self.position_batch = self.settings.routing_position_batch
        self.policy_documents = worker_replica(
            self.app, self.settings, c, "routing-policy", PolicyDocument
        )
        self.policy_documents.on_change.append(self._policy_changed)
        self.table = model_table(
            self.app,
            "routing",
            RoutingRow,
            self.settings,
            key_type=str,
            partitions=c["ingested-agent"].partitions,
            help="agents, waiting and offered interactions of each routing pool",
        )
        self.table.on_recover(self._rebuild)
        self.app.agent(self.source, name="routing")(self._run)
        # Offers time out and steps relax within seconds: the general sweep (retention,
        # snapshots) may be much slower than the routing timer must be.
        tick = min(self.settings.routing_tick_seconds, self.settings.sweep_interval_seconds)
        self.app.timer(tick, name="routing-ticks")(self._sweep)

    @property
    def readiness(self) -> tuple[Any, ...]:
        """The replica the worker waits for before it is ready (the policy documents)."""
        return (self.policy_documents.ready,)

    # ---- policy replaced at run time ----

    def _policy_changed(
        self, key: str, old: PolicyDocument | None, new: PolicyDocument | None
    ) -> None:
        """A policy document on the policy topic: switch to it if valid, else refuse it with
        each problem (file, line, reason) and keep the policy in force."""
        if new is None or key != "routing":
            return  # a tombstone keeps the policy in force
        policy, problems = next_policy(self.policy, new.text, new.source)
        if problems or policy is None:
            self.metrics.routing_policy_updates.labels(outcome="refused").inc()
            for problem in problems:
                log.error("routing policy %s refused: %s", new.version or "?", problem)
            log.error(
                "routing policy %s kept in force (refused %s)",
                self.policy.version,
                new.version,
            )
            return
        self.policy = policy
        self.strategies = {name: q.strategy for name, q in policy.queues.items()}
        self.metrics.routing_policy_updates.labels(outcome="applied").inc()
        log.info("routing policy %s in force (from %s)", policy.version, new.source)

    def channel_facts(self) -> dict[str, Any]:
        """``channelStatus.<channel>``: each channel's condition known to this worker."""
        return {f"channelStatus.{k}": v.status for k, v in self.channel_status.items()}

    # ---- the agent ----

    async def _run(self, stream: StreamT[Any]) -> None:
        await each_record(
            stream, "routing", self.metrics, self.deadletters, self._handle, self.riders
        )

    async def _handle(self, record: RawRecord) -> None:
        if record.topic == self.requests_topic:
            request = RoutingRequest.model_validate_json(record.value or b"")
            at_ms = int(request.time.timestamp() * 1000)
            self.clock.tick(record.partition, at_ms)
            await self._request(request)
            return
        if record.topic == self.commands_topic:
            command = RoutingCommand.model_validate_json(record.value or b"")
            at_ms = int(command.time.timestamp() * 1000)
            self.clock.tick(record.partition, at_ms)
            self.pending_ticks.discard(command.routing_pool)
            await self._tick(command.routing_pool)
            return
        envelope = CloudEvent.model_validate_json(record.value or b"")
        typed = type_payload(envelope, "agent")
        self.clock.tick(record.partition, envelope.time_ms)
        payload = typed.payload
        if not isinstance(payload, AgentEvent):
            return
        pool_id = payload.routing_key()
        before = self._pool(pool_id)
        pool, decisions = m.on_agent_event(before, envelope.type, payload, envelope.time_ms)
        await self._settle(pool_id, before, pool, list(decisions), due_steps=True)

    def _pool(self, pool_id: str) -> m.Pool:
        pool = self.pools.get(pool_id)
        if pool is None:
            pool = self.pools[pool_id] = m.Pool(pool_id=pool_id)
        return pool

    def now_ms(self) -> int:
        return self.clock.now_ms()

    async def _request(self, request: RoutingRequest) -> None:
        pool_id = request.routing_pool
        before = self._pool(pool_id)
        now = max(self.now_ms(), before.clock_ms)
        iid = request.interaction_id
        routed = self.routed.setdefault(pool_id, {})
        if request.command == "withdraw":
            pool, decisions = m.remove(before, iid, request.reason or "withdrawn", now)
            removed = list(decisions)
            # The call is over: its consult and conference legs go too (offers rescinded).
            for leg in legs_to_withdraw(iid, request.reason, pool.waiting, pool.offered):
                pool, decisions = m.remove(pool, leg, "call-ended", now)
                removed.extend(decisions)
            await self._settle(pool_id, before, pool, removed, due_steps=False)
            return
        if request.command == "escalate":
            await self._escalate(pool_id, before, request, now)
            return
        if request.command == "collaborate":
            await self._collaborate(pool_id, before, request, now)
            return
        if iid in before.offers or iid in before.waiting:
            return  # already queued: a duplicate request keeps the entry (and its age)
        facts = facts_for(
            request.channel,
            request.direction,
            request.intent,
            request.language,
            request.ivr,
            request.requested_queue,
            moments=request.moments,
            party_known=request.party_id is not None,
        )
        facts.update(self.channel_facts())
        facts.update(
            {
                "context.tier": request.context_tier,
                "context.segment": request.context_segment,
                "context.repeatContact": request.context_repeat_contact,
                "context.sentiment": request.context_sentiment,
                "context.contacts24h": request.context_contacts24h,
                "context.preferredChannel": request.context_preferred_channel,
            }
        )
        choice = route(self.policy, facts)
        enqueued_ms = request.enqueued_ms if request.enqueued_ms is not None else now
        first = choice.targets[0].queues[0]
        queue = overflow_for(self.policy, first, m.queue_lengths(before))
        moment = outputs.ms_time(now)
        if queue is None:  # every queue of the overflow chain is full
            await self._decide(
                pool_id, iid, choice.targets[0], None, "queue-full", moment, "dequeued", enqueued_ms
            )
            return
        entry = RoutedEntry(choice=choice, queue=queue, enqueued_ms=enqueued_ms)
        self._push_step(pool_id, iid, entry, enqueued_ms)
        if choice.target.alternatives or choice.target.announcement:
            self.offering[iid] = (choice.target.alternatives, choice.target.announcement)
        routed[iid] = entry
        target = self._target(entry, now)
        waiting = m.Waiting(
            interaction_id=iid,
            channel=request.channel,
            target=target,
            enqueued_ms=enqueued_ms,
            min_priority=request.min_priority,
            **last_agent_preference(self.policy, request, enqueued_ms),
        )
        pool = m.enqueue(before, waiting)
        reason = "overflow" if queue != first else "enqueued"
        await self._settle(pool_id, before, pool, [], due_steps=True, queued=(iid, reason, ""))

    async def _escalate(
        self, pool_id: str, before: m.Pool, request: RoutingRequest, now: int
    ) -> None:
        """Raise a waiting interaction's priority (its age is kept); a repeated escalation id
        or an interaction no longer waiting changes nothing."""
        iid = request.interaction_id
        pool, entry = m.escalate(before, iid, request.priority_boost or 0, request.escalation_id)
        if entry is None:
            return
        routed = self.routed.get(pool_id, {}).get(iid)
        if routed is not None:  # the policy's target as of now, with the boost on top
            pool = m.retarget(pool, iid, self._target(routed, now))
        tag = request.escalation_id or str(entry.boost)
        await self._settle(
            pool_id, before, pool, [], due_steps=True, queued=(iid, "escalated", tag)
        )

    async def _collaborate(
        self, pool_id: str, before: m.Pool, request: RoutingRequest, now: int
    ) -> None:
        """A consult, transfer or conference leg through the matcher: offered at once to the
        named agent or the expert the queue strategy picks; an expert leg with nobody free
        waits (top priority) for the first one; a named agent who cannot take it now is
        reported unavailable."""
        iid = request.interaction_id
        mode = request.mode or "transfer"
        leg = iid if mode == "transfer" else f"{iid}~{mode}"
        if leg in before.offers or leg in before.waiting:
            return  # a duplicate request
        required = tuple(request.skills)
        if request.to_role:
            required = (*required, SkillRequirement(skill=f"role:{request.to_role}"))
        need = m.ExpertNeed(
            channel=request.channel,
            required=required,
            agent_id=request.to_agent_id,
            exclude=(request.from_agent_id,) if request.from_agent_id else (),
        )
        target = Target(queues=(COLLABORATION,), priority=1000, required=required, rule=mode)
        entry = m.Waiting(
            interaction_id=leg,
            channel=request.channel,
            target=target,
            enqueued_ms=now,
            preferred_agent=request.to_agent_id,
            preferred_until_ms=now + NAMED_WAIT_MS if request.to_agent_id else None,
            declined=need.exclude,
        )
        expert = m.find_expert(
            before, need, now, self.strategies.get(COLLABORATION, "longest-idle")
        )
        decisions: list[m.Decision] = []
        pool = before
        if expert is not None:
            pool, offer = m.offer_to(before, entry, expert, now, self.offer_timeout_ms)
            if offer is not None:
                decisions.append(offer)
        reason = "offered" if decisions else "unavailable" if request.to_agent_id else "waiting"
        if reason == "waiting":
            pool = m.enqueue(pool, entry)
        await self._settle(pool_id, before, pool, decisions, due_steps=False)
        tag = f"{leg}|collaboration|{reason}|{now}"
        decision = RoutingDecision(
            id=tag,
            kind="collaboration",
            interaction_id=iid,
            routing_pool=pool_id,
            queue=COLLABORATION,
            priority=target.priority,
            skills=required,
            rule=mode,
            reason=reason,
            at=outputs.ms_time(now),
            agent_id=expert if decisions else request.to_agent_id,
        )
        await self.decisions.send(key=stage_key(iid), value=decision)

    def _target(self, entry: RoutedEntry, now_ms: int) -> Target:
        waited = max(0.0, (now_ms - entry.enqueued_ms) / 1000)
        target = target_at(self.policy, entry.choice, waited)
        if target.queues[0] != entry.queue:
            rest = tuple(q for q in target.queues[1:] if q != entry.queue)
            target = target.model_copy(update={"queues": (entry.queue, *rest)})
        return target

    def _push_step(self, pool_id: str, iid: str, entry: RoutedEntry, now_ms: int) -> None:
        """Note when the entry's next timed step is due (if it has one left)."""
        due = self._step_due_ms(entry, now_ms)
        if due is not None:
            heapq.heappush(self.step_heap.setdefault(pool_id, []), (due, iid))

    def _step_due_ms(self, entry: RoutedEntry, now_ms: int) -> int | None:
        waited = max(0.0, (now_ms - entry.enqueued_ms) / 1000)
        after = next_step_after(self.policy, entry.choice, waited)
        return None if after is None else entry.enqueued_ms + int(after * 1000)

    async def _tick(self, pool_id: str) -> None:
        before = self.pools.get(pool_id)
        if before is None:
            return
        now = max(self.now_ms(), before.clock_ms)
        pool, ended, away = m.expire(before, now, self.settings.routing_max_missed_offers)
        decisions: list[m.Decision] = [*ended, *away]
        await self._settle(pool_id, before, pool, decisions, due_steps=True)

    async def _settle(
        self,
        pool_id: str,
        before: m.Pool,
        pool: m.Pool,
        decisions: list[m.Decision],
        *,
        due_steps: bool,
        queued: tuple[str, str, str] | None = None,
    ) -> None:
        """Apply due steps, match, persist what changed, publish."""
        now = max(self.now_ms(), pool.clock_ms)
        routed = self.routed.setdefault(pool_id, {})
        stepped: list[str] = []
        heap = self.step_heap.setdefault(pool_id, [])
        while due_steps and heap and heap[0][0] <= now:  # only the entries with a step due
            _, iid = heapq.heappop(heap)
            entry = routed.get(iid)
            if entry is None or (iid not in pool.waiting and iid not in pool.offered):
                continue  # gone: a stale heap entry
            retargeted = m.retarget(pool, iid, self._target(entry, now))
            if retargeted is not pool:
                pool = retargeted
                stepped.append(iid)
            self._push_step(pool_id, iid, entry, now)
        pool, offers = m.match(pool, now, self.strategies, self.offer_timeout_ms)
        pool = pool.model_copy(update={"clock_ms": max(pool.clock_ms, now)})
        decisions.extend(offers)
        self.pools[pool_id] = pool
        left = {d.interaction_id for d in decisions if isinstance(d, m.Assignment | m.Dequeued)}
        gone = [
            iid
            for iid in sorted(left)
            if iid in routed and iid not in pool.waiting and iid not in pool.offered
        ]
        for iid in gone:
            del routed[iid]
        self._persist(pool_id, before, pool, gone)
        moment = outputs.ms_time(now)
        for decision in decisions:
            await self._publish(pool_id, decision)
        for iid in stepped:
            current = pool.waiting.get(iid) or pool.offered.get(iid)
            if current is not None:
                await self._decide(
                    pool_id,
                    iid,
                    current.target,
                    None,
                    "step",
                    moment,
                    "queued",
                    current.enqueued_ms,
                )
        await self._positions(pool_id, pool, moment, queued)

    async def _positions(
        self,
        pool_id: str,
        pool: m.Pool,
        moment: datetime,
        queued: tuple[str, str, str] | None,
    ) -> None:
        """The decision of an interaction just queued (with its position), then queue
        positions and estimated waits on change, at most once per interaction per
        ``CIM_ROUTING_POSITION_INTERVAL_SECONDS`` of event time (a change held back goes out
        with a later recompute, which the timer triggers when nothing else happens)."""
        now = int(moment.timestamp() * 1000)
        sent = self.positions.setdefault(pool_id, {})
        if queued is not None:
            iid, reason, tag = queued
            entry = pool.waiting.get(iid) or pool.offered.get(iid)
            if entry is not None:
                figures = m.position_and_wait(pool, iid, now, slots=self._slots(pool_id, now))
                await self._decide(
                    pool_id,
                    iid,
                    entry.target,
                    figures,
                    reason,
                    moment,
                    "queued",
                    entry.enqueued_ms,
                    tag=tag,
                    offering=self.offering.pop(iid, None),
                )
                if figures is not None:
                    sent[iid] = (figures[0], now)
        self.positions_dirty.add(pool_id)
        backlog = self.position_backlog.setdefault(pool_id, deque())
        if not backlog:
            if now < self.positions_due.get(pool_id, 0):
                return
            self.positions_dirty.discard(pool_id)
            interval = self.position_interval_ms
            self.positions_due[pool_id] = now + interval
            current = {i: (n, None) for i, n in m.queue_positions(pool).items()}
            due, self.positions[pool_id], held = position_updates(current, sent, now, interval)
            sent = self.positions[pool_id]
            if held:
                self.positions_dirty.add(pool_id)  # a later recompute sends what was held back
            backlog.extend(due)
        # a bounded slice per record: a recompute that moved every position must not hold up
        # the decisions behind it; the rest follows with the next records or ticks
        slots = self._slots(pool_id, now)
        for _ in range(min(len(backlog), self.position_batch)):
            iid = backlog.popleft()
            entry = pool.waiting.get(iid)
            figures = m.position_and_wait(pool, iid, now, slots=slots)
            if entry is None or figures is None:
                continue
            sent[iid] = (figures[0], now)
            await self._decide(
                pool_id,
                iid,
                entry.target,
                figures,
                "position",
                moment,
                "position",
                entry.enqueued_ms,
            )
        if backlog:
            self.positions_dirty.add(pool_id)

    def _slots(self, pool_id: str, now_ms: int) -> dict[Any, int]:
        """The serving capacity per need behind estimated waits, counted again after at most
        ``SLOTS_MAX_AGE_MS`` of event time (a count walks every agent with the skills)."""
        counted = self.slots.get(pool_id)
        if counted is None or now_ms - counted[0] >= SLOTS_MAX_AGE_MS or now_ms < counted[0]:
            counted = self.slots[pool_id] = (now_ms, {})
        return counted[1]

    async def _decide(
        self,
        pool_id: str,
        iid: str,
        target: Target,
        figures: tuple[int, int | None] | None,
        reason: str,
        moment: datetime,
        kind: str,
        enqueued_ms: int,
        *,
        tag: str = "",
        offering: tuple[tuple[str, ...], str | None] | None = None,
    ) -> None:
        position, wait = figures if figures is not None else (None, None)
        if kind == "position":
            did = f"{iid}|{enqueued_ms}|position|{position}|{int(moment.timestamp() * 1000)}"
        else:
            did = f"{iid}|{enqueued_ms}|{kind}|{reason}|{target.step}"
            if tag:
                did += f"|{tag}"
        decision = RoutingDecision(
            id=did,
            kind=kind,
            interaction_id=iid,
            routing_pool=pool_id,
            queue=target.queues[0],
            queues=target.queues,
            priority=target.priority,
            skills=target.required,
            rule=target.rule,
            step=target.step,
            position=position,
            estimated_wait_ms=wait,
            reason=reason,
            at=moment,
            alternatives=offering[0] if offering else (),
            announcement=offering[1] if offering else None,
        )
        topic = self.position_updates if kind == "position" else self.decisions
        await topic.send(key=stage_key(iid), value=decision)

    def _count(self, pool_id: str, decision: m.Decision) -> None:
        """Per-queue statistics of a decision: offers by outcome, answers within the
        service-level target, abandonments."""
        metrics = self.metrics
        if isinstance(decision, m.Offer):
            metrics.routing_offers.labels(pool=pool_id, outcome="offered").inc()
        elif isinstance(decision, m.OfferEnded):
            metrics.routing_offers.labels(pool=pool_id, outcome=decision.reason).inc()
        elif isinstance(decision, m.Assignment):
            metrics.routing_offers.labels(pool=pool_id, outcome="accepted").inc()
            queue = decision.queue
            spec = self.policy.queues.get(queue)
            target_ms = (spec.service_level.within_seconds if spec else 20.0) * 1000
            within = decision.accepted_ms - decision.enqueued_ms <= target_ms
            metrics.routing_answered.labels(
                pool=pool_id, queue=queue, within_target="yes" if within else "no"
            ).inc()
            met, total = self.answered.get((pool_id, queue), (0, 0))
            met, total = met + within, total + 1
            self.answered[(pool_id, queue)] = (met, total)
            metrics.routing_service_level.labels(pool=pool_id, queue=queue).set(met / total)
        elif isinstance(decision, m.Dequeued) and decision.reason == "abandoned":
            metrics.routing_abandoned.labels(pool=pool_id, queue=decision.queue).inc()

    def refresh_statistics(self, now_ms: int) -> None:
        """Gauges of every pool on this worker: waiting and oldest wait per queue, agents by
        presence (from the timer: a scan of the pool, kept off the record path)."""
        metrics = self.metrics
        seen: set[tuple[str, str]] = set()
        presences: set[tuple[str, str]] = set()
        for pool_id, pool in list(self.pools.items()):
            for queue, stats in m.queue_stats(pool, now_ms).items():
                seen.add((pool_id, queue))
                metrics.routing_waiting.labels(pool=pool_id, queue=queue).set(stats.waiting)
                metrics.routing_oldest_wait.labels(pool=pool_id, queue=queue).set(
                    stats.oldest_wait_ms / 1000
                )
            counts: dict[str, int] = {}
            for a in pool.agents.values():
                if a.presence != "offline":
                    counts[a.presence] = counts.get(a.presence, 0) + 1
            for presence, n in counts.items():
                presences.add((pool_id, presence))
                metrics.routing_agents.labels(pool=pool_id, presence=presence).set(n)
        for pool_id, queue in self.stat_labels - seen:
            metrics.routing_waiting.labels(pool=pool_id, queue=queue).set(0)
            metrics.routing_oldest_wait.labels(pool=pool_id, queue=queue).set(0)
        for pool_id, presence in self.presence_labels - presences:
            metrics.routing_agents.labels(pool=pool_id, presence=presence).set(0)
        self.stat_labels |= seen
        self.presence_labels |= presences

    async def _publish(self, pool_id: str, decision: m.Decision) -> None:
        self._count(pool_id, decision)
        work = outputs.work_assignment(pool_id, decision)
        if work is not None:
            await self.assignments.send(key=stage_key(work.agent_id), value=work)
        elif isinstance(decision, m.Dequeued):
            self.positions.get(pool_id, {}).pop(decision.interaction_id, None)
            await self.decisions.send(
                key=stage_key(decision.interaction_id), value=outputs.dequeued(pool_id, decision)
            )

    # ---- persistence: one row per entity ----

    def _persist(self, pool_id: str, before: m.Pool, after: m.Pool, touched: list[str]) -> None:
        routed = self.routed.get(pool_id, {})
        for key, row in changed_rows(pool_id, before, after, routed, touched).items():
            if row is not None:
                self.table[key] = row
            elif key in self.table:
                del self.table[key]

    async def _rebuild(self) -> None:
        self.pools, self.routed = pools_from_rows(self.table.items())
        # every routed entry is re-checked at the next step of its pool (a step may have come
        # due while the partition moved), then follows its own next step
        self.step_heap = {p: [(0, iid) for iid in sorted(r)] for p, r in self.routed.items()}
        self.positions.clear()
        self.positions_due.clear()
        self.position_backlog.clear()
        self.positions_dirty = set(self.pools)
        self.pending_ticks.clear()

    # ---- durable timers ----

    def due_ms(self, pool_id: str, pool: m.Pool) -> int | None:
        times = [t for t in (m.next_deadline_ms(pool),) if t is not None]
        if self.position_backlog.get(pool_id):
            times.append(0)  # position updates left to send
        elif pool_id in self.positions_dirty and pool.waiting:
            times.append(self.positions_due.get(pool_id, 0))
        heap = self.step_heap.get(pool_id)
        if heap:
            times.append(heap[0][0])  # may be stale: the tick then changes nothing
        return min(times) if times else None

    async def _sweep(self) -> None:
        """Send a tick to each pool that time alone changes now (through Kafka: timers
        cannot write tables); the agent re-checks."""
        if not may_run_timer(self.app):
            return
        now, moment = self.now_ms(), self.clock.now()
        self.refresh_statistics(now)
        for pool_id, pool in list(self.pools.items()):
            if pool_id in self.pending_ticks:
                continue
            due = self.due_ms(pool_id, pool)
            if due is not None and due <= now:
                self.pending_ticks.add(pool_id)
                await self.commands.send(
                    key=stage_key(pool_id),
                    value=RoutingCommand(command="tick", routing_pool=pool_id, time=moment),
                )
