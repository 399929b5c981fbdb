"""The TMF683 REST API on the real broker, served by real ``interaction-streams worker``s.

Interactions come in as channel events (CloudEvents on the channel topic) and go through
the ingest and interaction stages; POST and PATCH travel through Kafka as commands.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import Record, WorkerProcess, cloud_event, produce
from tests.conftest import WorkerFactory
from tests.tmf import TMF683, assert_valid

pytestmark = pytest.mark.kafka

BASE = "/tmf-api/partyInteractionManagement/v5"
ITEMS = BASE + "/partyInteraction"
TOKEN = "t1"
API_ENV = {"cim_api_tokens": f"{TOKEN}=partyInteraction:write hub:write"}
T0 = 1_795_683_600  # 2026-11-26T09:00:00Z
T = TypeVar("T")


def at(second: float) -> str:
    ms = int((T0 + second) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


class Answer:
    def __init__(self, status: int, headers: dict[str, str], raw: bytes) -> None:
        self.status, self.headers, self.raw = status, headers, raw

    @property
    def body(self) -> Any:
        return orjson.loads(self.raw) if self.raw else None

    def ids(self) -> list[str]:
        return [item["id"] for item in self.body]

    def __repr__(self) -> str:
        return f"<{self.status} {self.raw[:300]!r}>"


def call(
    worker: WorkerProcess,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
    timeout: float = 20.0,
) -> Answer:
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
    request = urllib.request.Request(worker.url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read())
    except (urllib.error.URLError, OSError):
        return Answer(0, {}, b"")


def listing(worker: WorkerProcess, **params: str) -> Answer:
    query = urllib.parse.urlencode(params)
    return call(worker, "GET", ITEMS + (f"?{query}" if query else ""))


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def event(interaction: str, n: int, kind: str, second: float, **data: Any) -> Record:
    payload = {"interactionId": interaction, **data}
    raw = cloud_event(kind, payload, f"{interaction}-{n}", at(second))
    return interaction.encode(), raw, []


def three_interactions() -> list[Record]:
    return [
        # call-a: a known customer's call, answered by an agent (inProgress)
        event("call-a", 0, "cim.voice.offered", 0, partyId="party-ada", intent="billing"),
        event("call-a", 1, "cim.interaction.queued", 5, queue="billing"),
        event("call-a", 2, "cim.interaction.answered", 20, agentId="agent-1"),
        # chat-b: abandoned in the queue (disrupted)
        event("chat-b", 0, "cim.chat.started", 60, partyId="party-bob"),
        event("chat-b", 1, "cim.interaction.queued", 61, queue="sales"),
        event("chat-b", 2, "cim.interaction.abandoned", 90),
        # mail-c: an outbound email to the first customer, not handled yet (initialized)
        event("mail-c", 0, "cim.email.received", 120, partyId="party-ada", direction="outbound"),
    ]


def produce_channel(bootstrap: str, topics: TopicContract, records: list[Record]) -> None:
    asyncio.run(produce(bootstrap, topics["channel-events"].name, records))


def wait_listed(worker: WorkerProcess, count: int, **params: str) -> Answer:
    def probe() -> Answer | None:
        answer = listing(worker, **params)
        return answer if answer.status == 200 and len(answer.body) == count else None

    return wait_for(f"{count} interactions listed by {worker.url}", probe)


def create_body(**extra: Any) -> dict[str, Any]:
    return {
        "@type": "PartyInteraction",
        "direction": "inbound",
        "reason": "complaint",
        "description": "walk-in complaint about a bill",
        "relatedChannel": [
            {
                "@type": "RelatedChannel",
                "role": "contactChannel",
                "channel": {"@type": "ChannelRef", "id": "selfservice"},
            }
        ],
        "relatedParty": [
            {
                "@type": "RelatedPartyOrPartyRole",
                "role": "customer",
                "partyOrPartyRole": {"@type": "PartyRef", "id": "party-cy"},
            }
        ],
        "note": [{"@type": "Note", "text": "called back twice"}],
        "interactionRelationship": [
            {"@type": "InteractionRelationship", "id": "call-a", "relationshipType": "followUp"}
        ],
        "interactionDate": {"startDateTime": at(300)},
        **extra,
    }


def test_retrieve_list_create_and_patch_on_one_worker(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory(**API_ENV)
    produce_channel(kafka_bootstrap, topics, three_interactions())
    everything = wait_listed(worker, 3)
    assert everything.ids() == ["call-a", "chat-b", "mail-c"]  # by creationDate
    assert everything.headers["X-Total-Count"] == "3"
    assert everything.headers["X-Result-Count"] == "3"
    # the last event of each interaction is in
    wait_for("chat-b abandoned", lambda: listing(worker, status="disrupted").ids() == ["chat-b"])
    wait_for("call-a answered", lambda: listing(worker, status="inProgress").ids() == ["call-a"])

    # ---- retrieve
    got = call(worker, "GET", f"{ITEMS}/call-a")
    assert got.status == 200, got
    resource = got.body
    assert_valid(TMF683, "PartyInteraction", resource)
    assert (resource["id"], resource["status"], resource["direction"]) == (
        "call-a",
        "inProgress",
        "inbound",
    )
    assert resource["href"] == f"{ITEMS}/call-a"
    assert resource["relatedChannel"][0]["channel"]["id"] == "voice"
    assert resource["creationDate"] == at(0)
    selected = call(worker, "GET", f"{ITEMS}/call-a?fields=status,reason")
    assert selected.body == {
        "@type": "PartyInteraction",
        "id": "call-a",
        "href": f"{ITEMS}/call-a",
        "status": "inProgress",
        "reason": "billing",
    }
    missing = call(worker, "GET", f"{ITEMS}/no-such-call")
    assert missing.status == 404
    assert missing.body["@type"] == "Error" and missing.body["status"] == "404"
    assert missing.body["code"] == "notFound"

    # ---- list: filters, paging, fields
    assert listing(worker, status="initialized").ids() == ["mail-c"]
    assert listing(worker, status="inProgress,disrupted").ids() == ["call-a", "chat-b"]
    assert listing(worker, channel="chat").ids() == ["chat-b"]
    assert listing(worker, channel="email", direction="outbound").ids() == ["mail-c"]
    assert listing(worker, **{"relatedParty.id": "party-ada"}).ids() == ["call-a", "mail-c"]
    assert listing(worker, relatedPartyId="party-bob").ids() == ["chat-b"]
    assert listing(worker, **{"relatedParty.id": "agent-1"}).ids() == ["call-a"]
    window = listing(worker, **{"creationDate.gte": at(60), "creationDate.lt": at(120)})
    assert window.ids() == ["chat-b"]
    assert listing(worker, **{"creationDate.gt": at(0)}).ids() == ["chat-b", "mail-c"]
    assert listing(worker, **{"creationDate.lte": "2026-11-26T10:01:00+01:00"}).ids() == [
        "call-a",
        "chat-b",
    ]
    paged = listing(worker, offset="1", limit="1")
    assert paged.ids() == ["chat-b"]
    assert (paged.headers["X-Total-Count"], paged.headers["X-Result-Count"]) == ("3", "1")
    tail = listing(worker, offset="2", limit="5", fields="status")
    assert tail.body == [
        {
            "@type": "PartyInteraction",
            "id": "mail-c",
            "href": f"{ITEMS}/mail-c",
            "status": "initialized",
        }
    ]
    assert (tail.headers["X-Total-Count"], tail.headers["X-Result-Count"]) == ("3", "1")
    bad = listing(worker, status="open")
    assert bad.status == 400 and bad.body["@type"] == "Error" and "status" in bad.body["message"]
    assert listing(worker, limit="5000").status == 400
    assert listing(worker, **{"creationDate.gt": "yesterday"}).status == 400

    # ---- create
    unauthenticated = call(worker, "POST", ITEMS, create_body())
    assert unauthenticated.status == 401 and unauthenticated.body["@type"] == "Error"
    assert call(worker, "POST", ITEMS, create_body(), token="wrong").status == 401
    created = call(worker, "POST", ITEMS, create_body(), token=TOKEN)
    assert created.status == 201, created
    new = created.body
    assert_valid(TMF683, "PartyInteraction", new)
    assert created.headers["Location"] == new["href"] == f"{ITEMS}/{new['id']}"
    assert (new["status"], new["direction"], new["reason"]) == (
        "initialized",
        "inbound",
        "complaint",
    )
    assert new["relatedChannel"][0]["channel"]["id"] == "selfservice"
    assert new["creationDate"] == at(300)
    assert [n["text"] for n in new["note"]] == ["called back twice"]
    assert new["interactionRelationship"][0]["id"] == "call-a"
    stored = wait_for(
        "the created interaction",
        lambda: (a := call(worker, "GET", new["href"])).status == 200 and a.body,
    )
    assert stored == new  # the answer of POST is what the stage built
    own_id = call(worker, "POST", ITEMS, create_body(id="api-1", status="completed"), token=TOKEN)
    assert own_id.status == 201 and own_id.body["id"] == "api-1"
    assert own_id.body["status"] == "completed"
    wait_for("api-1", lambda: call(worker, "GET", f"{ITEMS}/api-1").status == 200)
    assert call(worker, "POST", ITEMS, create_body(id="api-1"), token=TOKEN).status == 409
    undated = create_body(id="api-now")
    del undated["interactionDate"]
    now = call(worker, "POST", ITEMS, undated, token=TOKEN)
    assert now.status == 201, now
    assert now.body == wait_for(  # created "now", to the millisecond the stage reads
        "api-now", lambda: (a := call(worker, "GET", f"{ITEMS}/api-now")).status == 200 and a.body
    )
    assert set(wait_listed(worker, 6).ids()[-3:-1]) == {"api-1", new["id"]}

    no_direction = create_body()
    del no_direction["direction"]
    refused = call(worker, "POST", ITEMS, no_direction, token=TOKEN)
    assert refused.status == 400 and "direction" in refused.body["message"], refused
    assert refused.body["@type"] == "Error" and refused.body["status"] == "400"
    pigeon = create_body(
        relatedChannel=[{"@type": "RelatedChannel", "role": "r", "channel": {"id": "pigeon"}}]
    )
    refused = call(worker, "POST", ITEMS, pigeon, token=TOKEN)
    assert refused.status == 400 and "relatedChannel" in refused.body["message"], refused
    refused = call(worker, "POST", ITEMS, create_body(status="opened"), token=TOKEN)
    assert refused.status == 400 and "status" in refused.body["message"], refused
    refused = call(worker, "POST", ITEMS, raw=b"{not json", token=TOKEN)
    assert refused.status == 400 and refused.body["@type"] == "Error"

    # ---- patch
    merge = "application/merge-patch+json"
    patch = {"reason": "billing dispute", "note": [{"text": "customer wants a refund"}]}
    assert call(worker, "PATCH", f"{ITEMS}/call-a", patch, content_type=merge).status == 401
    patched = call(worker, "PATCH", f"{ITEMS}/call-a", patch, token=TOKEN, content_type=merge)
    assert patched.status == 200, patched
    assert patched.body["reason"] == "billing dispute"
    assert [n["text"] for n in patched.body["note"]] == ["customer wants a refund"]
    assert patched.body["status"] == "inProgress"
    again = call(worker, "GET", f"{ITEMS}/call-a").body
    assert again["reason"] == "billing dispute"
    assert [n["text"] for n in again["note"]] == ["customer wants a refund"]
    closed = call(
        worker, "PATCH", f"{ITEMS}/call-a?fields=status", {"status": "completed"}, token=TOKEN
    )
    assert closed.status == 200 and closed.body["status"] == "completed", closed
    assert set(closed.body) == {"@type", "id", "href", "status"}
    reopen = call(worker, "PATCH", f"{ITEMS}/call-a", {"status": "inProgress"}, token=TOKEN)
    assert reopen.status == 409 and reopen.body["@type"] == "Error", reopen
    for frozen in ({"direction": "outbound"}, {"id": "x"}, {"creationDate": at(1)}):
        refused = call(worker, "PATCH", f"{ITEMS}/call-a", frozen, token=TOKEN)
        assert refused.status == 400, refused
        assert refused.body["message"] == f"{next(iter(frozen))} cannot be patched"
        assert refused.body["@type"] == "Error"
    refused = call(worker, "PATCH", f"{ITEMS}/call-a", {"status": "asleep"}, token=TOKEN)
    assert refused.status == 400 and "status" in refused.body["message"]
    unknown = call(worker, "PATCH", f"{ITEMS}/no-such-call", {"reason": "x"}, token=TOKEN)
    assert unknown.status == 404 and unknown.body["@type"] == "Error"


def test_two_workers_forward_retrievals_and_merge_lists(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    w1 = worker_factory("w1", **API_ENV)
    w2 = worker_factory("w2", **API_ENV)
    names = [f"int-{n}" for n in range(12)]
    records = [
        event(name, 0, "cim.chat.started", n * 10, partyId=f"party-{n % 3}")
        for n, name in enumerate(names)
    ]
    produce_channel(kafka_bootstrap, topics, records)

    def split() -> tuple[set[str], set[str]] | None:
        """The interactions each worker holds, once both hold some of the 4 partitions."""
        held = []
        for worker in (w1, w2):
            request = urllib.request.Request(worker.url + ITEMS, headers={"X-Cim-Local": "1"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    partitions = response.headers["X-Cim-Partitions"]
                    ids = {item["id"] for item in orjson.loads(response.read())}
            except (urllib.error.URLError, OSError):
                return None
            if not partitions:
                return None
            held.append(ids)
        together = held[0] | held[1]
        return (held[0], held[1]) if together == set(names) else None

    try:
        on_w1, on_w2 = wait_for("both workers holding partitions and every interaction", split, 240)
    except AssertionError as exc:  # keep the workers' logs: they go with the tmp dirs
        raise AssertionError(f"{exc}\n--- w1:\n{w1.tail(60)}\n--- w2:\n{w2.tail(60)}") from None
    assert on_w1 and on_w2 and not on_w1 & on_w2

    for worker in (w1, w2):
        merged = wait_listed(worker, len(names))
        assert merged.ids() == names
        assert merged.headers["X-Total-Count"] == str(len(names))
        pages = [listing(worker, offset=str(o), limit="5").ids() for o in (0, 5, 10)]
        assert [i for page in pages for i in page] == names
        assert listing(worker, **{"relatedParty.id": "party-1"}).ids() == names[1::3]

    # every interaction through w1: those of w2 are forwarded by table_route
    for name in names:
        got = call(w1, "GET", f"{ITEMS}/{name}")
        assert got.status == 200 and got.body["id"] == name, (name, got)
    assert call(w1, "GET", f"{ITEMS}/no-such-one").status == 404

    # PATCH through the worker that does not own the key: the command goes through Kafka
    # and the answer waits until the owner has applied it
    remote = sorted(on_w2)[0]
    patched = call(w1, "PATCH", f"{ITEMS}/{remote}", {"reason": "moved"}, token=TOKEN)
    assert patched.status == 200 and patched.body["reason"] == "moved", patched
    assert call(w2, "GET", f"{ITEMS}/{remote}").body["reason"] == "moved"
    created = call(w2, "POST", ITEMS, create_body(), token=TOKEN)
    assert created.status == 201
    wait_for(
        "the created interaction through w1",
        lambda: call(w1, "GET", created.body["href"]).status == 200,
    )
    assert wait_listed(w1, len(names) + 1).headers["X-Total-Count"] == str(len(names) + 1)

    # a worker that does not answer makes the list 503, never a partial list; once its
    # partitions moved to the survivor, everything is listed again
    w2.kill()
    cut = listing(w1)
    assert cut.status == 503, cut
    assert cut.body["@type"] == "Error" and cut.headers["Retry-After"] == "1"
    lost = call(w1, "GET", f"{ITEMS}/{remote}")
    assert lost.status == 503 and lost.body["@type"] == "Error", lost
    assert wait_listed(w1, len(names) + 1).headers["X-Total-Count"] == str(len(names) + 1)
    assert call(w1, "GET", f"{ITEMS}/{remote}").body["reason"] == "moved"
