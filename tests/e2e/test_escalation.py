"""The escalation stage through Kafka: channel, profile and business events in, escalation
records on ``cim.escalations.v1`` and ``escalate`` routing requests out. Event time drives the
timers (``CIM_CLOCK=event``): a later event of another interaction moves the clock."""

from __future__ import annotations

import asyncio
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import Record, WorkerProcess, cloud_event, read_topic
from tests.conftest import WorkerFactory
from tests.e2e.helpers import S, T, channel, clock, iso, read, send, start_worker
from tests.tmf import TMF621, assert_valid
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka

POLICY = """
version: e2e
warningLeadSeconds: 5
calendars:
  office:
    timeZone: UTC
    hours: {thu: ["09:00-10:00"], fri: ["09:00-10:00"]}
answerTargets: [{queue: "*", seconds: 60}]
answerLevels:
  - {level: L1, priorityBoost: 7}
  - {level: L2, afterSeconds: 30}
email:
  calendar: office
  firstResponseSeconds: 600
  nextResponseSeconds: 1200
  levels: [{level: L2}]
callback:
  levels: [{level: L2}]
rules:
  - name: vip-waiting
    when: waiting and context.tier == "gold"
    afterSeconds: 20
    levels: [{level: L2}]
  - name: complaint
    when: intent == "complaint"
    closes: end
    levels: [{level: L3, severity: major, ticketType: complaint}]
  - name: second-abandonment
    when: abandoned and context.abandoned24h >= 1
    closes: never
    levels: [{level: L2}]
  - name: overdue-calling
    when: moments has "payment-overdue" and channel == "voice" and waiting
    levels: [{level: L1, priorityBoost: 5}]
"""


def start(worker_factory: WorkerFactory, tmp_path: Path) -> WorkerProcess:
    return start_worker(
        worker_factory,
        tmp_path,
        {"escalation": POLICY},
        cim_escalation_case_retention_seconds="3600",
    )


# this module waits up to 60 s, polled every 0.5 s
until = partial(wait_until, timeout=60.0, interval=0.5)


def summary(rows: list[dict[str, Any]], iid: str) -> set[tuple[str, str, str | None]]:
    return {(r["kind"], r["cause"], r.get("level")) for r in rows if r["interactionId"] == iid}


