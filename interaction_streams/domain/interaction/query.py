"""Listing interactions (TMF683 ``GET /partyInteraction``): filters, a stable order, paging
and attribute selection, as pure functions.

Each worker holds some partitions. It filters its interactions (``Filters.matches``),
keeps its first ``offset + limit`` in the list order (``top``) and counts all its matches;
the worker that received the request merges those slices (``merge_pages``): the first
``offset + limit`` items of the union are always among the first ``offset + limit`` of
every part, so the merged page is the page of the whole list.

The order is ``creationDate`` then ``id``: a total order, so consecutive pages neither
repeat nor lose an item while the set is unchanged.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from interaction_streams.domain.interaction.model import Channel, Interaction, SidStatus

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
ALWAYS_KEPT = ("id", "href", "@type")
STATUSES = frozenset(get_args(SidStatus))
DIRECTIONS = frozenset({"inbound", "outbound"})
CHANNELS = frozenset(get_args(Channel))

_PARTY = ("relatedParty.id", "relatedPartyId", "relatedParty.partyOrPartyRole.id")
_CHANNEL = ("channel", "relatedChannel.channel.id", "relatedChannel.channel.name")
_CREATED = {
    "creationDate.gt": "gt",
    "creationDate.gte": "gte",
    "creationDate.lt": "lt",
    "creationDate.lte": "lte",
}
PARAMETERS = frozenset(
    {*_PARTY, *_CHANNEL, *_CREATED, "status", "direction", "fields", "offset", "limit"}
)
# A query string decodes "+" to a space: "...T10:00:00 01:00" is "...T10:00:00+01:00".
_LOST_PLUS = re.compile(r" (\d{2}:\d{2})$")


class QueryError(ValueError):
    """A query parameter is malformed or unsupported; the message names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True)
class Filters:
    """Every given criterion must hold; the values of one criterion are alternatives."""

    party_ids: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    directions: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    # creationDate bounds, in microseconds since the epoch
    created_gt_us: int | None = None
    created_gte_us: int | None = None
    created_lt_us: int | None = None
    created_lte_us: int | None = None

    def matches(self, i: Interaction) -> bool:
        if self.statuses and i.status not in self.statuses:
            return False
        if self.directions and i.direction not in self.directions:
            return False
        if self.channels and i.channel not in self.channels:
            return False
        if self.party_ids and not any(p.party_id in self.party_ids for p in i.participants):
            return False
        created = i.created_ms * 1000
        return not (
            (self.created_gt_us is not None and created <= self.created_gt_us)
            or (self.created_gte_us is not None and created < self.created_gte_us)
            or (self.created_lt_us is not None and created >= self.created_lt_us)
            or (self.created_lte_us is not None and created > self.created_lte_us)
        )


@dataclass(frozen=True)
class ListQuery:
    filters: Filters = field(default_factory=Filters)
    fields: frozenset[str] | None = None  # None: every attribute
    offset: int = 0
    limit: int = DEFAULT_LIMIT

    @property
    def needed(self) -> int:
        """How many of the first matches make the page: what each part must supply."""
        return self.offset + self.limit


@dataclass(frozen=True)
class Page:
    total: int  # matches before paging (X-Total-Count)
    items: list[dict[str, Any]]  # the page (its length is X-Result-Count)


# ---- parsing ----------------------------------------------------------------------------


