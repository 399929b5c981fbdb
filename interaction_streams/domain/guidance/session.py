"""One interaction's guidance session: the flow its agent follows, the steps done, mandatory
steps passed over, and the recommendation requests with their answers.

Every function is pure: ``(session, ..., at_ms) -> (session, Out)``. Outputs carry ids derived
from the interaction, the agent, the step or the request, and a repeated input (a
redelivery) changes nothing and sends nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.commands import InteractionCommand
from interaction_streams.contract.guidance import (
    AgentGuidance,
    GuidedStep,
    RecommendationMoment,
    RecommendationRequest,
    RecommendationResponse,
    RecommendedAction,
)
from interaction_streams.domain.guidance.policy import GuidancePolicy

_IDS = uuid.UUID("a3c1f0de-3f57-4a55-8f8e-51d1b8f2c7a4")
ANSWERED_TYPE = "cim.interaction.recommendation.answered"
NOTE_TYPE = "cim.interaction.note.added"


def gid(*parts: object) -> str:
    return str(uuid.uuid5(_IDS, "|".join(str(p) for p in parts)))


def ms_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class Pending(WireModel):
    id: str
    moment: RecommendationMoment
    due_ms: int
    done: bool = False


class Session(WireModel):
    """The guidance table value, keyed by interaction id."""

    interaction_id: str
    agent_id: str | None = None
    flow_id: str | None = None
    steps: tuple[GuidedStep, ...] = ()
    done: tuple[str, ...] = ()
    flagged: tuple[str, ...] = ()
    ended: bool = False
    requests: tuple[Pending, ...] = ()
    recommendation_id: str | None = None
    source: str | None = None
    items: tuple[RecommendedAction, ...] = ()
    recorded: tuple[str, ...] = ()  # "<recommendation id>|<action id>" answers recorded


@dataclass
class Out:
    guidance: list[AgentGuidance] = field(default_factory=list)
    requests: list[RecommendationRequest] = field(default_factory=list)
    commands: list[InteractionCommand] = field(default_factory=list)


def on_assign(
    s: Session, policy: GuidancePolicy, facts: dict[str, Any], agent_id: str, at_ms: int
) -> tuple[Session, Out]:
    """An agent was assigned: send the flow for the context, ask for recommendations."""
    out = Out()
    if s.agent_id == agent_id:
        return s, out  # already guided (a redelivered assignment)
    flow = policy.flow_for(facts)
    steps = flow.steps_for(facts) if flow is not None else ()
    s = s.model_copy(
        update={
            "agent_id": agent_id,
            "flow_id": flow.id if flow else None,
            "steps": steps,
            "done": (),
            "flagged": (),
        }
    )
    if flow is not None:
        out.guidance.append(
            AgentGuidance(
                id=gid(s.interaction_id, agent_id, "flow", flow.id),
                kind="flow",
                agent_id=agent_id,
                interaction_id=s.interaction_id,
                flow_id=flow.id,
                steps=steps,
                next_step=steps[0].id if steps else None,
                at=ms_time(at_ms),
            )
        )
    if s.items:  # answered before the agent came (IVR completion)
        out.guidance.append(_recommendation(s, at_ms))
    s, asked = ask(s, policy, facts, "assignment", at_ms)
    out.requests.extend(asked.requests)
    return s, out


def ask(
    s: Session,
    policy: GuidancePolicy,
    facts: dict[str, Any],
    moment: RecommendationMoment,
    at_ms: int,
) -> tuple[Session, Out]:
    """A recommendation request at ``moment``, once per moment (and agent)."""
    out = Out()
    if moment not in policy.recommendations.at:
        return s, out
    rid = gid(s.interaction_id, moment, s.agent_id or "")
    if any(p.id == rid for p in s.requests):
        return s, out
    due = at_ms + int(policy.recommendations.timeout_seconds * 1000)
    request = RecommendationRequest(
        id=rid,
        interaction_id=s.interaction_id,
        moment=moment,
        party_id=facts.get("party.id"),
        agent_id=s.agent_id,
        facts={k: v for k, v in facts.items() if v is not None and k != "party.id"},
        requested_at=ms_time(at_ms),
        answer_by=ms_time(due),
    )
    out.requests.append(request)
    pending = Pending(id=rid, moment=moment, due_ms=due)
    return s.model_copy(update={"requests": (*s.requests, pending)}), out


def on_response(s: Session, response: RecommendationResponse, at_ms: int) -> tuple[Session, Out]:
    """The external recommender answered: joined if the request still waits for it."""
    pending = next((p for p in s.requests if p.id == response.request_id), None)
    if pending is None or pending.done:
        return s, Out()  # unknown, late (the built-in rules answered) or a duplicate
    items = tuple(sorted(response.items, key=lambda i: -i.score))
    return _answered(s, pending, items, "external", at_ms)


def on_tick(
    s: Session, policy: GuidancePolicy, facts: dict[str, Any], now_ms: int
) -> tuple[Session, Out]:
    """Requests past their time-out are answered by the built-in rules."""
    out = Out()
    for pending in s.requests:
        if pending.done or pending.due_ms > now_ms:
            continue
        items = tuple(
            RecommendedAction(
                id=rule.action, action=rule.action, description=rule.description, score=rule.score
            )
            for rule in policy.recommendations.fallback
            if rule.expression.evaluate(facts)
        )
        s, more = _answered(
            s, pending, tuple(sorted(items, key=lambda i: -i.score)), "builtin", pending.due_ms
        )
        out.guidance.extend(more.guidance)
    return s, out


def _answered(
    s: Session, pending: Pending, items: tuple[RecommendedAction, ...], source: str, at_ms: int
) -> tuple[Session, Out]:
    requests = tuple(
        p.model_copy(update={"done": True}) if p.id == pending.id else p for p in s.requests
    )
    s = s.model_copy(
        update={
            "requests": requests,
            "recommendation_id": pending.id,
            "source": source,
            "items": items,
        }
    )
    out = Out()
    if s.agent_id is not None and items:
        out.guidance.append(_recommendation(s, at_ms))
    return s, out


def _recommendation(s: Session, at_ms: int) -> AgentGuidance:
    assert s.agent_id is not None
    return AgentGuidance(
        id=gid(s.interaction_id, s.agent_id, "recommendation", s.recommendation_id),
        kind="recommendation",
        agent_id=s.agent_id,
        interaction_id=s.interaction_id,
        flow_id=s.flow_id,
        recommendation_id=s.recommendation_id,
        source="external" if s.source == "external" else "builtin",
        items=s.items,
        at=ms_time(at_ms),
    )


def on_step(s: Session, flow_id: str, step_id: str, at_ms: int) -> tuple[Session, Out]:
    """The agent completed a step: progress, and any mandatory step before it passed over."""
    ids = [step.id for step in s.steps]
    if s.agent_id is None or flow_id != s.flow_id or step_id not in ids or step_id in s.done:
        return s, Out()
    done = (*s.done, step_id)
    before = s.steps[: ids.index(step_id)]
    s = s.model_copy(update={"done": done})
    out = Out()
    upcoming = next((step.id for step in s.steps if step.id not in done), None)
    out.guidance.append(
        AgentGuidance(
            id=gid(s.interaction_id, s.agent_id, "progress", step_id),
            kind="progress",
            agent_id=s.agent_id,
            interaction_id=s.interaction_id,
            flow_id=s.flow_id,
            done=done,
            next_step=upcoming,
            at=ms_time(at_ms),
        )
    )
    s, flagged = _flag(s, [st.id for st in before if st.mandatory and st.id not in done], at_ms)
    out.guidance.extend(flagged.guidance)
    out.commands.extend(flagged.commands)
    return s, out


def on_end(s: Session, at_ms: int) -> tuple[Session, Out]:
    """The conversation ended (wrap-up or closed): mandatory steps never done are flagged."""
    if s.ended:
        return s, Out()
    s = s.model_copy(update={"ended": True})
    return _flag(s, [st.id for st in s.steps if st.mandatory and st.id not in s.done], at_ms)


def _flag(s: Session, missing: list[str], at_ms: int) -> tuple[Session, Out]:
    new = [m for m in missing if m not in s.flagged]
    out = Out()
    if not new or s.agent_id is None:
        return s, out
    s = s.model_copy(update={"flagged": (*s.flagged, *new)})
    out.guidance.append(
        AgentGuidance(
            id=gid(s.interaction_id, s.agent_id, "skipped", *new),
            kind="skipped",
            agent_id=s.agent_id,
            interaction_id=s.interaction_id,
            flow_id=s.flow_id,
            skipped=tuple(new),
            at=ms_time(at_ms),
        )
    )
    text = f"Mandatory guidance step(s) skipped in flow {s.flow_id}: {', '.join(new)}"
    out.commands.append(
        InteractionCommand(
            command="apply",
            command_id=gid(s.interaction_id, "skipped", *new),
            interaction_id=s.interaction_id,
            time=ms_time(at_ms),
            type=NOTE_TYPE,
            data={"interactionId": s.interaction_id, "text": text, "authorId": "guidance"},
        )
    )
    return s, out


def on_answer(
    s: Session,
    recommendation_id: str,
    action_id: str,
    accepted: bool,
    agent_id: str,
    at_ms: int,
) -> tuple[Session, Out]:
    """The agent accepted or declined a recommended action: an interaction item, once."""
    key = f"{recommendation_id}|{action_id}"
    if key in s.recorded:
        return s, Out()
    s = s.model_copy(update={"recorded": (*s.recorded, key)})
    out = Out()
    out.commands.append(
        InteractionCommand(
            command="apply",
            command_id=gid(s.interaction_id, "answer", key),
            interaction_id=s.interaction_id,
            time=ms_time(at_ms),
            type=ANSWERED_TYPE,
            data={
                "interactionId": s.interaction_id,
                "recommendationId": recommendation_id,
                "actionId": action_id,
                "answer": "accepted" if accepted else "declined",
                "agentId": agent_id,
                "source": s.source if recommendation_id == s.recommendation_id else None,
            },
        )
    )
    return s, out


def next_due_ms(s: Session) -> int | None:
    times = [p.due_ms for p in s.requests if not p.done]
    return min(times) if times else None