def test_a_waiting_vip_complaint_with_an_overdue_bill_escalates_at_every_level(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker = start(worker_factory, tmp_path)
    profile = cloud_event(
        "cim.customer.profile.updated", {"partyId": "ada", "tier": "gold"}, "p-ada", iso(T - 9 * S)
    )
    send(kafka_bootstrap, topics, "customer-profile", [(b"ada", profile, [])])
    overdue = cloud_event(
        "cim.business.payment.overdue",
        {"partyId": "ada", "billId": "b1", "daysOverdue": 5},
        "b-ada-1",
        iso(T - 8 * S),
    )
    send(kafka_bootstrap, topics, "business-events", [(b"ada", overdue, [])])
    until(lambda: b"payment-overdue" in worker.get("/customerContext/ada")[1])
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("voice.offered", "call-1", T + S, partyId="ada", intent="complaint"),
            channel("interaction.queued", "call-1", T + 2 * S, queue="ivr-main"),
        ],
    )
    clock(kafka_bootstrap, topics, T + 100 * S)
    expected = {
        ("escalated", "complaint", "L3"),
        ("escalated", "overdue-calling", "L1"),
        ("escalated", "vip-waiting", "L2"),
        ("warning", "answer-time", None),
        ("escalated", "answer-time", "L1"),
        ("escalated", "answer-time", "L2"),
    }
    until(lambda: expected <= summary(read(kafka_bootstrap, topics, "escalations", 6), "call-1"))
    rows = [
        r for r in read(kafka_bootstrap, topics, "escalations", 6) if r["interactionId"] == "call-1"
    ]
    assert len({r["id"] for r in rows}) == len(rows)
    by = {(r["kind"], r["cause"], r.get("level")): r for r in rows}
    assert by[("escalated", "answer-time", "L1")]["at"].startswith(iso(T + 62 * S)[:19])
    assert by[("warning", "answer-time", None)]["at"].startswith(iso(T + 57 * S)[:19])
    assert by[("escalated", "vip-waiting", "L2")]["at"].startswith(iso(T + 22 * S)[:19])
    ticket = by[("escalated", "complaint", "L3")]["troubleTicket"]
    assert ticket["relatedEntity"][0]["entity"]["id"] == "call-1"
    assert ticket["relatedParty"][0]["partyOrPartyRole"]["id"] == "ada"
    assert_valid(TMF621, "TroubleTicket_FVO", ticket)
    # L1 asks the routing stage to raise the priority of the waiting call.
    boosts = {
        (r["reason"], r["priorityBoost"])
        for r in read(kafka_bootstrap, topics, "routing-requests", 3)
        if r["command"] == "escalate" and r["interactionId"] == "call-1"
    }
    assert boosts == {("answer-time", 7), ("overdue-calling", 5)}

    # Answered: every waiting cause closes; the complaint stays open until the call ends.
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("interaction.agent.offered", "call-1", T + 101 * S, agentId="a1"),
            channel("interaction.answered", "call-1", T + 102 * S, agentId="a1"),
        ],
    )
    closes = {
        ("answer-time", "L1"),
        ("answer-time", "L2"),
        ("vip-waiting", "L2"),
        ("overdue-calling", "L1"),
    }

    def closed() -> set[tuple[str, str]]:
        rows = read(kafka_bootstrap, topics, "escalations", 10)
        return {(r["cause"], r["level"]) for r in rows if r["kind"] == "closed"}

    until(lambda: closed() == closes)
    rows = read(kafka_bootstrap, topics, "escalations", 10)
    assert {r["reason"] for r in rows if r["kind"] == "closed"} == {"answered"}

    # The end of the call never arrives: an hour of event time after the case's last activity
    # (CIM_ESCALATION_CASE_RETENTION_SECONDS here) the stage deletes it, closing the complaint
    # escalation still open, and ada's marketing cool-down ends with it.
    clock(kafka_bootstrap, topics, T + 3703 * S)
    complaint = by[("escalated", "complaint", "L3")]["id"]

    def expired() -> list[Any]:
        rows = read(kafka_bootstrap, topics, "escalations", 11, 0.3)
        return [r for r in rows if r.get("escalationId") == complaint]

    until(lambda: bool(expired()))
    assert [(r["kind"], r["reason"]) for r in expired()] == [("closed", "expired")]
    signals = read(kafka_bootstrap, topics, "outbound-commands", 1, 0.3)
    assert {"partyId": "ada", "escalationId": complaint, "open": False}.items() <= next(
        c for c in signals if c["escalationId"] == complaint and not c["open"]
    ).items()


