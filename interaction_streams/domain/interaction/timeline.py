"""Event-time ordering for one interaction: a checkpoint plus a re-orderable tail.

Events within ``lateness_ms`` of the newest event time are kept in a sorted tail and the
interaction is re-folded from the checkpoint, so any arrival order within the bound gives
the state that time order gives. Older events are folded into the checkpoint as they come
(counted as late). Duplicates (same event id) change nothing.
"""

from __future__ import annotations

from functools import reduce
from typing import Literal

from interaction_streams.contract.base import WireModel
from interaction_streams.domain.interaction.lifecycle import START_CHANNEL, Stimulus, apply
from interaction_streams.domain.interaction.model import Interaction

Admission = Literal["applied", "late", "duplicate"]
RECENT_IDS = 256  # ids remembered after they leave the tail

# Ties on the same millisecond are broken by where a type sits in a contact's life.
_RANK = {
    **dict.fromkeys(START_CHANNEL, 0),
    "cim.voice.ivr.started": 1,
    "cim.voice.ivr.completed": 2,
    "cim.interaction.queued": 3,
    "cim.interaction.agent.offered": 4,
    "cim.interaction.answered": 5,
    "cim.interaction.ended": 8,
    "cim.interaction.abandoned": 8,
    "cim.selfservice.contained": 8,
    "cim.interaction.wrapup.completed": 9,
}


def order_key(stim: Stimulus) -> tuple[int, int, str]:
    return (stim.time_ms, _RANK.get(stim.type, 6), stim.id)


class Timeline(WireModel):
    """The table value of the interaction stage."""

    checkpoint: Interaction | None = None
    checkpoint_ms: int | None = None  # the watermark: every event at or before it is folded
    tail: tuple[Stimulus, ...] = ()
    recent_ids: tuple[str, ...] = ()
    current: Interaction | None = None
    late_events: int = 0


def admit(
    timeline: Timeline | None, stim: Stimulus, lateness_ms: int
) -> tuple[Timeline, Admission]:
    tl = timeline or Timeline()
    if stim.id in tl.recent_ids or any(s.id == stim.id for s in tl.tail):
        return tl, "duplicate"
    if tl.checkpoint_ms is not None and stim.time_ms <= tl.checkpoint_ms:
        checkpoint = apply(tl.checkpoint, stim)
        tl = tl.model_copy(
            update={
                "checkpoint": checkpoint,
                "recent_ids": (*tl.recent_ids, stim.id)[-RECENT_IDS:],
                "late_events": tl.late_events + 1,
            }
        )
        admission: Admission = "late"
    else:
        in_order = not tl.tail or order_key(stim) >= order_key(tl.tail[-1])
        tail = (*tl.tail, stim) if in_order else tuple(sorted((*tl.tail, stim), key=order_key))
        tl = tl.model_copy(update={"tail": tail})
        admission = "applied"
        if in_order:  # the common case: one more step, no re-fold
            return _advance(
                tl.model_copy(update={"current": apply(tl.current, stim)}), lateness_ms
            ), admission
    tl = _advance(tl, lateness_ms)
    current = reduce(apply, tl.tail, tl.checkpoint) if tl.tail else tl.checkpoint
    return tl.model_copy(update={"current": current}), admission


def _advance(tl: Timeline, lateness_ms: int) -> Timeline:
    """Fold the events older than the watermark into the checkpoint."""
    if not tl.tail:
        return tl
    watermark = max(tl.tail[-1].time_ms - lateness_ms, tl.checkpoint_ms or -(2**62))
    settled = [s for s in tl.tail if s.time_ms <= watermark]
    if not settled:
        return tl.model_copy(update={"checkpoint_ms": watermark})
    checkpoint = reduce(apply, settled, tl.checkpoint)
    return tl.model_copy(
        update={
            "checkpoint": checkpoint,
            "checkpoint_ms": watermark,
            "tail": tl.tail[len(settled) :],
            "recent_ids": (*tl.recent_ids, *(s.id for s in settled))[-RECENT_IDS:],
        }
    )