def parse_instant_us(parameter: str, text: str) -> int:
    """An RFC 3339 date-time with an offset, in microseconds since the epoch."""
    value = _LOST_PLUS.sub(r"+\1", text.strip())
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(parameter, f"{text!r} is not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise QueryError(parameter, f"{text!r} needs a time zone offset (Z or +hh:mm)")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _values(parameter: str, raw: Iterable[str], allowed: frozenset[str] | None) -> frozenset[str]:
    values = {v.strip() for item in raw for v in item.split(",") if v.strip()}
    if not values:
        raise QueryError(parameter, "needs a value")
    if allowed is not None:
        wrong = sorted(values - allowed)
        if wrong:
            raise QueryError(parameter, f"{wrong[0]!r} is not one of {', '.join(sorted(allowed))}")
    return frozenset(values)


def _int(parameter: str, raw: str, low: int, high: int | None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise QueryError(parameter, f"{raw!r} is not an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise QueryError(parameter, f"must be {bound}")
    return value


def parse_fields(raw: str | None) -> frozenset[str] | None:
    """``fields=a,b`` → {a, b}; absent or empty → None (all); ``none`` → only the identity."""
    if raw is None or not raw.strip():
        return None
    names = {n.strip() for n in raw.split(",") if n.strip()}
    names.discard("none")
    return frozenset(names)


def parse_list_query(params: Iterable[tuple[str, str]], *, bounded: bool = True) -> ListQuery:
    """The query of ``GET /partyInteraction``; unknown parameters are refused, not ignored
    (a filter silently ignored would return a wrong list). ``bounded=False`` lifts the
    limit's maximum (the internal query between workers)."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    unknown = sorted(set(grouped) - PARAMETERS)
    if unknown:
        raise QueryError(
            unknown[0], f"unsupported query parameter; supported: {', '.join(sorted(PARAMETERS))}"
        )
    created: dict[str, int] = {}
    for name, bound in _CREATED.items():
        if name in grouped:  # repeated: the narrowest bound holds
            instants = [parse_instant_us(name, v) for v in grouped[name]]
            created[bound] = max(instants) if bound in ("gt", "gte") else min(instants)
    party = [v for name in _PARTY for v in grouped.get(name, ())]
    channel = [v for name in _CHANNEL for v in grouped.get(name, ())]
    filters = Filters(
        party_ids=_values("relatedParty.id", party, None) if party else frozenset(),
        statuses=(
            _values("status", grouped["status"], STATUSES) if "status" in grouped else frozenset()
        ),
        directions=(
            _values("direction", grouped["direction"], DIRECTIONS)
            if "direction" in grouped
            else frozenset()
        ),
        channels=_values("channel", channel, CHANNELS) if channel else frozenset(),
        created_gt_us=created.get("gt"),
        created_gte_us=created.get("gte"),
        created_lt_us=created.get("lt"),
        created_lte_us=created.get("lte"),
    )
    last = {name: values[-1] for name, values in grouped.items()}
    return ListQuery(
        filters=filters,
        fields=parse_fields(last.get("fields")),
        offset=_int("offset", last["offset"], 0, None) if "offset" in last else 0,
        limit=(
            _int("limit", last["limit"], 0, MAX_LIMIT if bounded else None)
            if "limit" in last
            else DEFAULT_LIMIT
        ),
    )


def parse_top(raw: str | None, default: int) -> int:
    """How many first matches a part of a list must supply (between workers)."""
    return default if raw is None else _int("top", raw, 0, None)


# ---- order, selection, paging -----------------------------------------------------------


def order_key(i: Interaction) -> tuple[int, str]:
    return (i.created_ms, i.id)


def resource_order_key(resource: Mapping[str, Any]) -> tuple[int, str]:
    """The order of a rendered resource: the same as ``order_key`` of its interaction."""
    created_us = parse_instant_us("creationDate", str(resource["creationDate"]))
    return (created_us // 1000, str(resource["id"]))


def top(
    interactions: Iterable[Interaction], filters: Filters, needed: int
) -> tuple[int, list[Interaction]]:
    """How many match, and the first ``needed`` of them in the list order."""
    matching = [i for i in interactions if filters.matches(i)]
    return len(matching), heapq.nsmallest(needed, matching, key=order_key)


def page(items: Sequence[Any], offset: int, limit: int) -> list[Any]:
    return list(items[offset : offset + limit])


def project(resource: Mapping[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    """Attribute selection on first-level attributes; ``id``, ``href``, ``@type`` stay."""
    if fields is None:
        return dict(resource)
    wanted = fields | set(ALWAYS_KEPT)
    return {k: v for k, v in resource.items() if k in wanted}


def merge_pages(parts: Iterable[tuple[int, Sequence[Mapping[str, Any]]]], query: ListQuery) -> Page:
    """The page of the whole list from each part's (total, first ``query.needed`` items)."""
    total = 0
    merged: list[Mapping[str, Any]] = []
    for part_total, items in parts:
        total += part_total
        merged.extend(items)
    merged.sort(key=resource_order_key)
    chosen = page(merged, query.offset, query.limit)
    return Page(total, [project(r, query.fields) for r in chosen])
