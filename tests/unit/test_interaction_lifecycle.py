"""The interaction lifecycle and its event-time ordering, without a broker."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from interaction_streams.domain.interaction.lifecycle import Stimulus, apply
from interaction_streams.domain.interaction.model import Interaction
from interaction_streams.domain.interaction.stage import on_erase, on_purge, on_stimulus
from interaction_streams.domain.interaction.timeline import Timeline, admit
from tests.scenarios import ABANDONED, CHAT, EMAIL, PORTAL, T0_MS, VOICE, Step

LATENESS_MS = 60_000


def stimuli(interaction: str, steps: list[Step]) -> list[Stimulus]:
    out = []
    for n, s in enumerate(steps):
        party = ("party-ada", "customer") if s.type == "cim.voice.offered" else (None, None)
        out.append(
            Stimulus(
                id=s.event_id(interaction, n),
                type=s.type,
                time_ms=s.time_ms,
                data=s.data,
                party_id=party[0],
                party_role=party[1],
            )
        )
    return out


def fold(stims: list[Stimulus]) -> Interaction:
    state = None
    for s in stims:
        state = apply(state, s)
    assert state is not None
    return state


def test_voice_call_through_ivr_queue_agent_hold_transfer_and_wrap_up() -> None:
    call = fold(stimuli("call-1", VOICE))
    assert (call.channel, call.status, call.phase, call.status_reason) == (
        "voice",
        "completed",
        "closed",
        "wrappedUp",
    )
    assert call.reason == "billing" and call.disposition == "resolved" and call.queue == "billing"
    t = call.timings
    # rings 52→55.25 at agent-1 and 160→165 at agent-2 after the blind transfer
    assert (t.self_service_ms, t.queue_ms, t.offer_ms) == (21_000, 30_000, 8_250)
    # agent-1 talks 55.25→100 and 130→160, agent-2 165→285; holds 100→130; wraps 285→315
    assert (t.talk_ms, t.hold_ms, t.hold_count, t.wrap_up_ms) == (194_750, 30_000, 1, 30_000)
    assert t.handle_ms == 254_750
    assert [
        (p.party_id, p.role, p.joined_ms - T0_MS, (p.left_ms or 0) - T0_MS)
        for p in call.participants
    ] == [
        ("party-ada", "customer", 0, 315_000),
        ("agent-1", "agent", 55_250, 160_000),
        ("agent-2", "agent", 165_000, 315_000),
    ]
    assert [i.item_type for i in call.items] == ["ivrSelection", "transfer", "survey"]
    assert call.notes[0].text == "refund issued"
    assert call.attachments[0].href == "s3://rec/call-1.wav"
    assert call.ended_ms == T0_MS + 315_000


def test_chat_handed_over_by_a_bot() -> None:
    chat = fold(stimuli("chat-1", CHAT))
    assert (chat.status, chat.contained, chat.queue) == ("completed", False, "chat-support")
    assert (chat.messages_in, chat.messages_out) == (2, 2)
    assert [p.role for p in chat.participants] == ["bot", "agent"]
    handover = next(i for i in chat.items if i.item_type == "handover")
    assert handover.value == {"botId": "bot-7", "queue": "chat-support", "topic": "roaming"}


def test_abandoned_call_is_disrupted() -> None:
    call = fold(stimuli("call-2", ABANDONED))
    assert (call.status, call.status_reason, call.timings.queue_ms) == (
        "disrupted",
        "abandoned",
        42_500,
    )


def test_contained_portal_session() -> None:
    web = fold(stimuli("web-1", PORTAL))
    assert (web.channel, web.status, web.contained, web.status_reason) == (
        "selfservice",
        "completed",
        True,
        "contained",
    )
    assert web.timings.self_service_ms == 120_000
    assert [i.reason for i in web.items] == ["viewBill", "payBill"]


def test_email_timings() -> None:
    mail = fold(stimuli("mail-1", EMAIL))
    assert (mail.status, mail.subject, mail.timings.queue_ms, mail.timings.talk_ms) == (
        "completed",
        "Invoice",
        599_000,
        300_000,
    )


def test_impossible_transition_is_recorded_without_corrupting_state() -> None:
    stims = stimuli("call-2", ABANDONED)
    before = fold(stims)
    late_hold = Stimulus(
        id="x", type="cim.voice.held", time_ms=T0_MS + 60_000, data={"interactionId": "call-2"}
    )
    after = apply(before, late_hold)
    assert after.anomalies == 1
    assert after.notes[-1].text.startswith("ignored cim.voice.held")
    assert after.model_copy(
        update={"anomalies": 0, "notes": (), "last_event_ms": 0}
    ) == before.model_copy(update={"last_event_ms": 0})


def run(stims: list[Stimulus], lateness: int = LATENESS_MS) -> Timeline:
    tl: Timeline | None = None
    for s in stims:
        tl, _ = admit(tl, s, lateness)
    assert tl is not None
    return tl


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([VOICE, CHAT, EMAIL, ABANDONED, PORTAL]),
    st.randoms(use_true_random=False),
    st.integers(min_value=0, max_value=3),
)
def test_disorder_within_the_bound_and_duplicates_give_the_in_order_result(
    steps: list[Step], rnd: random.Random, copies: int
) -> None:
    """Shuffle events only among those within the lateness bound of each other, repeat some."""
    name = steps[0].data["interactionId"]
    in_order = stimuli(name, steps)
    shuffled = in_order + [rnd.choice(in_order) for _ in range(copies * 3)]
    # a random arrival order in which no event arrives after one that is later by > bound
    shuffled.sort(key=lambda s: s.time_ms + rnd.uniform(0, LATENESS_MS * 0.9))
    expected = run(in_order).current
    got = run(shuffled)
    assert got.current == expected
    assert got.late_events == 0


def test_duplicate_changes_nothing_and_emits_nothing() -> None:
    stims = stimuli("call-2", ABANDONED)
    tl = run(stims)
    again = on_stimulus(tl, stims[1], LATENESS_MS)
    assert again.admission == "duplicate" and again.events == [] and again.timeline == tl


def test_event_beyond_the_bound_is_applied_late_and_counted() -> None:
    stims = stimuli("call-2", ABANDONED)
    tl = run(stims[1:], lateness=1_000)
    result = on_stimulus(tl, stims[0], 1_000)
    assert result.admission == "late" and result.timeline is not None
    assert result.timeline.late_events == 1 and result.timeline.current is not None
    assert result.timeline.current.channel == "voice"


def test_tmf683_event_sequence_of_an_abandoned_call() -> None:
    tl = None
    kinds = []
    for s in stimuli("call-2", ABANDONED):
        result = on_stimulus(tl, s, LATENESS_MS)
        tl = result.timeline
        kinds.append([e["eventType"] for e in result.events])
    assert kinds == [
        ["PartyInteractionCreateEvent"],
        ["PartyInteractionStatusChangeEvent", "PartyInteractionAttributeValueChangeEvent"],
        ["PartyInteractionStatusChangeEvent", "PartyInteractionAttributeValueChangeEvent"],
    ]


def test_message_events_are_coalesced() -> None:
    tl = run(stimuli("chat-1", CHAT)[:2])
    message = Stimulus(
        id="m9",
        type="cim.interaction.message.received",
        time_ms=T0_MS + 5_000,
        data={"interactionId": "chat-1", "messageId": "m9"},
    )
    result = on_stimulus(tl, message, LATENESS_MS)
    assert result.events == []  # counted, published with the next significant change
    assert result.timeline is not None and result.timeline.current is not None
    assert result.timeline.current.messages_in == 2


def test_purge_after_retention_and_erase_with_delete_event() -> None:
    tl = run(stimuli("call-2", ABANDONED))
    ended = T0_MS + 47_500
    assert on_purge(tl, ended + 9_999, 10_000).timeline == tl
    purged = on_purge(tl, ended + 10_000, 10_000)
    assert purged.timeline is None and purged.events == []
    erased = on_erase(tl, "erase-1", ended)
    assert erased.timeline is None
    assert [e["eventType"] for e in erased.events] == ["PartyInteractionDeleteEvent"]
