"""Guidance and recommendations, wired into the escalation stage's agent (same key: the
interaction id, same partitions): the ``guidance`` table of sessions, the flows sent on
``cim.agent.guidance.v1`` (keyed by agent id), recommendation requests on
``cim.recommendation.requests.v1``, and interaction commands (a skipped mandatory step as a
note, an accepted or declined recommendation as an interaction item).

The escalation shell calls these methods inside its stream iteration (Faust writes tables only
there) and sends the time-out ticks of pending recommendation requests with its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust

from interaction_streams.contract.commands import InteractionCommand
from interaction_streams.contract.guidance import (
    AgentGuidance,
    RecommendationRequest,
    RecommendationResponse,
)
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.guidance import session as g
from interaction_streams.domain.guidance.policy import GuidancePolicy
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.ingest import stage_key
from interaction_streams.stream.tables import model_table
from interaction_streams.stream.wiring import model_topic

Step = Callable[[g.Session], tuple[g.Session, g.Out]]


@dataclass
class GuidanceWiring:
    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics
    policy: GuidancePolicy
    due: dict[str, int] = field(default_factory=dict)  # interaction id -> request time-out

    def __post_init__(self) -> None:
        c = self.contract
        self.guidance = model_topic(self.app, c, "agent-guidance", AgentGuidance)
        self.requests = model_topic(self.app, c, "recommendation-requests", RecommendationRequest)
        self.responses_topic = c["recommendation-responses"].name
        self.interaction_commands = model_topic(
            self.app, c, "interaction-commands", InteractionCommand
        )
        self.table = model_table(
            self.app,
            "guidance",
            g.Session,
            self.settings,
            key_type=str,
            partitions=c["escalation-commands"].partitions,
            help="the guidance session of each interaction: flow, steps done, recommendations",
        )
        self.table.on_recover(self._rebuild)

    async def assign(self, iid: str, facts: dict[str, Any], agent_id: str, at_ms: int) -> None:
        await self._apply(iid, lambda s: g.on_assign(s, self.policy, facts, agent_id, at_ms))

    async def ivr_completed(self, iid: str, facts: dict[str, Any], at_ms: int) -> None:
        await self._apply(iid, lambda s: g.ask(s, self.policy, facts, "ivr-completed", at_ms))

    async def step(self, iid: str, flow_id: str, step_id: str, at_ms: int) -> None:
        await self._apply(iid, lambda s: g.on_step(s, flow_id, step_id, at_ms), create=False)

    async def end(self, iid: str, at_ms: int) -> None:
        await self._apply(iid, lambda s: g.on_end(s, at_ms), create=False)

    async def response(self, response: RecommendationResponse, at_ms: int) -> None:
        iid = response.interaction_id
        await self._apply(iid, lambda s: g.on_response(s, response, at_ms), create=False)

    async def answer(
        self, iid: str, rec_id: str, action_id: str, accepted: bool, agent_id: str, at_ms: int
    ) -> None:
        await self._apply(
            iid, lambda s: g.on_answer(s, rec_id, action_id, accepted, agent_id, at_ms)
        )

    async def tick(self, iid: str, facts: dict[str, Any], now_ms: int) -> None:
        await self._apply(iid, lambda s: g.on_tick(s, self.policy, facts, now_ms), create=False)

    async def _apply(self, iid: str, step: Step, *, create: bool = True) -> None:
        before = self.table.get(iid)
        if before is None and not create:
            return
        session, out = step(before if before is not None else g.Session(interaction_id=iid))
        if session != before:
            self.table[iid] = session
        self._index(iid, session)
        for guidance in out.guidance:
            self.metrics.guidance.labels(guidance.kind, guidance.source or "-").inc()
            await self.guidance.send(key=stage_key(guidance.agent_id), value=guidance)
        for request in out.requests:
            self.metrics.guidance.labels("request", request.moment).inc()
            await self.requests.send(key=stage_key(iid), value=request)
        for command in out.commands:
            await self.interaction_commands.send(key=stage_key(iid), value=command)

    def _index(self, iid: str, session: g.Session) -> None:
        due = g.next_due_ms(session)
        if due is None:
            self.due.pop(iid, None)
        else:
            self.due[iid] = due

    async def _rebuild(self) -> None:
        self.due.clear()
        for iid, session in self.table.items():
            self._index(iid, session)
