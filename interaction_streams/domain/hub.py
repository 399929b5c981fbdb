"""TMF630 hub: subscriptions, their ``eventType`` queries, event matching and delivery policy.

Pure: no I/O, the caller passes the clock. A subscription's ``query`` selects event types,
``eventType=A,B`` or ``eventType=A&eventType=B`` (either means A or B); an empty or absent
query selects every event. Other attributes are not supported and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import orjson
from pydantic import AfterValidator, Field

from interaction_streams.contract.base import WireModel

EVENT_TYPES: tuple[str, ...] = (
    "PartyInteractionCreateEvent",
    "PartyInteractionAttributeValueChangeEvent",
    "PartyInteractionStatusChangeEvent",
    "PartyInteractionDeleteEvent",
)
MAX_CALLBACK_LENGTH = 2048


class InvalidSubscription(ValueError):
    """A callback or query the hub cannot accept (answered with 400)."""


def parse_query(query: str | None) -> frozenset[str] | None:
    """The event types a query selects; None selects every event."""
    text = (query or "").strip().removeprefix("?")
    if not text:
        return None
    selected: set[str] = set()
    for part in text.split("&"):
        name, sep, values = part.partition("=")
        name = unquote_plus(name).strip()
        if not sep or name != "eventType":
            raise InvalidSubscription(
                f"unsupported query term {part!r}: use eventType=<type>[,<type>...]"
            )
        for value in unquote_plus(values).split(","):
            event_type = value.strip()
            if event_type not in EVENT_TYPES:
                raise InvalidSubscription(
                    f"unknown eventType {event_type!r}: expected one of {', '.join(EVENT_TYPES)}"
                )
            selected.add(event_type)
    return frozenset(selected)


def validate_callback(callback: str) -> str:
    """An absolute http(s) URL with a host and no fragment."""
    if len(callback) > MAX_CALLBACK_LENGTH:
        raise InvalidSubscription(f"callback longer than {MAX_CALLBACK_LENGTH} characters")
    try:
        parts = urlsplit(callback)
        _ = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError as exc:
        raise InvalidSubscription(f"callback is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSubscription("callback must be an absolute http or https URL")
    if parts.fragment or any(c.isspace() for c in callback):
        raise InvalidSubscription("callback must not contain a fragment or white space")
    return callback


def event_name(event_type: str) -> str:
    """The listener name of an event type: ``PartyInteractionCreateEvent`` → ``partyInt…``."""
    return event_type[:1].lower() + event_type[1:]


def listener_url(callback: str, event_type: str) -> str:
    """``{callback}/listener/{eventName}``, keeping the callback's own query string."""
    parts = urlsplit(callback)
    path = parts.path.rstrip("/") + "/listener/" + event_name(event_type)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def event_type_of(value: bytes | None) -> str | None:
    """The ``eventType`` (else ``@type``) of a TMF event's JSON, None if unreadable."""
    if not value:
        return None
    try:
        event: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    found = event.get("eventType") or event.get("@type")
    return found if isinstance(found, str) and found.isidentifier() else None


def _checked_query(query: str | None) -> str | None:
    parse_query(query)
    return query


Callback = Annotated[str, AfterValidator(validate_callback)]
Query = Annotated[str | None, AfterValidator(_checked_query)]


class HubRequest(WireModel):
    """The body of ``POST /hub`` (TMF630 ``Hub_FVO``); ``@type`` and unknown fields ignored."""

    callback: Callback
    query: Query = None


class Subscription(WireModel):
    """A registered listener: the value on ``cim.hub.subscriptions.v1`` (key: its id)."""

    id: str = Field(min_length=1)
    callback: Callback
    query: Query = None

    @cached_property
    def event_types(self) -> frozenset[str] | None:
        return parse_query(self.query)

    def matches(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types


def should_retry(status: int | None) -> bool:
    """Retry on no answer (None: connection error or timeout), 5xx and 429."""
    return status is None or status >= 500 or status == 429


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Wait after failed attempt ``attempt`` (1-based): base, 2·base, 4·base … at most cap."""
    return float(min(cap, base * 2 ** (attempt - 1)))


@dataclass
class Breakers:
    """Per subscriber: after ``threshold`` deliveries in a row given up, skip it for
    ``cooldown`` seconds; the first delivery after the cool-down is a trial (a failure
    opens the breaker again at once, a success closes it)."""

    threshold: int
    cooldown: float
    failures: dict[str, int] = field(default_factory=dict)
    open_until: dict[str, float] = field(default_factory=dict)

    def allows(self, subscriber: str, now: float) -> bool:
        return now >= self.open_until.get(subscriber, 0.0)

    def succeeded(self, subscriber: str) -> None:
        self.forget(subscriber)

    def failed(self, subscriber: str, now: float) -> bool:
        """Record a delivery given up; True when the breaker opens."""
        count = self.failures.get(subscriber, 0) + 1
        self.failures[subscriber] = count
        if count >= self.threshold:
            self.open_until[subscriber] = now + self.cooldown
            return True
        return False

    def forget(self, subscriber: str) -> None:
        self.failures.pop(subscriber, None)
        self.open_until.pop(subscriber, None)
