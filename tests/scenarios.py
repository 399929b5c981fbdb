"""Contact scenarios as a platform would publish them, shared by unit and end-to-end tests.

Each event is (type, data, seconds after T0); ids are stable so duplicates are real ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from interaction_streams.harness import Record, cloud_event

T0_MS = 1_795_683_600_000  # 2026-11-26T09:00:00Z


@dataclass(frozen=True)
class Step:
    type: str
    data: dict[str, Any]
    at_s: float

    def event_id(self, interaction: str, n: int) -> str:
        return f"{interaction}-{n:02d}"

    @property
    def time_ms(self) -> int:
        return T0_MS + int(self.at_s * 1000)

    def iso(self) -> str:
        ms = self.time_ms
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def _steps(interaction: str, raw: list[tuple[str, dict[str, Any], float]]) -> list[Step]:
    return [Step(t, {"interactionId": interaction, **d}, s) for t, d, s in raw]


CUSTOMER_PHONE = "+44 20 7946 0018"
CUSTOMER = "party-ada"

VOICE = _steps(
    "call-1",
    [
        ("cim.voice.offered", {"contact": {"phone": CUSTOMER_PHONE}, "to": "+448000000000"}, 0),
        ("cim.voice.ivr.started", {}, 1),
        ("cim.voice.ivr.completed", {"selections": {"menu": "billing"}, "intent": "billing"}, 21.5),
        ("cim.interaction.queued", {"queue": "billing", "priority": 5}, 22),
        ("cim.interaction.agent.offered", {"agentId": "agent-1"}, 52),
        ("cim.interaction.answered", {"agentId": "agent-1"}, 55.25),
        ("cim.voice.held", {"agentId": "agent-1"}, 100),
        ("cim.voice.resumed", {"agentId": "agent-1"}, 130),
        (
            "cim.interaction.transferred",
            {"mode": "blind", "fromAgentId": "agent-1", "toAgentId": "agent-2"},
            160,
        ),
        ("cim.interaction.answered", {"agentId": "agent-2"}, 165),
        ("cim.interaction.ended", {"endedBy": "customer"}, 285),
        (
            "cim.interaction.wrapup.completed",
            {"agentId": "agent-2", "wrapUpCode": "resolved", "notes": "refund issued"},
            315,
        ),
        (
            "cim.interaction.attachment.added",
            {"kind": "recording", "href": "s3://rec/call-1.wav"},
            316,
        ),
        ("cim.interaction.csat.recorded", {"score": 4}, 400),
    ],
)

CHAT = _steps(
    "chat-1",
    [
        ("cim.chat.started", {"contact": {"email": "Ada@Example.com"}}, 0),
        ("cim.interaction.message.received", {"messageId": "m1"}, 2),
        ("cim.interaction.message.sent", {"messageId": "m2", "senderId": "bot-7"}, 3),
        ("cim.interaction.message.received", {"messageId": "m3"}, 10),
        (
            "cim.chat.bot.handover",
            {"botId": "bot-7", "queue": "chat-support", "context": {"topic": "roaming"}},
            12,
        ),
        ("cim.interaction.agent.offered", {"agentId": "agent-3"}, 20),
        ("cim.interaction.answered", {"agentId": "agent-3"}, 22),
        ("cim.interaction.message.sent", {"messageId": "m4", "senderId": "agent-3"}, 30),
        ("cim.interaction.ended", {"endedBy": "agent"}, 90),
        ("cim.interaction.wrapup.completed", {"agentId": "agent-3", "wrapUpCode": "info"}, 100),
    ],
)

EMAIL = _steps(
    "mail-1",
    [
        ("cim.email.received", {"contact": {"email": "bob@example.org"}, "subject": "Invoice"}, 0),
        ("cim.interaction.queued", {"queue": "email"}, 1),
        ("cim.interaction.agent.offered", {"agentId": "agent-4"}, 600),
        ("cim.interaction.answered", {"agentId": "agent-4"}, 601),
        ("cim.interaction.message.sent", {"messageId": "r1"}, 900),
        ("cim.interaction.ended", {"endedBy": "agent"}, 901),
        ("cim.interaction.wrapup.completed", {"agentId": "agent-4", "wrapUpCode": "answered"}, 960),
    ],
)

ABANDONED = _steps(
    "call-2",
    [
        ("cim.voice.offered", {"contact": {"phone": "+33 1 23 45 67 89"}}, 0),
        ("cim.interaction.queued", {"queue": "billing"}, 5),
        ("cim.interaction.abandoned", {}, 47.5),
    ],
)

PORTAL = _steps(
    "web-1",
    [
        ("cim.selfservice.started", {"contact": {"loginId": "ada.l"}, "kind": "portal"}, 0),
        ("cim.selfservice.action", {"action": "viewBill"}, 30),
        ("cim.selfservice.action", {"action": "payBill", "detail": {"amount": "42.00"}}, 90),
        ("cim.selfservice.contained", {}, 120),
    ],
)

SCENARIOS = {"call-1": VOICE, "chat-1": CHAT, "mail-1": EMAIL, "call-2": ABANDONED, "web-1": PORTAL}


def records(interaction: str, steps: list[Step]) -> list[Record]:
    return [
        (interaction.encode(), cloud_event(s.type, s.data, s.event_id(interaction, n), s.iso()), [])
        for n, s in enumerate(steps)
    ]