def test_email_response_promised_callback_and_second_abandonment(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker = start(worker_factory, tmp_path)
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("email.received", "mail-1", T, intent="billing", messageId="m1"),
            channel("voice.offered", "b1", T + S, partyId="bob"),
            channel("interaction.queued", "b1", T + 2 * S, queue="ivr-main"),
            channel("interaction.abandoned", "b1", T + 3 * S),
        ],
    )
    bob = {
        "partyId": "bob",
        "emails": ["bob@example.com"],
        "consents": [{"channel": "email", "purpose": "marketing", "granted": True}],
    }
    profile = cloud_event("cim.customer.profile.updated", bob, "p-bob", iso(T))
    send(kafka_bootstrap, topics, "customer-profile", [(b"bob", profile, [])])
    until(lambda: b'"abandoned":1' in worker.get("/customerContext/bob")[1])
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("voice.offered", "b2", T + 10 * S, partyId="bob"),
            channel("interaction.queued", "b2", T + 11 * S, queue="ivr-main"),
            channel("interaction.abandoned", "b2", T + 12 * S),
        ],
    )
    promise = {
        "command": "promise-callback",
        "commandId": "cb-1",
        "interactionId": "b2",
        "time": iso(T + 13 * S),
        "due": iso(T + 300 * S),
    }
    send(kafka_bootstrap, topics, "escalation-commands", [(b'"b2"', orjson.dumps(promise), [])])
    clock(kafka_bootstrap, topics, T + 700 * S)
    until(
        lambda: (
            ("escalated", "email-first-response", "L2")
            in summary(read(kafka_bootstrap, topics, "escalations", 3), "mail-1")
        )
    )
    rows = read(kafka_bootstrap, topics, "escalations", 3)
    assert ("escalated", "second-abandonment", "L2") in summary(rows, "b2")
    assert ("escalated", "callback", "L2") in summary(rows, "b2")
    assert not summary(rows, "b1") & {("escalated", "second-abandonment", "L2")}
    mail = next(r for r in rows if r["interactionId"] == "mail-1" and r["kind"] == "escalated")
    assert mail["at"].startswith(iso(T + 600 * S)[:19])

    # The unkept callback is an open escalation of bob: the stage tells the outbound stage,
    # and marketing to bob cools down until the callback is done (the second abandonment
    # never closes, so it does not cool bob down).
    callback = next(r for r in rows if r["cause"] == "callback" and r["kind"] == "escalated")

    def signal(is_open: bool) -> dict[str, Any] | None:
        commands = read(kafka_bootstrap, topics, "outbound-commands", 1, 0.3)
        mine = (c for c in commands if c.get("escalationId") == callback["id"])
        return next((c for c in mine if c["open"] is is_open), None)

    def decision(rid: str) -> dict[str, Any] | None:
        rows = read(kafka_bootstrap, topics, "outbound-decisions", 1, 0.3)
        return next((d for d in rows if d["requestId"] == rid), None)

    def marketing(rid: str, at_ms: int) -> dict[str, Any]:
        data = {"partyId": "bob", "requestId": rid, "purpose": "marketing", "template": rid}
        event = cloud_event("cim.outbound.requested", data, f"r-{rid}", iso(at_ms))
        send(kafka_bootstrap, topics, "outbound-requests", [(b"bob", event, [])])
        until(lambda: decision(rid) is not None)
        return decision(rid) or {}

    until(lambda: signal(True) is not None)
    assert (signal(True) or {})["partyId"] == "bob"
    cooled = marketing("m-bob-1", T + 701 * S)
    assert (cooled["outcome"], cooled["reasons"]) == ("suppressed", ["cool-down:escalation"])
    done = {**promise, "command": "callback-done", "commandId": "cb-1-done"}
    done["time"] = iso(T + 702 * S)
    send(kafka_bootstrap, topics, "escalation-commands", [(b'"b2"', orjson.dumps(done), [])])
    until(lambda: signal(False) is not None)
    assert marketing("m-bob-2", T + 703 * S)["outcome"] == "sent"


def test_a_deadline_armed_before_sigkill_fires_once_after_restart_and_redelivery(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker = start(worker_factory, tmp_path)
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("voice.offered", "k1", T + S),
            channel("interaction.queued", "k1", T + 2 * S, queue="ivr-main"),
        ],
    )
    until(
        lambda: any(
            r["interactionId"] == "k1"
            for r in read(kafka_bootstrap, topics, "routing-decisions", 1)
        )
    )
    time.sleep(3)  # past a commit of the source offsets and a changelog flush
    worker.kill()
    shutil.rmtree(worker.data_dir)  # RocksDB lost too: the case comes back from the changelog
    start(worker_factory, tmp_path)
    clock(kafka_bootstrap, topics, T + 100 * S)
    expected = {
        ("warning", "answer-time", None),
        ("escalated", "answer-time", "L1"),
        ("escalated", "answer-time", "L2"),
    }
    until(lambda: expected <= summary(read(kafka_bootstrap, topics, "escalations", 3), "k1"))
    # Redelivery: the stage's inputs for k1 arrive again; nothing fires a second time.
    events = asyncio.run(
        read_topic(kafka_bootstrap, topics["party-interaction-events"].name, 1, 2.0, 60.0)
    )
    again: list[Record] = [(r.key or b"", r.value or b"", []) for r in events if r.key == b'"k1"']
    assert again
    send(kafka_bootstrap, topics, "party-interaction-events", again)
    clock(kafka_bootstrap, topics, T + 200 * S)
    clock(kafka_bootstrap, topics, T + 300 * S)
    time.sleep(5)
    rows = [
        r for r in read(kafka_bootstrap, topics, "escalations", 3) if r["interactionId"] == "k1"
    ]
    assert sorted((r["kind"], r.get("level") or "") for r in rows) == [
        ("escalated", "L1"),
        ("escalated", "L2"),
        ("warning", ""),
    ]
