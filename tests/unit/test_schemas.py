"""The JSON Schemas in schemas/ are generated from the models and validate real events."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
import pytest

from interaction_streams.contract import schemas
from interaction_streams.demo import sample_records

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(("relative", "schema"), list(schemas.all_schemas()))
def test_checked_in_schema_matches_the_models(relative: str, schema: dict[str, object]) -> None:
    path = ROOT / "schemas" / relative
    assert path.read_text() == schemas.render(schema), (
        f"{path} drifted from the models: run `interaction-streams schemas export`"
    )


def _validator(family: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "events" / f"{family}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


FAMILY_OF_TOPIC = {
    "channel-events": "channel",
    "agent-events": "agent",
    "business-events": "business",
    "customer-profile": "profile",
    "channel-health": "health",
}


def test_sample_events_validate_against_their_family_schema() -> None:
    checked = 0
    for topic_id, records in sample_records().items():
        validator = _validator(FAMILY_OF_TOPIC[topic_id])
        for _key, value, _headers in records:
            try:
                event = orjson.loads(value or b"")
            except orjson.JSONDecodeError:
                continue  # the demo's deliberately malformed record
            validator.validate(event)
            checked += 1
    assert checked >= 10


def test_schema_rejects_bad_data_for_the_type() -> None:
    validator = _validator("channel")
    event = {
        "specversion": "1.0",
        "id": "e",
        "source": "s",
        "type": "cim.interaction.csat.recorded",
        "time": "2026-11-26T09:00:00Z",
        "data": {"interactionId": "c", "score": 9},
    }
    errors = list(validator.iter_errors(event))
    assert errors and any("9" in e.message for e in errors)
    event["type"] = "cim.not.a.type"
    assert list(validator.iter_errors(event))
