"""Error responses in the TM Forum format (TMF630: ``Error`` with code, reason and message)."""

from __future__ import annotations

from collections.abc import Mapping

from faust.web import Response, View, Web
from pydantic import ValidationError


def tmf_error(
    web_or_view: Web | View,
    status: int,
    code: str,
    reason: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``{"@type": "Error", "code", "reason", "message", "status"}`` with that HTTP status.

    ``code`` is a short machine-readable name (``invalidQuery``), ``reason`` a short
    human-readable phrase, ``message`` the detail and how to correct it.
    """
    body = {
        "@type": "Error",
        "code": code,
        "reason": reason,
        "message": message,
        "status": str(status),
    }
    return web_or_view.json(body, status=status, headers=dict(headers) if headers else None)


def validation_message(error: ValidationError) -> str:
    """A pydantic error as one line per field: ``callback: must be an http or https URL``."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        lines.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)
