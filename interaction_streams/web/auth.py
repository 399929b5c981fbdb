"""Bearer-token authorisation of the write endpoints (RFC 6750), configured by ``CIM_API_*``.

``CIM_API_TOKENS="<token>=<scope> <scope>;<token2>=<scope>"`` gives each token its scopes;
``CIM_API_AUTH=disabled`` turns the check off (local use only). Scopes in use:
``partyInteraction:write`` (POST/PATCH of interactions) and ``hub:write`` (POST/DELETE /hub).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Literal

from faust.web import Request, Response, View, Web
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from interaction_streams.web.errors import tmf_error

log = logging.getLogger(__name__)

SCOPE_INTERACTION_WRITE = "partyInteraction:write"
SCOPE_HUB_WRITE = "hub:write"

Decision = Literal["allowed", "missing", "invalid", "forbidden"]


def parse_tokens(raw: str) -> dict[str, frozenset[str]]:
    """``"t1=a b;t2=c"`` → ``{"t1": {"a", "b"}, "t2": {"c"}}``; malformed entries raise."""
    tokens: dict[str, frozenset[str]] = {}
    for number, entry in enumerate(raw.split(";"), start=1):
        if not entry.strip():
            continue
        token, sep, scopes = entry.partition("=")
        token = token.strip()
        if not sep or not token or any(c.isspace() for c in token):
            # The entry itself is never shown: it holds a secret.
            raise ValueError(f"token entry {number}: expected <token>=<scope> <scope>...")
        if token in tokens:
            raise ValueError(f"token entry {number}: the same token is listed twice")
        tokens[token] = frozenset(scopes.split())
    return tokens


class ApiSettings(BaseSettings):
    """Authorisation of the HTTP API; environment variables with prefix ``CIM_API_``."""

    model_config = SettingsConfigDict(
        env_prefix="CIM_API_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    auth: Literal["required", "disabled"] = "required"
    tokens: SecretStr | None = None

    @field_validator("tokens")
    @classmethod
    def _well_formed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_tokens(value.get_secret_value())
        return value

    def token_scopes(self) -> dict[str, frozenset[str]]:
        return parse_tokens(self.tokens.get_secret_value()) if self.tokens else {}


class BearerAuth:
    """Checks ``Authorization: Bearer <token>`` against the configured tokens and scopes."""

    def __init__(self, settings: ApiSettings) -> None:
        self.required = settings.auth == "required"
        self._tokens = [(t.encode(), s) for t, s in settings.token_scopes().items()]
        if self.required and not self._tokens:
            log.warning("CIM_API_TOKENS is empty: every write request will be refused (401)")
        if not self.required:
            log.warning("CIM_API_AUTH=disabled: write endpoints accept requests without a token")

    def decide(self, authorization: str | None, scope: str) -> Decision:
        if not self.required:
            return "allowed"
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return "missing"
        presented = credentials.strip().encode()
        scopes: frozenset[str] | None = None
        for token, token_scopes in self._tokens:  # compare with every token: constant time
            if hmac.compare_digest(presented, token):
                scopes = token_scopes
        if scopes is None:
            return "invalid"
        return "allowed" if scope in scopes else "forbidden"

    def check(self, web_or_view: Web | View, request: Request, scope: str) -> Response | None:
        """None if the request may go on, else the 401 or 403 response to send."""
        decision = self.decide(request.headers.get("Authorization"), scope)
        if decision == "allowed":
            return None
        if decision == "forbidden":
            challenge = f'Bearer error="insufficient_scope", scope="{scope}"'
            return tmf_error(
                web_or_view,
                403,
                "insufficientScope",
                "Forbidden",
                f"the token does not grant the scope {scope}",
                headers=_challenge(challenge),
            )
        if decision == "invalid":
            return tmf_error(
                web_or_view,
                401,
                "invalidToken",
                "Unauthorized",
                "the bearer token is not valid",
                headers=_challenge('Bearer error="invalid_token"'),
            )
        return tmf_error(
            web_or_view,
            401,
            "missingToken",
            "Unauthorized",
            "send Authorization: Bearer <token>",
            headers=_challenge("Bearer"),
        )


def _challenge(value: str) -> Mapping[str, str]:
    return {"WWW-Authenticate": value}
