"""Bearer tokens of the write endpoints: parsing, settings, scope decisions and responses."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import faust
import orjson
import pytest
from faust.web import Request
from pydantic import SecretStr, ValidationError

from interaction_streams.web.auth import (
    SCOPE_HUB_WRITE,
    SCOPE_INTERACTION_WRITE,
    ApiSettings,
    BearerAuth,
    parse_tokens,
)

TOKENS = "w-token=hub:write partyInteraction:write; r-token=partyInteraction:read ;"


def auth(tokens: str | None = TOKENS, mode: str = "required") -> BearerAuth:
    return BearerAuth(
        ApiSettings.model_validate(
            {"auth": mode, "tokens": SecretStr(tokens) if tokens is not None else None}
        )
    )


def test_tokens_parse_into_scopes() -> None:
    assert parse_tokens(TOKENS) == {
        "w-token": {SCOPE_HUB_WRITE, SCOPE_INTERACTION_WRITE},
        "r-token": {"partyInteraction:read"},
    }
    assert parse_tokens("") == {}
    assert parse_tokens("t=") == {"t": frozenset()}
    assert parse_tokens("a=b=c x") == {"a": {"b=c", "x"}}  # the first '=' separates


@pytest.mark.parametrize("raw", ["no-scopes", "=hub:write", "a b=hub:write", "t=x;t=y"])
def test_malformed_tokens_are_refused_without_showing_them(raw: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_tokens(raw)
    assert "entry" in str(caught.value)
    for secret in ("no-scopes", "a b"):
        assert secret not in str(caught.value)


def test_settings_come_from_the_environment_and_hide_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CIM_API_TOKENS", "s3cret=hub:write")
    monkeypatch.delenv("CIM_API_AUTH", raising=False)
    settings = ApiSettings()
    assert settings.auth == "required"
    assert settings.token_scopes() == {"s3cret": {SCOPE_HUB_WRITE}}
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    monkeypatch.setenv("CIM_API_TOKENS", "s3cret")
    with pytest.raises(ValidationError) as caught:
        ApiSettings()
    assert "s3cret" not in str(caught.value)
    monkeypatch.setenv("CIM_API_AUTH", "maybe")
    with pytest.raises(ValidationError):
        ApiSettings()


@pytest.mark.parametrize(
    ("header", "scope", "decision"),
    [
        ("Bearer w-token", SCOPE_HUB_WRITE, "allowed"),
        ("bearer   w-token ", SCOPE_INTERACTION_WRITE, "allowed"),
        ("Bearer r-token", SCOPE_HUB_WRITE, "forbidden"),
        ("Bearer r-token", "partyInteraction:read", "allowed"),
        ("Bearer w-token2", SCOPE_HUB_WRITE, "invalid"),
        ("Bearer w-toke", SCOPE_HUB_WRITE, "invalid"),
        ("Bearer ünïcode", SCOPE_HUB_WRITE, "invalid"),
        ("Basic dzp0b2tlbg==", SCOPE_HUB_WRITE, "missing"),
        ("Bearer", SCOPE_HUB_WRITE, "missing"),
        ("w-token", SCOPE_HUB_WRITE, "missing"),
        ("", SCOPE_HUB_WRITE, "missing"),
        (None, SCOPE_HUB_WRITE, "missing"),
    ],
)
def test_decisions(header: str | None, scope: str, decision: str) -> None:
    assert auth().decide(header, scope) == decision


def test_without_tokens_nothing_is_allowed_unless_auth_is_disabled() -> None:
    assert auth(None).decide("Bearer anything", SCOPE_HUB_WRITE) == "invalid"
    assert auth(None, "disabled").decide(None, SCOPE_HUB_WRITE) == "allowed"


def request(authorization: str | None = None) -> Request:
    headers = {} if authorization is None else {"Authorization": authorization}
    return cast(Request, SimpleNamespace(headers=headers))


def test_responses_are_tmf_errors_with_a_bearer_challenge() -> None:
    web = faust.App("auth-test").web
    bearer = auth()
    assert bearer.check(web, request("Bearer w-token"), SCOPE_HUB_WRITE) is None

    missing = bearer.check(web, request(), SCOPE_HUB_WRITE)
    assert missing is not None and missing.status == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert orjson.loads(missing.body) == {
        "@type": "Error",
        "code": "missingToken",
        "reason": "Unauthorized",
        "message": "send Authorization: Bearer <token>",
        "status": "401",
    }

    invalid = bearer.check(web, request("Bearer nope"), SCOPE_HUB_WRITE)
    assert invalid is not None and invalid.status == 401
    assert invalid.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'

    forbidden = bearer.check(web, request("Bearer r-token"), SCOPE_HUB_WRITE)
    assert forbidden is not None and forbidden.status == 403
    assert "insufficient_scope" in forbidden.headers["WWW-Authenticate"]
    body = orjson.loads(forbidden.body)
    assert (body["code"], body["status"]) == ("insufficientScope", "403")
