"""Guidance and recommendations through Kafka: an assigned agent gets the flow for the
customer's context, an external recommender's answer to the IVR-completion request is joined,
the assignment request times out and the built-in rules answer, a skipped mandatory step is
noted on the interaction and an accepted recommendation becomes an interaction item."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import Record, WorkerProcess, cloud_event
from tests.conftest import WorkerFactory
from tests.e2e.helpers import S, T, channel, clock, iso, read, send, start_worker
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka

TMF683 = "/tmf-api/partyInteractionManagement/v5/partyInteraction"
ROUTING = """
version: g1
queues:
  general:
    channel: voice
rules: []
default:
  queue: general
"""
GUIDANCE = """
version: g1
flows:
  - id: billing
    when: intent == "billing"
    steps:
      - {id: verify-identity, title: Verify identity, mandatory: true}
      - id: explain-overdue
        title: Explain the overdue balance
        when: moments has "payment-overdue"
      - {id: review-bill, title: Review the bill}
recommendations:
  at: [assignment, ivr-completed]
  timeoutSeconds: 3
  fallback:
    - {when: 'moments has "payment-overdue"', action: offer-payment-plan, score: 0.8}
"""


def agent(kind: str, agent_id: str, at_ms: int, **data: Any) -> Record:
    body = {"agentId": agent_id, "routingPool": "p1", **data}
    event = cloud_event(f"cim.agent.{kind}", body, f"a-{agent_id}-{kind}-{at_ms}", iso(at_ms))
    return orjson.dumps("p1"), event, []


def start(worker_factory: WorkerFactory, tmp_path: Path) -> WorkerProcess:
    return start_worker(worker_factory, tmp_path, {"routing": ROUTING, "guidance": GUIDANCE})


# this module waits up to 60 s, polled every 0.5 s (as test_escalation)
until = partial(wait_until, timeout=60.0, interval=0.5)


def test_flow_recommendations_skipped_step_and_accepted_action(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker = start(worker_factory, tmp_path)
    profile = cloud_event(
        "cim.customer.profile.updated", {"partyId": "ada"}, "p-ada", iso(T - 9 * S)
    )
    overdue = cloud_event(
        "cim.business.payment.overdue", {"partyId": "ada", "billId": "b1"}, "b-1", iso(T - 8 * S)
    )
    send(kafka_bootstrap, topics, "customer-profile", [(b"ada", profile, [])])
    send(kafka_bootstrap, topics, "business-events", [(b"ada", overdue, [])])
    until(lambda: b"payment-overdue" in worker.get("/customerContext/ada")[1])
    send(kafka_bootstrap, topics, "agent-events", [agent("logged-in", "a1", T)])
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("voice.offered", "call-g", T + S, partyId="ada", intent="billing"),
            channel("voice.ivr.started", "call-g", T + 2 * S),
            channel("voice.ivr.completed", "call-g", T + 3 * S, selections={"menu": "1"}),
        ],
    )
    # The IVR completion asks the recommender; it answers in time.
    [ivr] = read(kafka_bootstrap, topics, "recommendation-requests", 1)
    assert ivr["moment"] == "ivr-completed" and ivr["interactionId"] == "call-g"
    response = {
        "requestId": ivr["id"],
        "interactionId": "call-g",
        "recommender": "nba",
        "items": [{"id": "r-1", "action": "explain-late-fee", "score": 0.7}],
        "time": iso(T + 4 * S),
    }
    send(
        kafka_bootstrap,
        topics,
        "recommendation-responses",
        [(orjson.dumps("call-g"), orjson.dumps(response), [])],
    )
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [channel("interaction.queued", "call-g", T + 5 * S, queue="general")],
    )
    offers = read(kafka_bootstrap, topics, "work-assignments", 1)
    offer = next(o for o in offers if o["kind"] == "offer")
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent(
                "offer.accepted", "a1", T + 6 * S, offerId=offer["offerId"], interactionId="call-g"
            )
        ],
    )
    # Assigned: the flow for a billing call with an overdue bill, and the IVR answer.
    until(lambda: len(read(kafka_bootstrap, topics, "agent-guidance", 2)) >= 2)
    guidance = read(kafka_bootstrap, topics, "agent-guidance", 2)
    flow = next(x for x in guidance if x["kind"] == "flow")
    assert flow["agentId"] == "a1" and flow["flowId"] == "billing"
    assert [s["id"] for s in flow["steps"]] == ["verify-identity", "explain-overdue", "review-bill"]
    external = next(x for x in guidance if x["kind"] == "recommendation")
    assert external["source"] == "external"
    assert [i["action"] for i in external["items"]] == ["explain-late-fee"]

    # The assignment request gets no answer: after the time-out the built-in rules answer.
    requests = read(kafka_bootstrap, topics, "recommendation-requests", 2)
    assert {r["moment"] for r in requests} == {"ivr-completed", "assignment"}
    clock(kafka_bootstrap, topics, T + 20 * S)

    def builtin() -> list[dict[str, Any]]:
        rows = read(kafka_bootstrap, topics, "agent-guidance", 3)
        return [x for x in rows if x.get("source") == "builtin"]

    until(lambda: bool(builtin()))
    [fallback] = builtin()
    assert [i["action"] for i in fallback["items"]] == ["offer-payment-plan"]

    # The agent reviews the bill before verifying identity, then accepts the payment plan.
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent(
                "guidance.step.completed",
                "a1",
                T + 21 * S,
                interactionId="call-g",
                flowId="billing",
                stepId="review-bill",
            ),
            agent(
                "recommendation.accepted",
                "a1",
                T + 22 * S,
                interactionId="call-g",
                recommendationId=fallback["recommendationId"],
                actionId="offer-payment-plan",
            ),
        ],
    )
    until(
        lambda: any(
            x["kind"] == "skipped" for x in read(kafka_bootstrap, topics, "agent-guidance", 5)
        )
    )
    skipped = next(
        x for x in read(kafka_bootstrap, topics, "agent-guidance", 5) if x["kind"] == "skipped"
    )
    assert skipped["skipped"] == ["verify-identity"]

    def interaction() -> dict[str, Any]:
        status, body = worker.get(f"{TMF683}/call-g")
        return orjson.loads(body) if status == 200 else {}

    def recorded() -> bool:
        found = interaction()
        items = [
            i
            for i in found.get("interactionItem", [])
            if i["interactionItemType"] == "recommendation"
        ]
        notes = [n["text"] for n in found.get("note", [])]
        return bool(items) and any("verify-identity" in n for n in notes)

    until(recorded)
    item = next(
        i for i in interaction()["interactionItem"] if i["interactionItemType"] == "recommendation"
    )
    assert item["reason"] == "accepted"
    assert item["value"]["actionId"] == "offer-payment-plan"
    assert item["value"]["source"] == "builtin"
