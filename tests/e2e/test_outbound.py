"""The outbound stage through Kafka: profiles, outbound requests, delivery updates and moments
in; solicitation decisions, TMF681 CommunicationMessages, outbound PartyInteractions and
callback routing requests out. Event time drives the timers (``CIM_CLOCK=event``): later
events advance the clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import Record, cloud_event, produce, read_topic
from tests.conftest import WorkerFactory
from tests.tmf import TMF681, assert_valid

pytestmark = pytest.mark.kafka

T = 1_795_683_600_000  # 2026-11-26T09:00:00Z
H, DAY = 3_600_000, 86_400_000
SPRING = 1_774_735_200_000  # 2026-03-28T22:00:00Z, London changes to BST at 01:00Z on the 29th


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def profile(party: str, tz: str, *consents: str, at_ms: int = T - DAY) -> Record:
    data = {
        "partyId": party,
        "name": party.title(),
        "phones": ["+447700900123"],
        "emails": [f"{party}@example.com"],
        "timeZone": tz,
        "consents": [
            {"channel": c.split("/")[0], "purpose": c.split("/")[1], "granted": True}
            for c in consents
        ],
    }
    event = cloud_event("cim.customer.profile.updated", data, f"p-{party}-{at_ms}", iso(at_ms))
    return party.encode(), event, []


def request(party: str, rid: str, at_ms: int, purpose: str = "marketing", **extra: Any) -> Record:
    data = {"partyId": party, "requestId": rid, "purpose": purpose, "template": rid, **extra}
    return party.encode(), cloud_event("cim.outbound.requested", data, f"r-{rid}", iso(at_ms)), []


def delivery(party: str, rid: str, status: str, at_ms: int) -> Record:
    data = {"partyId": party, "requestId": rid, "status": status, "reason": "test"}
    event = cloud_event("cim.outbound.delivery.updated", data, f"d-{rid}-{status}", iso(at_ms))
    return party.encode(), event, []


def send(bootstrap: str, topics: TopicContract, topic_id: str, *records: Record) -> None:
    asyncio.run(produce(bootstrap, topics[topic_id].name, records))


def read(
    bootstrap: str, topics: TopicContract, topic_id: str, until: Callable[[list[Any]], bool]
) -> list[Any]:
    """The topic's JSON records once ``until`` holds for them (polled)."""
    deadline = time.monotonic() + 90
    while True:
        records = asyncio.run(read_topic(bootstrap, topics[topic_id].name, None, 1.0, 20))
        values = [orjson.loads(r.value) for r in records if r.value is not None]
        if until(values):
            return values
        assert time.monotonic() < deadline, values
        time.sleep(0.5)


def has(n: int, **match: Any) -> Callable[[list[Any]], bool]:
    return lambda values: len(select(values, **match)) >= n


def select(values: list[Any], **match: Any) -> list[Any]:
    return [v for v in values if all(v.get(k) == x for k, x in match.items())]


def profiles_seen(bootstrap: str, topics: TopicContract, *parties: str) -> None:
    """Wait until the customer stage published each profile (so the outbound stage, which
    reads the same stage topic, has it too before the requests that follow)."""
    read(
        bootstrap,
        topics,
        "customer-context",
        lambda values: {v["partyId"] for v in values} >= set(parties),
    )


