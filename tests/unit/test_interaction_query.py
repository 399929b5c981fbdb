"""Listing interactions: filters, order, paging, totals and attribute selection."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interaction_streams.domain.interaction import query as q
from interaction_streams.domain.interaction import tmf683
from interaction_streams.domain.interaction.model import Interaction, Participant

T0_MS = 1_795_683_600_000  # 2026-11-26T09:00:00Z


def interaction(
    n: int,
    *,
    at_s: float = 0,
    status: str = "inProgress",
    channel: str = "voice",
    direction: str = "inbound",
    parties: tuple[str, ...] = (),
    ident: str | None = None,
) -> Interaction:
    ms = T0_MS + int(at_s * 1000)
    return Interaction.model_validate(
        {
            "id": ident or f"i-{n:03d}",
            "channel": channel,
            "direction": direction,
            "status": status,
            "createdMs": ms,
            "statusChangedMs": ms,
            "phaseSinceMs": ms,
            "lastEventMs": ms,
            "participants": [
                Participant(party_id=p, role="customer", joined_ms=ms) for p in parties
            ],
        }
    )


SAMPLE = [
    interaction(1, at_s=0, status="completed", channel="voice", parties=("ada",)),
    interaction(2, at_s=60, status="inProgress", channel="chat", parties=("bob",)),
    interaction(3, at_s=120, status="disrupted", channel="email", direction="outbound"),
    interaction(4, at_s=180, status="inProgress", channel="voice", parties=("ada", "agent-1")),
]


def ids(items: list[Interaction] | list[dict[str, Any]]) -> list[str]:
    return [i.id if isinstance(i, Interaction) else str(i["id"]) for i in items]


def listed(*params: tuple[str, str]) -> list[str]:
    query = q.parse_list_query(params)
    return ids(q.top(SAMPLE, query.filters, len(SAMPLE))[1])


# ---- filters ----------------------------------------------------------------------------


def test_no_filter_lists_everything_by_creation_date() -> None:
    assert listed() == ["i-001", "i-002", "i-003", "i-004"]


def test_status_direction_and_channel() -> None:
    assert listed(("status", "inProgress")) == ["i-002", "i-004"]
    assert listed(("status", "completed,disrupted")) == ["i-001", "i-003"]
    assert listed(("status", "completed"), ("status", "disrupted")) == ["i-001", "i-003"]
    assert listed(("direction", "outbound")) == ["i-003"]
    assert listed(("channel", "voice")) == ["i-001", "i-004"]
    assert listed(("relatedChannel.channel.id", "chat")) == ["i-002"]
    assert listed(("channel", "voice"), ("status", "inProgress")) == ["i-004"]


def test_related_party_in_every_spelling() -> None:
    assert listed(("relatedParty.id", "ada")) == ["i-001", "i-004"]
    assert listed(("relatedPartyId", "bob")) == ["i-002"]
    assert listed(("relatedParty.id", "agent-1")) == ["i-004"]
    assert listed(("relatedParty.id", "nobody")) == []


def test_creation_date_bounds_are_strict_or_inclusive() -> None:
    at_60 = "2026-11-26T09:01:00Z"
    assert listed(("creationDate.gt", at_60)) == ["i-003", "i-004"]
    assert listed(("creationDate.gte", at_60)) == ["i-002", "i-003", "i-004"]
    assert listed(("creationDate.lt", at_60)) == ["i-001"]
    assert listed(("creationDate.lte", at_60)) == ["i-001", "i-002"]
    # an offset, and one whose "+" a query string turned into a space
    assert listed(("creationDate.gte", "2026-11-26T10:01:00+01:00")) == listed(
        ("creationDate.gte", at_60)
    )
    assert listed(("creationDate.gte", "2026-11-26T10:01:00 01:00")) == listed(
        ("creationDate.gte", at_60)
    )
    # sub-millisecond precision is compared exactly
    assert listed(("creationDate.gt", "2026-11-26T09:00:59.999999Z")) == [
        "i-002",
        "i-003",
        "i-004",
    ]
    # a range
    assert listed(
        ("creationDate.gte", "2026-11-26T09:00:30Z"), ("creationDate.lt", "2026-11-26T09:03:00Z")
    ) == ["i-002", "i-003"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ((("status", "open"),), "status"),
        ((("direction", "sideways"),), "direction"),
        ((("channel", "pigeon"),), "channel"),
        ((("creationDate.gt", "yesterday"),), "creationDate.gt"),
        ((("creationDate.gt", "2026-11-26T09:00:00"),), "creationDate.gt"),  # no offset
        ((("offset", "-1"),), "offset"),
        ((("offset", "x"),), "offset"),
        ((("limit", "1001"),), "limit"),
        ((("sort", "id"),), "sort"),
        ((("relatedParty.name", "Ada"),), "relatedParty.name"),
        ((("status", " , "),), "status"),
    ],
)
def test_malformed_or_unsupported_parameters_are_refused(
    params: tuple[tuple[str, str], ...], parameter: str
) -> None:
    with pytest.raises(q.QueryError) as caught:
        q.parse_list_query(params)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(parameter + ":")


def test_defaults_and_the_internal_unbounded_limit() -> None:
    query = q.parse_list_query([])
    assert (query.offset, query.limit, query.fields) == (0, 100, None)
    assert q.parse_list_query([("limit", "5000")], bounded=False).limit == 5000
    assert q.parse_list_query([("limit", "0")]).limit == 0
    assert q.parse_top(None, 7) == 7 and q.parse_top("12", 7) == 12
    with pytest.raises(q.QueryError):
        q.parse_top("-3", 7)


# ---- paging, totals, fields -------------------------------------------------------------


def page_of(items: list[Interaction], *params: tuple[str, str]) -> q.Page:
    query = q.parse_list_query(params)
    total, first = q.top(items, query.filters, query.needed)
    return q.merge_pages([(total, [tmf683.resource(i) for i in first])], query)


def test_offset_limit_and_totals() -> None:
    result = page_of(SAMPLE, ("offset", "1"), ("limit", "2"))
    assert (result.total, ids(result.items)) == (4, ["i-002", "i-003"])
    result = page_of(SAMPLE, ("status", "inProgress"), ("offset", "1"), ("limit", "5"))
    assert (result.total, ids(result.items)) == (2, ["i-004"])
    result = page_of(SAMPLE, ("offset", "9"))
    assert (result.total, result.items) == (4, [])
    result = page_of(SAMPLE, ("limit", "0"))
    assert (result.total, result.items) == (4, [])


def test_same_creation_date_is_ordered_by_id() -> None:
    same = [interaction(0, ident=name) for name in ("b", "c", "a")]
    assert ids(page_of(same).items) == ["a", "b", "c"]


def test_fields_keep_the_identity() -> None:
    resource = tmf683.resource(SAMPLE[0])
    assert q.project(resource, None) == resource
    assert q.project(resource, q.parse_fields("status,channel")) == {
        "@type": "PartyInteraction",
        "id": "i-001",
        "href": f"{tmf683.BASE_PATH}/partyInteraction/i-001",
        "status": "completed",
    }
    assert set(q.project(resource, q.parse_fields("none"))) == {"@type", "id", "href"}
    assert q.parse_fields("") is None and q.parse_fields(None) is None
    result = page_of(SAMPLE, ("fields", "creationDate"), ("limit", "1"))
    assert result.items == [
        {
            "@type": "PartyInteraction",
            "id": "i-001",
            "href": f"{tmf683.BASE_PATH}/partyInteraction/i-001",
            "creationDate": "2026-11-26T09:00:00.000Z",
        }
    ]


def test_resource_order_agrees_with_interaction_order() -> None:
    for i in SAMPLE:
        assert q.resource_order_key(tmf683.resource(i)) == q.order_key(i)


# ---- properties -------------------------------------------------------------------------

population = st.lists(
    st.tuples(st.integers(0, 20), st.sampled_from(["inProgress", "completed"])),
    max_size=40,
).map(
    lambda rows: [
        interaction(n, at_s=at, status=status, ident=f"x{n}") for n, (at, status) in enumerate(rows)
    ]
)


@given(population, st.integers(1, 7), st.sampled_from([None, "inProgress"]))
def test_paging_never_loses_or_repeats_an_item(
    items: list[Interaction], limit: int, status: str | None
) -> None:
    params = [("status", status)] if status else []
    expected = sorted((i for i in items if status in (None, i.status)), key=q.order_key)
    seen: list[str] = []
    offset = 0
    while True:
        result = page_of(items, *params, ("offset", str(offset)), ("limit", str(limit)))
        assert result.total == len(expected)
        if not result.items:
            break
        assert len(result.items) <= limit
        seen.extend(ids(result.items))
        offset += limit
    assert seen == ids(expected)
    assert len(set(seen)) == len(seen)


@given(
    population,
    st.integers(1, 4),
    st.integers(0, 12),
    st.integers(0, 12),
    st.randoms(use_true_random=False),
)
def test_merging_the_parts_of_workers_gives_the_page_of_the_whole(
    items: list[Interaction], workers: int, offset: int, limit: int, rng: Any
) -> None:
    """Each worker supplies its count and first offset+limit matches; the merge is exact."""
    parts: list[list[Interaction]] = [[] for _ in range(workers)]
    for i in items:
        parts[rng.randrange(workers)].append(i)
    query = q.parse_list_query([("offset", str(offset)), ("limit", str(limit))])
    answers = []
    for part in parts:
        total, first = q.top(part, query.filters, query.needed)
        answers.append((total, [tmf683.resource(i) for i in first]))
    merged = q.merge_pages(answers, query)
    whole = sorted(items, key=q.order_key)
    assert merged.total == len(items)
    assert ids(merged.items) == ids(whole[offset : offset + limit])
