"""When the interaction stage asks the routing stage to enqueue or withdraw, and the context
facts the customer stage adds. Pure, without a broker."""

from __future__ import annotations

from datetime import UTC, datetime

from interaction_streams.contract.customer import (
    ContextSnapshot,
    MomentSummary,
    ProfileSummary,
    WindowCounts,
)
from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.domain.interaction.lifecycle import Stimulus
from interaction_streams.domain.interaction.stage import on_erase, on_stimulus
from interaction_streams.domain.interaction.timeline import Timeline
from interaction_streams.domain.routing.request import legs_to_withdraw, with_context
from tests.scenarios import ABANDONED, VOICE, Step

LATENESS_MS = 60_000


def routed(interaction: str, steps: list[Step]) -> tuple[list[RoutingRequest], Timeline | None]:
    timeline: Timeline | None = None
    out = []
    for n, s in enumerate(steps):
        party = ("party-ada", "customer") if s.type == "cim.voice.offered" else (None, None)
        stim = Stimulus(
            id=s.event_id(interaction, n),
            type=s.type,
            time_ms=s.time_ms,
            data=s.data,
            party_id=party[0],
            party_role=party[1],
        )
        result = on_stimulus(timeline, stim, LATENESS_MS)
        timeline = result.timeline
        if result.routing is not None:
            out.append(result.routing)
    return out, timeline


def test_a_voice_call_is_enqueued_when_queued_and_withdrawn_when_answered() -> None:
    requests, _ = routed("call-1", VOICE)
    kinds = [(r.command, r.reason) for r in requests]
    assert kinds[:2] == [("enqueue", None), ("withdraw", "answered")]
    first = requests[0]
    assert first.party_id == "party-ada" and first.channel == "voice"
    assert first.intent == "billing" and first.enqueued_ms is not None
    assert first.ivr == {"menu": "billing"} and first.requested_queue == "billing"
    assert first.enqueued_ms == int(first.time.timestamp() * 1000)


def test_an_abandoned_call_is_withdrawn_as_abandoned_and_erasure_withdraws() -> None:
    requests, _ = routed("call-2", ABANDONED)
    assert [(r.command, r.reason) for r in requests] == [
        ("enqueue", None),
        ("withdraw", "abandoned"),
    ]
    queued = [s for s in ABANDONED if s.type != "cim.interaction.abandoned"]
    requests, timeline = routed("call-3", queued)
    assert requests[-1].command == "enqueue"
    erased = on_erase(timeline, "erase-1", queued[-1].time_ms + 1)
    assert erased.routing is not None
    assert (erased.routing.command, erased.routing.reason) == ("withdraw", "erased")


def test_a_call_with_an_agent_is_withdrawn_again_when_it_ends() -> None:
    """For the routing stage to drop the consult and conference legs of a call that is over."""
    requests, timeline = routed("call-4", VOICE)
    ended = next(s for s in VOICE if s.type == "cim.interaction.ended")
    assert [(r.command, r.reason) for r in requests][-1] == ("withdraw", "ended")
    assert requests[-1].time == datetime.fromtimestamp(ended.time_ms / 1000, UTC)
    assert requests[-1].party_id == "party-ada"
    # Erased while an agent has it: withdrawn as erased.
    answered = VOICE[: VOICE.index(ended)]
    _, timeline = routed("call-5", answered)
    erased = on_erase(timeline, "erase-2", ended.time_ms)
    assert erased.routing is not None
    assert (erased.routing.command, erased.routing.reason) == ("withdraw", "erased")


def test_a_withdraw_takes_the_legs_of_a_call_that_is_over_only() -> None:
    waiting, offered = {"c~consult": 1, "c2~consult": 1}, {"c~conference": 1, "c": 1}
    assert legs_to_withdraw("c", "ended", waiting, offered) == ("c~consult", "c~conference")
    assert legs_to_withdraw("c", None, waiting, offered) == ("c~consult", "c~conference")
    assert legs_to_withdraw("c2", "abandoned", waiting, offered) == ("c2~consult",)
    assert legs_to_withdraw("c3", "erased", waiting, offered) == ()
    # Answered or left the queue: the call goes on, and so do its legs.
    assert legs_to_withdraw("c", "answered", waiting, offered) == ()
    assert legs_to_withdraw("c", "left-queue", waiting, offered) == ()
    # A withdraw naming a leg removes that leg alone.
    assert legs_to_withdraw("c~consult", "ended", waiting, offered) == ()


def test_context_facts_are_added_to_an_enqueue_only() -> None:
    at = datetime(2026, 11, 26, 9, tzinfo=UTC)
    request = RoutingRequest(command="enqueue", interaction_id="c", time=at, moments=("x",))
    context = ContextSnapshot(
        party_id="ada",
        as_of=at,
        windows={"24h": WindowCounts(contacts=3, by_channel={}, abandoned=0)},
        repeat_contact="billing",
        sentiment_trend=(0.2, -0.6),
        preferred_channel="chat",
        profile=ProfileSummary(language="de", tier="gold", segment="consumer"),
        moments=(
            MomentSummary(name="new-customer", started=at),
            MomentSummary(name="gone", started=at, ended=at),
        ),
    )
    full = with_context(request, context)
    assert (full.context_tier, full.context_segment, full.language) == ("gold", "consumer", "de")
    assert (full.context_repeat_contact, full.context_sentiment) == (True, -0.6)
    assert (full.context_contacts24h, full.context_preferred_channel) == (3, "chat")
    assert full.moments == ("x", "new-customer")
    assert with_context(request, None) == request
    withdraw = RoutingRequest(command="withdraw", interaction_id="c", time=at)
    assert with_context(withdraw, context) == withdraw
