"""What the live view and the closing report show, folded from the product's outputs
(``cim.routing.decisions.v1``, ``cim.work.assignments.v1``, dead letters, escalations) and the
simulated agents' presence. Pure: records in, figures out; the simulated clock is passed in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from interaction_streams.domain.routing.policy import RoutingPolicy


def _ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class QueueFigures:
    waiting: dict[str, int] = field(default_factory=dict)  # interaction -> queued since (ms)
    answered: int = 0
    within_sl: int = 0
    abandoned: int = 0
    offers: int = 0
    wait_total_ms: int = 0

    def oldest_ms(self, now_ms: int) -> int:
        return max((now_ms - t for t in self.waiting.values()), default=0)

    @property
    def service_level(self) -> float | None:
        return (
            None
            if not self.answered + self.abandoned
            else self.within_sl / (self.answered + self.abandoned)
        )


@dataclass
class Dashboard:
    """Service level counts answered within the queue's target over answered + abandoned
    (abandoned contacts count against it, as most contact centers report it)."""

    policy: RoutingPolicy | None = None
    queues: dict[str, QueueFigures] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # interaction -> queue now
    assignments: Counter[str] = field(default_factory=Counter)  # by kind
    decisions: Counter[str] = field(default_factory=Counter)  # by reason
    dead_letters: Counter[str] = field(default_factory=Counter)  # by reason
    escalations: int = 0
    seen_ids: set[str] = field(default_factory=set)

    def target_ms(self, queue: str) -> int:
        q = self.policy.queues.get(queue) if self.policy else None
        return int((q.service_level.within_seconds if q else 20.0) * 1000)

    def queue(self, name: str) -> QueueFigures:
        return self.queues.setdefault(name, QueueFigures())

    def on_decision(self, d: Mapping[str, Any]) -> None:
        if d.get("id") in self.seen_ids:
            return  # a duplicate a restart re-sent
        self.seen_ids.add(str(d.get("id")))
        iid, kind, name = str(d["interactionId"]), d.get("kind"), str(d["queue"])
        self.decisions[str(d.get("reason"))] += 1
        if kind in ("queued", "position"):
            before = self.where.get(iid)
            since = self.queues[before].waiting.pop(iid, None) if before else None
            start = since if since is not None else _ms(str(d["at"]))
            self.queue(name).waiting[iid] = start
            self.where[iid] = name
        elif kind == "dequeued":
            self._left(iid, str(d.get("reason")), _ms(str(d["at"])))

    def _left(self, iid: str, reason: str, at_ms: int) -> None:
        """The interaction left its queue: answered (assigned to an agent) or abandoned."""
        name = self.where.pop(iid, None)
        if name is None:
            return
        q = self.queue(name)
        since = q.waiting.pop(iid, None)
        if since is None:
            return
        waited = at_ms - since
        if reason == "answered":
            q.answered += 1
            q.wait_total_ms += waited
            q.within_sl += waited <= self.target_ms(name)
        elif reason == "abandoned":
            q.abandoned += 1

    def on_assignment(self, a: Mapping[str, Any]) -> None:
        if a.get("id") in self.seen_ids:
            return
        self.seen_ids.add(str(a.get("id")))
        self.assignments[str(a["kind"])] += 1
        if a["kind"] == "offer" and a.get("queue"):
            self.queue(str(a["queue"])).offers += 1
        if a["kind"] == "assign" and a.get("interactionId"):
            self._left(str(a["interactionId"]), "answered", _ms(str(a["at"])))

    def on_dead_letter(self, letter: Mapping[str, Any]) -> None:
        self.dead_letters[str(letter.get("reason", "?"))] += 1

    def on_escalation(self, _: Mapping[str, Any]) -> None:
        self.escalations += 1

    # ------------------------------------------------------------------ totals

    @property
    def answered(self) -> int:
        return sum(q.answered for q in self.queues.values())

    @property
    def abandoned(self) -> int:
        return sum(q.abandoned for q in self.queues.values())

    @property
    def waiting(self) -> int:
        return sum(len(q.waiting) for q in self.queues.values())

    @property
    def service_level(self) -> float | None:
        done = self.answered + self.abandoned
        return None if not done else sum(q.within_sl for q in self.queues.values()) / done
