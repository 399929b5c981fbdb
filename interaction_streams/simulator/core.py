"""The simulator's core: a deterministic discrete-event simulation of a contact center's
platform (customers, IVR, bots, agents' desktops). No Kafka, no I/O, no wall clock.

Given the scenario, the seed and the product's work assignments fed in order (each with the
simulated time it was seen), ``advance`` returns the same events with the same simulated
timestamps every time. The customers' side draws from random streams of its own (per channel
for arrivals, per interaction for everything about that contact), so the traffic offered to
the product does not depend on the product's decisions; only the agents' reactions do.

The agents react to ``cim.work.assignments.v1``: an offer rings for a while and is accepted
(or rejected); an accepted contact is answered, maybe held, maybe transferred, ended, and
wrapped up; the agent reports ``cim.agent.work.completed`` when the contact ends.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from interaction_streams.contract.routing import WorkAssignment
from interaction_streams.simulator.population import (
    Customer,
    SimAgentSpec,
    agents,
    by_area,
    customers,
    pick,
)
from interaction_streams.simulator.scenario import (
    CHANNELS,
    Channel,
    ChannelTraffic,
    Duration,
    Scenario,
)

TopicId = Literal["channel-events", "agent-events", "business-events", "customer-profile"]
START_TYPE: dict[Channel, str] = {
    "voice": "cim.voice.offered",
    "chat": "cim.chat.started",
    "email": "cim.email.received",
    "sms": "cim.sms.received",
    "social": "cim.social.received",
}
AWAY_MS = 30_000  # an agent set away by the product comes back after this
CSAT_DELAY_MS = 30_000


@dataclass(frozen=True)
class Emitted:
    """One input event for the product: its topic (contract id), key, CloudEvent type, id,
    simulated time and payload."""

    at_ms: int
    topic: TopicId
    key: str
    type: str
    id: str
    data: Mapping[str, Any]

    @property
    def time_iso(self) -> str:
        return iso(self.at_ms)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ms % 1000:03d}Z"
    )


def draw(rng: random.Random, d: Duration) -> int:
    """A duration in ms."""
    if d.distribution == "fixed":
        seconds = d.mean_seconds
    elif d.distribution == "exponential":
        seconds = rng.expovariate(1.0 / d.mean_seconds)
    else:  # lognormal with the given mean: mu = ln(mean) - sigma^2 / 2
        seconds = rng.lognormvariate(math.log(d.mean_seconds) - d.sigma**2 / 2, d.sigma)
    return int(max(seconds, d.min_seconds) * 1000)


ContactState = Literal[
    "arriving", "waiting", "offered", "talking", "transferring", "done", "abandoned"
]


@dataclass
class Contact:
    """A simulated interaction and its plan, drawn when it arrives."""

    id: str
    channel: Channel
    customer: Customer
    intent: str
    rng: random.Random
    traffic: ChannelTraffic
    state: ContactState = "arriving"
    queued_ms: int = 0
    answered_ms: int | None = None
    agent_id: str | None = None
    offer_id: str | None = None
    leg: int = 0
    transfer: bool = False
    wait_ms: int | None = None


@dataclass
class AgentState:
    spec: SimAgentSpec
    logged_in: bool = False
    leaving: bool = False
    work: set[str] = field(default_factory=set)
    ringing: dict[str, str] = field(default_factory=dict)  # offer id -> interaction id
    away: bool = False

    @property
    def presence(self) -> str:
        if not self.logged_in:
            return "offline"
        if self.away or self.leaving:
            return "away"
        if self.work:
            return "busy"
        return "ringing" if self.ringing else "available"


@dataclass
class Stats:
    """What the platform saw (the simulator's own counts, for the report)."""

    arrivals: Counter[str] = field(default_factory=Counter)
    queued: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    abandoned: Counter[str] = field(default_factory=Counter)
    contained: Counter[str] = field(default_factory=Counter)
    transfers: int = 0
    completed: int = 0
    offers: int = 0
    accepted: int = 0
    rejected: int = 0
    ended_offers: Counter[str] = field(default_factory=Counter)  # rescind, timeout, away
    csat: list[int] = field(default_factory=list)
    waits_ms: dict[str, list[int]] = field(default_factory=dict)  # channel -> queue waits
    business: int = 0
    offer_lag_ms: list[int] = field(default_factory=list)  # offer made -> seen by the agent
    events: Counter[str] = field(default_factory=Counter)  # by topic id


class Simulation:
    """The state of one simulated contact center. ``advance`` and ``on_assignment`` are its only
    inputs; both are deterministic."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.pool = scenario.routing_pool
        self.source = f"/simulator/{scenario.name}/{seed}"
        self.customers = customers(scenario, seed)
        self.areas = by_area(self.customers)
        self.agents = {a.agent_id: AgentState(a) for a in agents(scenario, seed)}
        self.contacts: dict[str, Contact] = {}
        self.stats = Stats()
        self.now_ms = scenario.start_ms
        self._heap: list[tuple[int, int, str, tuple[Any, ...]]] = []
        self._seq = 0
        self._out: list[Emitted] = []
        self._serial: Counter[str] = Counter()
        self._arrival_rng = {c: random.Random(f"{seed}/arrivals/{c}") for c in CHANNELS}
        self._business_rng = random.Random(f"{seed}/business")
        self._profiles_sent = False
        start = scenario.start_ms
        for channel, traffic in scenario.channels.items():
            if traffic.rate_per_hour > 0:
                self._next_arrival(channel, start)
        for a in self.agents.values():
            shift = a.spec.group.shift
            self._at(start + int(shift.start_seconds * 1000), "login", a.spec.agent_id)
            if start + shift.end_seconds * 1000 < scenario.end_ms:
                self._at(start + int(shift.end_seconds * 1000), "shift-end", a.spec.agent_id)
        if scenario.business.events_per_hour > 0:
            self._next_business(start)
        for i, outage in enumerate(scenario.business.outages):
            self._at(start + int(outage.start_seconds * 1000), "outage-open", i)

    # ------------------------------------------------------------------ inputs

    def advance(self, until_ms: int) -> list[Emitted]:
        """Everything that happens up to ``until_ms`` (simulated), in time order."""
        if not self._profiles_sent:
            self._profiles_sent = True
            for c in self.customers:
                self._emit(
                    "customer-profile",
                    c.party_id,
                    "cim.customer.profile.updated",
                    c.profile(),
                    self.scenario.start_ms - 1000,
                    f"profile-{c.party_id}",
                )
        until_ms = min(until_ms, self.scenario.end_ms)
        while self._heap and self._heap[0][0] <= until_ms:
            at, _, action, args = heapq.heappop(self._heap)
            self.now_ms = max(self.now_ms, at)
            getattr(self, f"_on_{action.replace('-', '_')}")(*args)
        self.now_ms = max(self.now_ms, until_ms)
        out, self._out = self._out, []
        return out

    @property
    def finished(self) -> bool:
        return self.now_ms >= self.scenario.end_ms

    def on_assignment(self, a: WorkAssignment) -> None:
        """The product's work assignment, seen at the current simulated time."""
        agent = self.agents.get(a.agent_id)
        if agent is None:
            return
        now = self.now_ms
        if a.kind == "offer" and a.offer_id and a.interaction_id:
            self.stats.offers += 1
            self.stats.offer_lag_ms.append(max(0, now - int(a.at.timestamp() * 1000)))
            contact = self.contacts.get(a.interaction_id)
            rng = random.Random(f"{self.seed}/offer/{a.offer_id}")
            delay = draw(rng, agent.spec.group.answer_delay)
            agent.ringing[a.offer_id] = a.interaction_id
            if contact is not None and contact.state in ("waiting", "transferring"):
                contact.state = "offered"
                contact.offer_id = a.offer_id
            usable = agent.logged_in and not agent.leaving and contact is not None
            if not usable or rng.random() < agent.spec.group.reject_probability:
                self._at(now + delay, "reject", a.agent_id, a.offer_id)
            else:
                self._at(now + delay, "accept", a.agent_id, a.offer_id)
        elif a.kind in ("rescind", "timeout", "reject", "away") and a.offer_id:
            self.stats.ended_offers[a.kind] += 1
            iid = agent.ringing.pop(a.offer_id, None)
            contact = self.contacts.get(iid or "")
            if contact is not None and contact.offer_id == a.offer_id:
                contact.offer_id = None
                if contact.state == "offered":
                    contact.state = "transferring" if contact.leg else "waiting"
            if a.kind == "away" and not agent.away:
                agent.away = True
                self._at(now + AWAY_MS, "back", a.agent_id)

    # ------------------------------------------------------------------ helpers

    def _at(self, at_ms: int, action: str, *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at_ms, self._seq, action, args))

    def _emit(
        self,
        topic: TopicId,
        key: str,
        event_type: str,
        data: Mapping[str, Any],
        at_ms: int | None = None,
        event_id: str | None = None,
    ) -> None:
        at = self.now_ms if at_ms is None else at_ms
        if event_id is None:
            base = f"{key}/{event_type.removeprefix('cim.')}"
            self._serial[base] += 1
            event_id = f"{base}/{self._serial[base]}"
        self.stats.events[topic] += 1
        self._out.append(Emitted(at, topic, key, event_type, event_id, data))

    def _channel(self, c: Contact, event_type: str, **data: Any) -> None:
        body = {"interactionId": c.id, "routingPool": self.pool, "partyId": c.customer.party_id}
        self._emit("channel-events", c.id, event_type, {**body, **data})

    def _agent(self, agent_id: str, event_type: str, **data: Any) -> None:
        body = {"agentId": agent_id, "routingPool": self.pool, **data}
        self._emit("agent-events", self.pool, event_type, body)

    def _rate_factor(self, at_ms: int) -> float:
        hour = datetime.fromtimestamp(at_ms / 1000, tz=UTC).hour
        return self.scenario.daily_profile[hour]

    # ------------------------------------------------------------------ arrivals

    def _next_arrival(self, channel: Channel, after_ms: int) -> None:
        """Non-homogeneous Poisson arrivals by thinning: candidates at the peak rate, each kept
        with probability (rate now / peak rate)."""
        traffic = self.scenario.channels[channel]
        peak = max(self.scenario.daily_profile)
        per_ms = traffic.rate_per_hour * peak / 3_600_000
        if per_ms <= 0:
            return
        rng = self._arrival_rng[channel]
        t = after_ms
        while True:
            t += max(1, int(rng.expovariate(per_ms)))
            if t > self.scenario.end_ms:
                return
            if rng.random() * peak < self._rate_factor(t):
                self._at(t, "arrival", channel)
                return

    def _on_arrival(self, channel: Channel) -> None:
        self._next_arrival(channel, self.now_ms)
        self._serial[f"arrival/{channel}"] += 1
        iid = f"{channel}-{self._serial[f'arrival/{channel}']:06d}"
        rng = random.Random(f"{self.seed}/{iid}")
        customer = rng.choice(self.customers)
        traffic = self.scenario.channels[channel]
        self._start(Contact(iid, channel, customer, pick(rng, traffic.intents), rng, traffic))

    def _start(self, c: Contact, ivr_digit: str | None = None) -> None:
        self.contacts[c.id] = c
        self.stats.arrivals[c.channel] += 1
        t, rng = c.traffic, c.rng
        contact: dict[str, str] = (
            {"phone": c.customer.phone}
            if c.channel in ("voice", "sms")
            else {"socialPlatform": "x", "socialHandle": f"@{c.customer.party_id}"}
            if c.channel == "social"
            else {"email": c.customer.email}
        )
        start: dict[str, Any] = {"contact": contact, "language": c.customer.language}
        if c.channel == "voice" and t.ivr is not None:
            self._channel(c, START_TYPE[c.channel], **start)
            self._channel(c, "cim.voice.ivr.started")
            if ivr_digit is None:
                options = {o.digit: o.weight for o in t.ivr.options}
                ivr_digit = pick(rng, options)
                c.intent = next(o.intent for o in t.ivr.options if o.digit == ivr_digit)
            self._at(self.now_ms + draw(rng, t.ivr.seconds), "step", c.id, "ivr", ivr_digit)
            return
        self._channel(c, START_TYPE[c.channel], intent=c.intent, **start)
        if c.channel == "chat" and t.bot is not None and rng.random() < t.bot.share:
            self._at(self.now_ms + draw(rng, t.bot.seconds), "step", c.id, "bot", "")
            return
        self._at(self.now_ms + 500, "step", c.id, "queue", "")

    # ------------------------------------------------------------------ a contact's steps

    def _on_step(self, iid: str, step: str, arg: str) -> None:
        c = self.contacts[iid]
        getattr(self, f"_step_{step}")(c, arg)

    def _step_ivr(self, c: Contact, digit: str) -> None:
        assert c.traffic.ivr is not None
        self._channel(c, "cim.voice.ivr.completed", selections={"menu": digit}, intent=c.intent)
        if c.rng.random() < c.traffic.ivr.containment:
            self._contained(c)
            return
        self._step_queue(c, "")

    def _step_bot(self, c: Contact, _: str) -> None:
        assert c.traffic.bot is not None
        if c.rng.random() < c.traffic.bot.containment:
            self._contained(c)
            return
        self._channel(
            c,
            "cim.chat.bot.handover",
            botId="sim-bot",
            queue=c.traffic.requested_queue,
            context={"intent": c.intent},
        )
        self._waiting(c)

    def _contained(self, c: Contact) -> None:
        self._channel(c, "cim.selfservice.contained")
        self.stats.contained[c.channel] += 1
        c.state = "done"
        self._csat(c)

    def _step_queue(self, c: Contact, _: str) -> None:
        self._channel(c, "cim.interaction.queued", queue=c.traffic.requested_queue)
        self._waiting(c)

    def _waiting(self, c: Contact) -> None:
        c.state = "waiting"
        c.queued_ms = self.now_ms
        self.stats.queued[c.channel] += 1
        c.transfer = c.traffic.transfer is not None and (
            c.rng.random() < c.traffic.transfer.probability
        )
        if c.traffic.patience is not None:
            self._at(self.now_ms + draw(c.rng, c.traffic.patience), "step", c.id, "abandon", "")

    def _step_abandon(self, c: Contact, _: str) -> None:
        if c.state not in ("waiting", "offered"):
            return
        self._channel(c, "cim.interaction.abandoned")
        c.state = "abandoned"
        self.stats.abandoned[c.channel] += 1

    def _step_hold(self, c: Contact, agent_id: str) -> None:
        if c.state == "talking" and c.agent_id == agent_id:
            self._channel(c, "cim.voice.held", agentId=agent_id)

    def _step_resume(self, c: Contact, agent_id: str) -> None:
        if c.state == "talking" and c.agent_id == agent_id:
            self._channel(c, "cim.voice.resumed", agentId=agent_id)

    def _step_message(self, c: Contact, direction: str) -> None:
        if c.state != "talking":
            return
        n = self._serial[f"{c.id}/msg"] = self._serial[f"{c.id}/msg"] + 1
        sender = c.customer.party_id if direction == "received" else c.agent_id
        self._channel(
            c,
            f"cim.interaction.message.{direction}",
            messageId=f"{c.id}-m{n}",
            senderId=sender,
            length=c.rng.randint(10, 400),
        )

    def _step_sentiment(self, c: Contact, _: str) -> None:
        if c.state == "talking":
            waited = (c.wait_ms or 0) / 60_000
            score = max(-1.0, min(1.0, c.rng.gauss(0.3 - 0.25 * waited, 0.35)))
            self._channel(c, "cim.interaction.sentiment.scored", score=round(score, 2))

    def _step_transfer(self, c: Contact, agent_id: str) -> None:
        if c.state != "talking" or c.agent_id != agent_id:
            return
        assert c.traffic.transfer is not None
        self._channel(
            c,
            "cim.interaction.transferred",
            mode="blind",
            fromAgentId=agent_id,
            toQueue=c.traffic.transfer.to_queue,
        )
        self.stats.transfers += 1
        c.state, c.leg, c.agent_id = "transferring", c.leg + 1, None
        self._work_done(agent_id, c)

    def _step_end(self, c: Contact, agent_id: str) -> None:
        if c.state != "talking" or c.agent_id != agent_id:
            return
        self._channel(c, "cim.interaction.ended", endedBy="customer")
        c.state = "done"
        self._work_done(agent_id, c)
        wrap = self.agents[agent_id].spec.group.wrap_up_seconds * 1000
        self._at(self.now_ms + wrap, "step", c.id, "wrapup", agent_id)
        self._csat(c)

    def _step_wrapup(self, c: Contact, agent_id: str) -> None:
        code = f"resolved-{c.intent}"
        self._channel(c, "cim.interaction.wrapup.completed", agentId=agent_id, wrapUpCode=code)

    def _csat(self, c: Contact) -> None:
        if c.rng.random() < c.traffic.csat_response:
            self._at(self.now_ms + CSAT_DELAY_MS, "step", c.id, "survey", "")

    def _step_survey(self, c: Contact, _: str) -> None:
        waited = (c.wait_ms or 0) / 60_000
        score = int(max(1, min(5, round(c.rng.gauss(4.3 - 0.6 * waited, 0.8)))))
        self.stats.csat.append(score)
        self._channel(c, "cim.interaction.csat.recorded", score=score)

    # ------------------------------------------------------------------ agents

    def _on_login(self, agent_id: str) -> None:
        a = self.agents[agent_id]
        a.logged_in, a.leaving, a.away = True, False, False
        body = {**a.spec.login(), "routingPool": self.pool}
        self._emit("agent-events", self.pool, "cim.agent.logged-in", body)

    def _on_shift_end(self, agent_id: str) -> None:
        a = self.agents[agent_id]
        a.leaving = True
        if a.work:
            self._agent(agent_id, "cim.agent.presence.changed", presence="away", reason="shift")
        else:
            self._logout(a)

    def _logout(self, a: AgentState) -> None:
        a.logged_in = False
        self._agent(a.spec.agent_id, "cim.agent.logged-out")

    def _on_back(self, agent_id: str) -> None:
        a = self.agents[agent_id]
        if a.away and a.logged_in and not a.leaving:
            a.away = False
            self._agent(agent_id, "cim.agent.presence.changed", presence="available")

    def _on_reject(self, agent_id: str, offer_id: str) -> None:
        a = self.agents[agent_id]
        iid = a.ringing.pop(offer_id, None)
        if iid is None:
            return  # rescinded or timed out meanwhile
        self.stats.rejected += 1
        self._agent(
            agent_id, "cim.agent.offer.rejected", offerId=offer_id, interactionId=iid, reason="busy"
        )

    def _on_accept(self, agent_id: str, offer_id: str) -> None:
        a = self.agents[agent_id]
        iid = a.ringing.pop(offer_id, None)
        c = self.contacts.get(iid or "")
        if c is None or c.offer_id != offer_id or c.state != "offered":
            return  # rescinded, timed out or abandoned meanwhile
        self.stats.accepted += 1
        self._agent(agent_id, "cim.agent.offer.accepted", offerId=offer_id, interactionId=c.id)
        self._channel(c, "cim.interaction.answered", agentId=agent_id)
        now = self.now_ms
        if c.leg == 0:
            c.wait_ms = now - c.queued_ms
            self.stats.answered[c.channel] += 1
            self.stats.waits_ms.setdefault(c.channel, []).append(c.wait_ms)
        c.state, c.agent_id, c.answered_ms, c.offer_id = "talking", agent_id, now, None
        a.work.add(c.id)
        t = c.traffic
        handle = draw(c.rng, t.handle)
        if c.channel == "voice" and c.rng.random() < t.hold_probability:
            held_at = now + handle // 3
            hold = draw(c.rng, t.hold)
            self._at(held_at, "step", c.id, "hold", agent_id)
            self._at(held_at + hold, "step", c.id, "resume", agent_id)
            handle += hold
        for n in range(t.messages):
            at = now + (handle * (2 * n + 1)) // (2 * t.messages + 1)
            self._at(at, "step", c.id, "message", "received")
            self._at(at + 2_000, "step", c.id, "message", "sent")
        if c.channel in ("voice", "chat"):
            self._at(now + handle // 2, "step", c.id, "sentiment", "")
        last = "transfer" if c.transfer and c.leg == 0 else "end"
        self._at(now + handle, "step", c.id, last, agent_id)

    def _work_done(self, agent_id: str, c: Contact) -> None:
        a = self.agents[agent_id]
        a.work.discard(c.id)
        self.stats.completed += 1
        self._agent(agent_id, "cim.agent.work.completed", interactionId=c.id)
        if a.leaving and not a.work and a.logged_in:
            self._logout(a)

    # ------------------------------------------------------------------ business events

    def _next_business(self, after_ms: int) -> None:
        per_ms = self.scenario.business.events_per_hour / 3_600_000
        t = after_ms + max(1, int(self._business_rng.expovariate(per_ms)))
        if t <= self.scenario.end_ms:
            self._at(t, "business")

    def _on_business(self) -> None:
        self._next_business(self.now_ms)
        rng = self._business_rng
        customer = rng.choice(self.customers)
        kind = pick(rng, self.scenario.business.kinds)
        self.stats.business += 1
        self._serial["business"] += 1
        n = self._serial["business"]
        data: dict[str, Any] = {"partyId": customer.party_id}
        if ".order." in kind:
            data |= {"orderId": f"ord-{n}", "reason": "supplier delay"}
        elif ".bill." in kind or ".payment." in kind:
            data |= {"billId": f"bill-{n}", "amount": str(round(rng.uniform(20, 200), 2))}
            data |= {"currency": "GBP"}
            if kind.endswith("overdue"):
                data["daysOverdue"] = rng.randint(1, 60)
        elif ".usage." in kind:
            data |= {"metric": "data", "usedPercent": rng.choice((80.0, 90.0, 100.0))}
        elif ".ticket." in kind:
            data |= {"ticketId": f"tkt-{n}", "status": "open", "summary": "slow broadband"}
        self._emit("business-events", customer.party_id, kind, data)

    def _on_outage_open(self, i: int) -> None:
        o = self.scenario.business.outages[i]
        end = self.now_ms + int(o.duration_seconds * 1000)
        self._emit(
            "business-events",
            f"outage-{i + 1}",
            "cim.business.incident.opened",
            {
                "incidentId": f"outage-{i + 1}",
                "serviceArea": o.service_area,
                "severity": o.severity,
                "summary": f"network outage in {o.service_area}",
                "expectedRestoration": iso(end),
            },
        )
        self.stats.business += 1
        self._at(end, "outage-close", i)
        self._next_outage_call(i, self.now_ms, end)

    def _on_outage_close(self, i: int) -> None:
        o = self.scenario.business.outages[i]
        body = {"incidentId": f"outage-{i + 1}", "serviceArea": o.service_area}
        self._emit("business-events", f"outage-{i + 1}", "cim.business.incident.resolved", body)
        self.stats.business += 1

    def _next_outage_call(self, i: int, after_ms: int, end_ms: int) -> None:
        o = self.scenario.business.outages[i]
        if o.calls_per_hour <= 0:
            return
        rng = random.Random(f"{self.seed}/outage{i}/{after_ms}")
        t = after_ms + max(1, int(rng.expovariate(o.calls_per_hour / 3_600_000)))
        if t < end_ms:
            self._at(t, "outage_call", i, end_ms)

    def _on_outage_call(self, i: int, end_ms: int) -> None:
        self._next_outage_call(i, self.now_ms, end_ms)
        o = self.scenario.business.outages[i]
        self._serial[f"outage{i}"] += 1
        iid = f"outage{i + 1}-{self._serial[f'outage{i}']:05d}"
        rng = random.Random(f"{self.seed}/{iid}")
        customer = rng.choice(self.areas[o.service_area])
        traffic = self.scenario.channels.get("voice") or next(iter(self.scenario.channels.values()))
        c = Contact(iid, "voice", customer, o.intent, rng, traffic)
        digit = None
        if traffic.ivr is not None:
            digit = next((x.digit for x in traffic.ivr.options if x.intent == o.intent), "9")
        self._start(c, digit)