def test_consent_quiet_hours_caps_exemptions_dedup_and_delivery_failure(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker_factory(cim_clock="event", cim_sweep_interval_seconds="1")
    send(
        kafka_bootstrap,
        topics,
        "customer-profile",
        profile("ldn", "Europe/London", "sms/marketing", "sms/alert"),
        profile("nyc", "America/New_York", "sms/marketing", "email/marketing", "sms/service"),
        profile("nocon", "Europe/London", "email/service"),
    )
    profiles_seen(kafka_bootstrap, topics, "ldn", "nyc", "nocon")
    night = T + 13 * H + 30 * 60_000  # 22:30 UTC: 22:30 in London, 17:30 in New York
    send(
        kafka_bootstrap,
        topics,
        "outbound-requests",
        request("ldn", "m-ldn", night),  # quiet hours in London
        request("ldn", "a-ldn", night, purpose="alert"),  # exempt from quiet hours
        request("nocon", "m-nocon", night),  # no consent for marketing
        request("nyc", "m1", night, preferredChannels=["sms"]),  # sent
        request("nyc", "m2", night + 1),  # the daily marketing cap
        request("nyc", "s1", night + 2, purpose="service", parameters={"o": 1}),
        request("nyc", "s2", night + 3, purpose="service", parameters={"o": 1}, template="s1"),
    )
    decisions = read(kafka_bootstrap, topics, "outbound-decisions", has(7))
    got = {d["requestId"]: d for d in decisions}
    assert got["m-ldn"]["outcome"] == "deferred"
    assert got["m-ldn"]["reasons"] == ["quiet-hours"]
    assert got["m-ldn"]["scheduledSendTime"].startswith("2026-11-27T08:00:00")
    assert (got["a-ldn"]["outcome"], got["a-ldn"]["reasons"]) == (
        "sent",
        ["exempt:service-alerts"],
    )
    assert (got["m-nocon"]["outcome"], got["m-nocon"]["rule"]) == ("suppressed", "consent")
    assert (got["m1"]["outcome"], got["m1"]["channel"]) == ("sent", "sms")
    assert (got["m2"]["outcome"], got["m2"]["reasons"]) == ("suppressed", ["cap:marketing-day"])
    assert got["s1"]["outcome"] == "sent"
    assert (got["s2"]["outcome"], got["s2"]["rule"]) == ("suppressed", "dedup")

    messages = read(kafka_bootstrap, topics, "communication-requests", has(3))
    assert sorted(m["id"] for m in messages) == ["cm-a-ldn", "cm-m1", "cm-s1"]
    for message in messages:
        assert_valid(TMF681, "CommunicationMessage", message)
        assert_valid(TMF681, "CommunicationMessage_Create", message)
    created = read(
        kafka_bootstrap,
        topics,
        "party-interaction-events",
        lambda vs: len([v for v in vs if v["eventType"] == "PartyInteractionCreateEvent"]) >= 3,
    )
    outbound = {
        v["event"]["partyInteraction"]["id"]: v["event"]["partyInteraction"]
        for v in created
        if v["eventType"] == "PartyInteractionCreateEvent"
    }
    assert set(outbound) == {"ob-a-ldn", "ob-m1", "ob-s1"}
    assert {i["direction"] for i in outbound.values()} == {"outbound"}

    # The marketing sms bounces: the interaction fails and the contact no longer counts.
    send(
        kafka_bootstrap,
        topics,
        "outbound-requests",
        delivery("nyc", "m1", "bounced", night + 60_000),
        request("nyc", "m3", night + 120_000),
    )
    failed = read(
        kafka_bootstrap,
        topics,
        "party-interaction-events",
        lambda vs: any(
            v["eventType"] == "PartyInteractionStatusChangeEvent"
            and v["event"]["partyInteraction"]["id"] == "ob-m1"
            and v["event"]["partyInteraction"]["status"] == "failed"
            for v in vs
        ),
    )
    assert failed
    after = read(kafka_bootstrap, topics, "outbound-decisions", has(1, requestId="m3"))
    assert select(after, requestId="m3")[0]["outcome"] == "sent"

    # The daily cap at its boundary: m3 counts until exactly one day has passed.
    m3 = night + 120_000
    send(
        kafka_bootstrap,
        topics,
        "outbound-requests",
        request("nyc", "m4", m3 + DAY - 1),
        request("nyc", "m5", m3 + DAY),
    )
    last = read(kafka_bootstrap, topics, "outbound-decisions", has(1, requestId="m5"))
    assert select(last, requestId="m4")[0]["reasons"] == ["cap:marketing-day"]
    assert select(last, requestId="m5")[0]["outcome"] == "sent"

    # An escalation of the customer opens (the escalation stage's command): marketing cools
    # down; it closes: the cool-down ends (the weekly cap, checked first, applies next).
    def escalation(is_open: bool, at_ms: int) -> Record:
        command = {
            "command": "escalation",
            "partyId": "nyc",
            "escalationId": "esc-1",
            "open": is_open,
            "time": iso(at_ms),
        }
        return orjson.dumps("nyc"), orjson.dumps(command), []

    send(kafka_bootstrap, topics, "outbound-commands", escalation(True, m3 + DAY + 1))
    send(kafka_bootstrap, topics, "outbound-requests", request("nyc", "m6", m3 + DAY + 2))
    send(kafka_bootstrap, topics, "outbound-commands", escalation(False, m3 + DAY + 3))
    send(kafka_bootstrap, topics, "outbound-requests", request("nyc", "m7", m3 + DAY + 4))
    cooled = read(kafka_bootstrap, topics, "outbound-decisions", has(1, requestId="m7"))
    assert select(cooled, requestId="m6")[0]["reasons"] == ["cool-down:escalation"]
    assert select(cooled, requestId="m7")[0]["reasons"] == ["cap:marketing-week"]  # m3, m5


def test_a_deferred_message_fires_after_a_restart_across_a_dst_change_and_callbacks(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    env = {"cim_clock": "event", "cim_sweep_interval_seconds": "1"}
    worker = worker_factory("w1", **env)
    send(
        kafka_bootstrap,
        topics,
        "customer-profile",
        profile("ldn", "Europe/London", "sms/service", at_ms=SPRING - DAY),
        profile("cb", "Europe/London", at_ms=SPRING - DAY),
    )
    profiles_seen(kafka_bootstrap, topics, "ldn", "cb")
    send(kafka_bootstrap, topics, "outbound-requests", request("ldn", "n1", SPRING, "service"))
    first = read(kafka_bootstrap, topics, "outbound-decisions", has(1, requestId="n1"))
    deferred = select(first, requestId="n1")[0]
    assert deferred["outcome"] == "deferred"
    # 08:00 in London on the 29th is 07:00 UTC: the clocks went forward during the night.
    assert deferred["scheduledSendTime"].startswith("2026-03-29T07:00:00")

    worker.kill()
    worker_factory("w2", **env)  # a fresh data directory: the table comes from its changelog
    wake = SPRING + 9 * H  # 07:00 UTC on the 29th
    promised = wake + H
    callback = {
        "validFrom": iso(promised),
        "callback": {
            "interactionId": "call-7",
            "routingPool": "emea",
            "queue": "billing",
            "priority": 40,
            "enqueuedAt": iso(wake - 600_000),
        },
    }
    send(
        kafka_bootstrap,
        topics,
        "outbound-requests",
        request("cb", "cb1", wake, "callback", **callback),
    )
    sent = read(
        kafka_bootstrap,
        topics,
        "communication-requests",
        lambda vs: any(v["id"] == "cm-n1" for v in vs),
    )
    message = next(m for m in sent if m["id"] == "cm-n1")
    assert message["scheduledSendTime"] == "2026-03-29T07:00:00.000Z"
    assert_valid(TMF681, "CommunicationMessage", message)

    # The promised time comes (a later event advances the clock): an outbound callback
    # interaction queues with the original priority and age.
    send(kafka_bootstrap, topics, "outbound-requests", delivery("cb", "none", "sent", promised))
    routes = read(
        kafka_bootstrap,
        topics,
        "routing-requests",
        lambda vs: any(v["interactionId"] == "ob-cb1" for v in vs),
    )
    route = next(r for r in routes if r["interactionId"] == "ob-cb1")
    assert (route["command"], route["direction"], route["routingPool"]) == (
        "enqueue",
        "outbound",
        "emea",
    )
    assert (route["minPriority"], route["enqueuedMs"]) == (40, wake - 600_000)
    # Nobody answered it within the grace time: a missed promise, for the escalation stage.
    send(kafka_bootstrap, topics, "outbound-requests", delivery("cb", "none", "read", promised + H))
    missed = read(kafka_bootstrap, topics, "outbound-decisions", has(1, outcome="missed"))
    record = select(missed, outcome="missed")[0]
    assert (record["requestId"], record["reasons"], record["originalInteractionId"]) == (
        "cb1",
        ["callback-missed"],
        "call-7",
    )


def business(kind: str, data: dict[str, Any], event_id: str, at_ms: int) -> Record:
    key = str(data.get("partyId") or data.get("incidentId")).encode()
    return key, cloud_event(f"cim.business.{kind}", data, event_id, iso(at_ms)), []


def test_business_moments_trigger_contacts_and_uninformed_customers_are_flagged(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory(cim_clock="event", cim_sweep_interval_seconds="1")
    send(
        kafka_bootstrap,
        topics,
        "customer-profile",
        profile("yes", "Europe/London", "sms/alert", "email/collections", "sms/service"),
        profile("no", "Europe/London"),
    )
    profiles_seen(kafka_bootstrap, topics, "yes", "no")
    incident = {"incidentId": "inc-1", "partyIds": ["yes", "no"], "severity": "major"}
    send(
        kafka_bootstrap,
        topics,
        "business-events",
        business("incident.opened", incident, "b-inc-1", T),
        business("payment.overdue", {"partyId": "yes", "billId": "bill-1"}, "b-pay-1", T + 1),
    )
    decisions = read(kafka_bootstrap, topics, "outbound-decisions", has(3))
    by_trigger = {(d["partyId"], d["trigger"]): d for d in decisions}
    assert by_trigger[("yes", "incident-alert")]["outcome"] == "sent"
    assert by_trigger[("yes", "payment-reminder")]["channel"] == "email"
    assert by_trigger[("no", "incident-alert")]["outcome"] == "suppressed"
    messages = read(kafka_bootstrap, topics, "communication-requests", has(2))
    alert = next(m for m in messages if m["messageType"] == "SMS")
    assert "inc-1" in alert["content"]
    for message in messages:
        assert_valid(TMF681, "CommunicationMessage", message)

    # Two hours later (a later event moves the clock) "no" has still not been informed.
    send(kafka_bootstrap, topics, "outbound-requests", delivery("no", "none", "sent", T + 2 * H))
    flagged = read(kafka_bootstrap, topics, "outbound-decisions", has(1, outcome="flagged"))
    record = select(flagged, outcome="flagged")[0]
    assert (record["partyId"], record["reasons"]) == ("no", ["incident-not-informed", "inc-1"])
    assert not select(flagged, outcome="flagged", partyId="yes")
    status, body = worker.get("/metrics")
    assert status == 200 and b"cim_outbound_uninformed_customers_total 1.0" in body
    assert (
        b'cim_outbound_decisions_total{outcome="flagged",purpose="alert",rule="underUse"} 1.0'
        in body
    )

    # A notice waits while the customer is on a call, and goes when the call ends.
    call = {"interactionId": "c-yes", "partyId": "yes"}
    later = T + 2 * H + 1000
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        (b"c-yes", cloud_event("cim.voice.offered", call, "c-yes-1", iso(later)), []),
    )
    read(
        kafka_bootstrap,
        topics,
        "customer-context",
        lambda vs: any("c-yes" in v.get("openInteractions", []) for v in vs),
    )
    send(
        kafka_bootstrap, topics, "outbound-requests", request("yes", "n-yes", later + 1, "service")
    )
    held = read(kafka_bootstrap, topics, "outbound-decisions", has(1, requestId="n-yes"))
    assert select(held, requestId="n-yes")[0]["reasons"] == ["held:inbound-interaction"]
    ended: Record = (
        b"c-yes",
        cloud_event("cim.interaction.ended", call, "c-yes-2", iso(later + 2)),
        [],
    )
    send(kafka_bootstrap, topics, "channel-events", ended)
    sent = read(
        kafka_bootstrap, topics, "outbound-decisions", has(1, requestId="n-yes", outcome="sent")
    )
    assert select(sent, requestId="n-yes", outcome="sent")[0]["channel"] == "sms"
