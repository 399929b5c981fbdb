"""Queue-position updates, pure: which waiting interactions get a new position decision now.

An update goes out when an interaction's position changed since the last one it was sent, at
most once per ``interval_ms`` of event time per interaction; a change held back goes out with
a later recompute (the stage's timer asks for one when nothing else happens).
"""

from __future__ import annotations

from collections.abc import Mapping

Figures = tuple[int, int | None]  # position (1: next), estimated wait in ms (None: unknown)
Sent = dict[str, tuple[int, int]]  # interaction -> (position last sent, when)


def position_updates(
    current: Mapping[str, Figures],
    sent: Mapping[str, tuple[int, int]],
    now_ms: int,
    interval_ms: int,
) -> tuple[list[str], Sent, bool]:
    """The interactions to send a position for now (in ``current``'s order), what was sent
    as of now (entries no longer waiting forgotten), and whether a change was held back."""
    out: list[str] = []
    kept: Sent = {}
    held = False
    for iid, figures in current.items():
        previous = sent.get(iid)
        if previous is not None:
            if previous[0] == figures[0]:
                kept[iid] = previous
                continue
            if now_ms - previous[1] < interval_ms:
                kept[iid] = previous
                held = True
                continue
        out.append(iid)
        kept[iid] = (figures[0], now_ms)
    return out, kept, held
