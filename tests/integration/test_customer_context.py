"""The customer stage on the real broker: windows, repeat contact, incident fan-out,
debounced snapshots, recovery after SIGKILL, erasure."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import Record, WorkerProcess, cloud_event, produce, read_topic
from tests.conftest import WorkerFactory
from tests.waiting import wait_until, wait_until_passes

pytestmark = pytest.mark.kafka

T = 1_795_683_600_000  # 2026-11-26T09:00:00Z
H, DAY = 3_600_000, 86_400_000


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def call(interaction: str, party: str, at_ms: int, intent: str = "billing") -> Record:
    data = {"interactionId": interaction, "partyId": party, "intent": intent}
    return (
        interaction.encode(),
        cloud_event("cim.voice.offered", data, f"e-{interaction}", iso(at_ms)),
        [],
    )


def profile(party: str, area: str, at_ms: int = T - DAY, **extra: Any) -> Record:
    data = {"partyId": party, "serviceArea": area, **extra}
    return (
        party.encode(),
        cloud_event("cim.customer.profile.updated", data, f"p-{party}-{at_ms}", iso(at_ms)),
        [],
    )


def business(kind: str, data: dict[str, Any], event_id: str, at_ms: int) -> Record:
    key = str(data.get("partyId") or data.get("incidentId")).encode()
    return key, cloud_event(f"cim.business.{kind}", data, event_id, iso(at_ms)), []


def context(worker: WorkerProcess, party: str) -> tuple[int, dict[str, Any]]:
    status, body = worker.get(f"/customerContext/{party}")
    return status, (orjson.loads(body) if body else {})


def policy_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "context.yaml"
    path.write_text(text)
    return str(path)


async def moments(bootstrap: str, topics: TopicContract, expected: int) -> list[dict[str, Any]]:
    records = await read_topic(bootstrap, topics["customer-moments"].name, expected, 2.0)
    return [orjson.loads(r.value or b"") for r in records]


def test_windows_at_their_boundaries_and_repeat_contact(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory(cim_clock="event")
    calls = [
        call("c1", "ada", T - 7 * DAY + 1, intent="roaming"),
        call("c2", "ada", T - DAY, intent="roaming"),  # exactly 24 h before T: not in 24 h
        call("c3", "ada", T - DAY + 1, intent="billing"),
        call("c4", "ada", T, intent="billing"),  # the same reason within 3 days: repeat
    ]
    asyncio.run(produce(kafka_bootstrap, topics["channel-events"].name, calls))

    def counted() -> dict[str, Any]:
        status, body = context(worker, "ada")
        assert status == 200 and len(body.get("recentInteractions", [])) == 4, body
        return body

    body = wait_until_passes(counted)
    assert body["asOf"].startswith("2026-11-26T09:00:00")
    assert {name: w["contacts"] for name, w in body["windows"].items()} == {
        "24h": 2,
        "7d": 4,
        "30d": 4,
    }
    assert body["repeatContact"] == "billing"
    assert body["openInteractions"] == ["c1", "c2", "c3", "c4"]
    started = asyncio.run(moments(kafka_bootstrap, topics, 1))
    assert [(m["partyId"], m["moment"]["name"], m["state"]) for m in started] == [
        ("ada", "repeat-contact", "started")
    ]


def test_incident_reaches_exactly_the_customers_of_its_area(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory(cim_clock="event")
    people = [profile(p, "N1") for p in ("a1", "a2", "a3")] + [
        profile(p, "N2") for p in ("b1", "b2")
    ]
    asyncio.run(produce(kafka_bootstrap, topics["customer-profile"].name, people))
    wait_until(lambda: [context(worker, p)[0] for p in ("a1", "a2", "a3", "b1", "b2")] == [200] * 5)
    incidents = [
        business("incident.opened", {"incidentId": "inc-1", "serviceArea": "N1"}, "i1", T),
        business("incident.opened", {"incidentId": "inc-2", "partyIds": ["b2"]}, "i2", T),
    ]
    asyncio.run(produce(kafka_bootstrap, topics["business-events"].name, incidents))
    got = asyncio.run(moments(kafka_bootstrap, topics, 4))
    affected = sorted(
        (m["partyId"], m["moment"]["cause"])
        for m in got
        if m["moment"]["name"] == "affected-by-incident"
    )
    assert affected == [("a1", "inc-1"), ("a2", "inc-1"), ("a3", "inc-1"), ("b2", "inc-2")]
    _, body = worker.get("/metrics")
    assert b"cim_incident_fanout_customers_sum 3.0" in body


def test_snapshots_are_debounced_and_the_last_state_is_published(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker_factory(
        cim_clock="event",
        cim_sweep_interval_seconds="0.3",
        cim_context_policy=policy_file(tmp_path, "snapshotIntervalSeconds: 10\n"),
    )
    burst = [
        business("order.delayed", {"partyId": "ada", "orderId": f"o{n}"}, f"o{n}", T + n * 1000)
        for n in range(5)
    ]
    asyncio.run(produce(kafka_bootstrap, topics["business-events"].name, burst))
    first = asyncio.run(read_topic(kafka_bootstrap, topics["customer-context"].name, 1, 3.0))
    assert [r.key for r in first] == [b'"ada"']  # one snapshot for five updates so far
    # Event time moves 20 s on (another customer): the held-back snapshot goes out.
    later = [business("order.created", {"partyId": "bob", "orderId": "x"}, "x", T + 20_000)]
    asyncio.run(produce(kafka_bootstrap, topics["business-events"].name, later))
    snapshots = asyncio.run(read_topic(kafka_bootstrap, topics["customer-context"].name, 3, 3.0))
    of_ada = [orjson.loads(r.value or b"") for r in snapshots if r.key == b'"ada"']
    assert len(of_ada) == 2
    assert sorted(b["ref"] for b in of_ada[-1]["business"]) == ["o0", "o1", "o2", "o3", "o4"]


def strip(view: dict[str, Any]) -> dict[str, Any]:
    return {k: x for k, x in view.items() if k != "asOf"}


def test_context_is_identical_after_sigkill_and_restart(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory("w1", cim_clock="event")
    parties = [f"p{n}" for n in range(12)]
    asyncio.run(
        produce(
            kafka_bootstrap,
            topics["customer-profile"].name,
            [profile(p, f"N{n % 3}", tier="gold") for n, p in enumerate(parties)],
        )
    )
    asyncio.run(
        produce(
            kafka_bootstrap, topics["channel-events"].name, [call(f"c-{p}", p, T) for p in parties]
        )
    )
    asyncio.run(
        produce(
            kafka_bootstrap,
            topics["business-events"].name,
            [business("payment.overdue", {"partyId": p}, f"b-{p}", T) for p in parties],
        )
    )

    def complete() -> dict[str, Any]:
        views = {p: context(worker, p)[1] for p in parties}
        assert all(v.get("recentInteractions") and v.get("business") for v in views.values())
        return views

    before = wait_until_passes(complete)
    time.sleep(2)  # the changelog and offsets reach the broker
    worker.kill()
    shutil.rmtree(worker.data_dir)  # RocksDB lost too: the table comes back from its changelog
    restarted = worker_factory("w1", cim_clock="event")
    after = wait_until_passes(lambda: {p: context(restarted, p)[1] for p in parties})
    assert {p: strip(v) for p, v in after.items()} == {p: strip(v) for p, v in before.items()}


def test_erasure_removes_the_party_everywhere(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory(cim_clock="event")
    asyncio.run(
        produce(
            kafka_bootstrap,
            topics["customer-profile"].name,
            [profile("ada", "N1", phones=["+442079460018"]), profile("bob", "N1")],
        )
    )
    asyncio.run(produce(kafka_bootstrap, topics["channel-events"].name, [call("c1", "ada", T)]))
    wait_until(lambda: context(worker, "ada")[1].get("recentInteractions") == ["c1"])
    erase = cloud_event("cim.customer.profile.erased", {"partyId": "ada"}, "erase", iso(T + H))
    asyncio.run(produce(kafka_bootstrap, topics["customer-profile"].name, [(b"ada", erase, [])]))
    wait_until(lambda: context(worker, "ada")[0] == 404)
    status, _ = worker.get("/tmf-api/partyInteractionManagement/v5/partyInteraction/c1")
    assert status == 404
    snapshots = asyncio.run(read_topic(kafka_bootstrap, topics["customer-context"].name, 3, 2.0))
    assert [r.value for r in snapshots if r.key == b'"ada"'][-1] is None  # tombstone
    index = asyncio.run(read_topic(kafka_bootstrap, topics["contact-index"].name, 2, 1.0))
    assert [r.value for r in index if r.key == b'"tel:+442079460018"'][-1] is None
    # The area forgot her: an incident in N1 now reaches bob only.
    incident = business(
        "incident.opened", {"incidentId": "inc", "serviceArea": "N1"}, "i", T + 2 * H
    )
    asyncio.run(produce(kafka_bootstrap, topics["business-events"].name, [incident]))
    got = asyncio.run(moments(kafka_bootstrap, topics, 1))
    assert [m["partyId"] for m in got if m["moment"]["name"] == "affected-by-incident"] == ["bob"]
