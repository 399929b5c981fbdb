"""The pure TMF630 hub: queries, matching, callbacks, listener URLs and the delivery policy."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from interaction_streams.domain.hub import (
    EVENT_TYPES,
    Breakers,
    HubRequest,
    InvalidSubscription,
    Subscription,
    backoff_seconds,
    event_name,
    event_type_of,
    listener_url,
    parse_query,
    should_retry,
    validate_callback,
)

CREATE, CHANGE, STATUS, DELETE = EVENT_TYPES


@pytest.mark.parametrize("query", [None, "", "   ", "?"])
def test_empty_query_selects_every_event(query: str | None) -> None:
    assert parse_query(query) is None
    subscription = Subscription(id="s", callback="http://h/cb", query=query)
    assert all(subscription.matches(t) for t in [*EVENT_TYPES, "SomethingNewEvent"])


@pytest.mark.parametrize(
    "query",
    [
        f"eventType={CREATE},{STATUS}",
        f"eventType={CREATE}&eventType={STATUS}",
        f"?eventType = {CREATE} , {STATUS} ",
        f"eventType={CREATE}%2C{STATUS}",
    ],
)
def test_comma_and_repeated_terms_mean_or(query: str) -> None:
    assert parse_query(query) == frozenset({CREATE, STATUS})
    subscription = Subscription(id="s", callback="http://h/cb", query=query)
    assert subscription.matches(CREATE) and subscription.matches(STATUS)
    assert not subscription.matches(CHANGE) and not subscription.matches(DELETE)


@pytest.mark.parametrize(
    "query",
    [
        "eventType=",
        "eventType=PartyInteractionCreateEvent,",
        "eventType=partyInteractionCreateEvent",  # the type, not the listener name
        "eventType=TroubleTicketCreateEvent",
        "eventType",
        "status=completed",
        f"eventType={CREATE}&status=completed",
        "event.partyInteraction.status=completed",
    ],
)
def test_invalid_query_is_refused(query: str) -> None:
    with pytest.raises(InvalidSubscription):
        parse_query(query)
    with pytest.raises(ValidationError):
        HubRequest(callback="http://h/cb", query=query)


@given(
    st.lists(st.sampled_from(EVENT_TYPES), min_size=1, max_size=6),
    st.booleans(),
    st.sampled_from(["", " ", "  "]),
)
def test_any_spelling_of_a_selection_selects_exactly_it(
    chosen: list[str], repeat_terms: bool, pad: str
) -> None:
    if repeat_terms:
        query = "&".join(f"eventType={pad}{t}{pad}" for t in chosen)
    else:
        query = "eventType=" + ",".join(pad + t + pad for t in chosen)
    subscription = Subscription(id="s", callback="https://h", query=query)
    for event_type in EVENT_TYPES:
        assert subscription.matches(event_type) == (event_type in chosen)


@given(st.text(max_size=40))
def test_parse_query_only_ever_selects_known_types_or_refuses(text: str) -> None:
    try:
        selected = parse_query(text)
    except InvalidSubscription:
        return
    assert selected is None or (selected and selected <= set(EVENT_TYPES))


@pytest.mark.parametrize(
    "callback",
    [
        "http://127.0.0.1:9000/cb",
        "https://listener.example.com",
        "https://listener.example.com/tmf/?token=abc",
        "http://[::1]:8080/x",
    ],
)
def test_http_and_https_callbacks_are_accepted(callback: str) -> None:
    assert validate_callback(callback) == callback


@pytest.mark.parametrize(
    "callback",
    [
        "",
        "listener.example.com/cb",
        "/relative/path",
        "ftp://listener.example.com/cb",
        "mailto:ops@example.com",
        "http://",
        "http://host:99999/cb",
        "http://host:port/cb",
        "http://host/cb#fragment",
        "http://host/c b",
        "https://host/" + "x" * 2048,
    ],
)
def test_other_callbacks_are_refused(callback: str) -> None:
    with pytest.raises(InvalidSubscription):
        validate_callback(callback)
    with pytest.raises(ValidationError) as caught:
        HubRequest(callback=callback)
    assert caught.value.errors()[0]["loc"] == ("callback",)


def test_hub_request_ignores_type_and_unknown_fields_and_needs_a_callback() -> None:
    request = HubRequest.model_validate({"@type": "Hub", "callback": "http://h", "x": 1})
    assert request == HubRequest(callback="http://h", query=None)
    with pytest.raises(ValidationError):
        HubRequest.model_validate({"query": "eventType=" + CREATE})


def test_subscription_round_trips_through_its_topic_json() -> None:
    subscription = Subscription(id="s-1", callback="http://h/cb", query="eventType=" + STATUS)
    wire = orjson.dumps(subscription.model_dump(mode="json", exclude_none=True))
    assert orjson.loads(wire) == {
        "id": "s-1",
        "callback": "http://h/cb",
        "query": subscription.query,
    }
    again = Subscription.model_validate_json(wire)
    assert again == subscription and again.event_types == frozenset({STATUS})
    with pytest.raises(ValidationError):
        Subscription.model_validate_json(b'{"id": "", "callback": "http://h"}')


def test_listener_url_appends_the_event_name_to_the_callback_path() -> None:
    assert event_name(STATUS) == "partyInteractionStatusChangeEvent"
    assert (
        listener_url("http://h:1/cb", CREATE)
        == "http://h:1/cb/listener/partyInteractionCreateEvent"
    )
    assert (
        listener_url("http://h/cb/", DELETE) == "http://h/cb/listener/partyInteractionDeleteEvent"
    )
    assert listener_url("https://h", CHANGE) == (
        "https://h/listener/partyInteractionAttributeValueChangeEvent"
    )
    assert listener_url("https://h/t?k=v", CREATE) == (
        "https://h/t/listener/partyInteractionCreateEvent?k=v"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'{"eventType": "PartyInteractionCreateEvent", "@type": "X"}', CREATE),
        (b'{"@type": "PartyInteractionDeleteEvent"}', DELETE),
        (b'{"eventType": "a/../b"}', None),
        (b'{"eventType": 3}', None),
        (b"[1]", None),
        (b"not json", None),
        (b"", None),
        (None, None),
    ],
)
def test_event_type_of_an_event(value: bytes | None, expected: str | None) -> None:
    assert event_type_of(value) == expected


@pytest.mark.parametrize(
    ("status", "retry"),
    [(None, True), (500, True), (503, True), (429, True), (400, False), (404, False), (410, False)],
)
def test_retry_on_no_answer_5xx_and_429_only(status: int | None, retry: bool) -> None:
    assert should_retry(status) is retry


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_seconds(n, 0.2, 1.0) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_breaker_skips_a_failing_subscriber_for_the_cooldown_then_tries_again() -> None:
    breakers = Breakers(threshold=3, cooldown=60.0)
    assert not breakers.failed("s", 0.0) and not breakers.failed("s", 1.0)
    assert breakers.allows("s", 2.0) and breakers.allows("other", 2.0)
    assert breakers.failed("s", 2.0)  # third in a row: open
    assert not breakers.allows("s", 61.9) and breakers.allows("other", 3.0)
    assert breakers.allows("s", 62.0)  # the trial after the cool-down
    assert breakers.failed("s", 62.5)  # failed again: open again at once
    assert not breakers.allows("s", 100.0) and breakers.allows("s", 122.5)
    breakers.succeeded("s")
    assert breakers.allows("s", 122.6) and not breakers.failed("s", 123.0)


def test_a_success_resets_the_count() -> None:
    breakers = Breakers(threshold=2, cooldown=10.0)
    breakers.failed("s", 0.0)
    breakers.succeeded("s")
    assert not breakers.failed("s", 1.0) and breakers.allows("s", 1.0)
