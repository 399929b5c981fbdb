"""Agents of a routing pool, without a broker: presence, capacity (per channel, exclusive voice,
cross-channel limit), occupancy, work, wrap-up, contacts today and missed offers."""

from __future__ import annotations

import pytest

from interaction_streams.contract.events.agent import AgentLoggedIn
from interaction_streams.domain.routing import agents as ag
from interaction_streams.domain.routing.agents import Agent, CapacityRules
from interaction_streams.domain.routing.skills import SkillRequirement

T0 = 1_700_000_000_000
DAY = ag.DAY_MS


def login(
    capacity: dict[str, int] | None = None,
    skills: dict[str, int] | None = None,
    rules: CapacityRules | None = None,
    wrap_up: int = 30,
    at: int = T0,
    agent: Agent | None = None,
) -> Agent:
    event = AgentLoggedIn.model_validate(
        {
            "agentId": "a1",
            "name": "Ann",
            "skills": skills or {"billing": 3},
            "capacity": capacity if capacity is not None else {"voice": 1, "chat": 3},
            "wrapUpSeconds": wrap_up,
        }
    )
    return ag.logged_in(agent, event, at, rules)


def test_login_sets_the_agent_available_idle_since_login() -> None:
    a = login(capacity={"voice": 1, "chat": 3, "email": 0})
    assert a.presence == "available"
    assert a.capacity == {"voice": 1, "chat": 3}  # a zero capacity is a channel it does not take
    assert a.idle_since_ms == T0
    assert a.exclusive == ("voice",)
    assert ag.rooms(a) == ("voice", "chat")


def test_login_again_replaces_skills_and_capacity_but_keeps_work() -> None:
    a = ag.reserve(login(), "chat", "c1", T0)
    a = ag.assign(a, "c1", T0 + 1)
    again = login(capacity={"chat": 2}, skills={"sales": 5}, agent=a, at=T0 + 5)
    assert again.work == {"chat": ("c1",)}
    assert again.skills == {"sales": 5}
    assert again.capacity == {"chat": 2}
    assert again.idle_since_ms == T0  # still working: idle time untouched


def test_per_channel_limits() -> None:
    a = login(capacity={"chat": 2, "email": 1})
    assert ag.can_take(a, "chat") and ag.can_take(a, "email")
    assert not ag.can_take(a, "voice")  # no voice capacity
    a = ag.reserve(a, "chat", "c1", T0)
    a = ag.reserve(a, "chat", "c2", T0)
    assert not ag.can_take(a, "chat")
    assert ag.can_take(a, "email")
    assert ag.within_capacity(a)


def test_voice_is_exclusive_both_ways() -> None:
    a = login(capacity={"voice": 1, "chat": 3, "email": 5})
    on_voice = ag.reserve(a, "voice", "v1", T0)
    assert ag.rooms(on_voice) == ()
    assert not ag.can_take(on_voice, "chat") and not ag.can_take(on_voice, "email")
    on_chat = ag.reserve(a, "chat", "c1", T0)
    assert not ag.can_take(on_chat, "voice")
    assert ag.can_take(on_chat, "chat") and ag.can_take(on_chat, "email")
    # a state the matcher never makes: voice with other work
    both = ag.reserve(on_chat, "voice", "v1", T0)
    assert not ag.within_capacity(both)


def test_exclusive_channels_are_configurable() -> None:
    a = login(capacity={"voice": 1, "chat": 2}, rules=CapacityRules(exclusive=()))
    a = ag.reserve(a, "voice", "v1", T0)
    assert ag.can_take(a, "chat")


def test_cross_channel_total_limit() -> None:
    a = login(capacity={"chat": 3, "email": 5}, rules=CapacityRules(max_total=4))
    for i in range(3):
        a = ag.reserve(a, "chat", f"c{i}", T0)
    a = ag.reserve(a, "email", "e1", T0)
    assert ag.total_used(a) == 4
    assert not ag.can_take(a, "email")
    assert ag.rooms(a) == ()
    assert ag.within_capacity(a)


def test_presence_other_than_available_takes_nothing() -> None:
    a = login()
    for presence in ("busy", "away", "wrap-up", "offline"):
        b = ag.presence_changed(a, presence, T0 + 1)
        assert not ag.can_take(b, "chat")
        assert ag.has_room(b, "chat")  # capacity alone is unchanged


def test_load_is_occupancy() -> None:
    a = login(capacity={"voice": 1, "chat": 3, "email": 5}, rules=CapacityRules(max_total=4))
    assert ag.load(a) == 0.0
    assert ag.load(ag.reserve(a, "voice", "v1", T0)) == 1.0
    two = ag.reserve(ag.reserve(a, "chat", "c1", T0), "email", "e1", T0)
    assert ag.load(two) == pytest.approx(2 / 4)  # room: min(3 + 5, total limit 4)
    free = login(capacity={"chat": 3, "email": 5})
    assert ag.load(ag.reserve(free, "chat", "c1", T0)) == pytest.approx(1 / 8)


def test_work_wrap_up_and_idle_time() -> None:
    a = ag.reserve(login(wrap_up=30), "voice", "v1", T0)
    assert a.last_assigned_ms == T0
    a = ag.assign(a, "v1", T0 + 1_000)
    assert a.work == {"voice": ("v1",)} and a.offered == {}
    a = ag.release(a, "v1", T0 + 60_000)
    assert a.wrap_up_until == {"v1": T0 + 90_000}
    assert not ag.can_take(a, "chat")  # the voice slot is held through wrap-up
    assert ag.effective_presence(a) == "wrap-up"
    assert ag.end_due_wrap_ups(a, T0 + 89_999) == a
    done = ag.end_due_wrap_ups(a, T0 + 90_000)
    assert done.work == {} and done.wrap_up_until == {}
    assert done.idle_since_ms == T0 + 90_000
    assert ag.effective_presence(done) == "available"


def test_release_without_wrap_up_frees_at_once() -> None:
    a = ag.assign(ag.reserve(login(wrap_up=0), "chat", "c1", T0), "c1", T0)
    a = ag.release(a, "c1", T0 + 5)
    assert a.work == {} and a.idle_since_ms == T0 + 5
    assert ag.release(a, "c1", T0 + 6) == a  # unknown work: nothing changes


def test_end_wrap_up_of_one_item_keeps_the_others() -> None:
    a = login(capacity={"chat": 3}, wrap_up=10)
    for i in (1, 2):
        a = ag.assign(ag.reserve(a, "chat", f"c{i}", T0), f"c{i}", T0)
    a = ag.release(a, "c1", T0 + 100)
    a = ag.end_wrap_up(a, "c1", T0 + 200)
    assert a.work == {"chat": ("c2",)}
    assert a.idle_since_ms == T0  # still working on c2
    assert ag.effective_presence(a) == "available"


def test_unreserve_frees_the_slot_and_a_rejection_breaks_the_missed_run() -> None:
    a = ag.reserve(login(), "voice", "v1", T0)
    a, _ = ag.missed_offer(a, T0, 3)
    a = ag.reserve(ag.unreserve(a, "v1", T0), "voice", "v2", T0)
    assert a.missed_offers_in_a_row == 1
    rejected = ag.unreserve(a, "v2", T0, answered=True)
    assert rejected.offered == {} and rejected.missed_offers_in_a_row == 0


def test_contacts_today_count_per_day() -> None:
    a = login(capacity={"chat": 3})
    a = ag.assign(ag.reserve(a, "chat", "c1", T0), "c1", T0)
    a = ag.assign(ag.reserve(a, "chat", "c2", T0), "c2", T0)
    day = T0 // DAY
    assert ag.contacts_on(a, day) == 2
    assert ag.contacts_on(a, day + 1) == 0
    tomorrow = ag.assign(ag.reserve(a, "chat", "c3", T0 + DAY), "c3", T0 + DAY)
    assert tomorrow.contacts_today == 1 and tomorrow.contacts_day == day + 1


def test_missed_offers_in_a_row_set_the_agent_away() -> None:
    a = login()
    a, away = ag.missed_offer(a, T0, 2)
    assert not away and a.presence == "available"
    a, away = ag.missed_offer(a, T0, 2)
    assert away and a.presence == "away" and a.presence_reason == "missed-offers"
    back = ag.presence_changed(a, "available", T0 + 10)
    assert back.missed_offers_in_a_row == 0 and back.idle_since_ms == T0 + 10
    never, away = ag.missed_offer(login(), T0, 0)
    assert not away and never.missed_offers_in_a_row == 1


def test_accepting_resets_the_missed_run() -> None:
    a, _ = ag.missed_offer(login(), T0, 5)
    a = ag.assign(ag.reserve(a, "chat", "c1", T0), "c1", T0)
    assert a.missed_offers_in_a_row == 0


def test_skills_and_scores() -> None:
    a = ag.skills_updated(login(), {"billing": 4, "spanish": 2})
    need = (SkillRequirement(skill="billing", min_proficiency=4),)
    assert ag.meets(a, need)
    assert not ag.meets(a, (SkillRequirement(skill="spanish", min_proficiency=3),))
    assert not ag.meets(a, (SkillRequirement(skill="french"),))
    both = (SkillRequirement(skill="billing"), SkillRequirement(skill="spanish"))
    assert ag.skill_score(a, both) == 6


def test_effective_presence_busy_when_full() -> None:
    a = ag.reserve(login(capacity={"chat": 1}), "chat", "c1", T0)
    assert ag.effective_presence(a) == "busy"
    assert ag.effective_presence(ag.logged_out(a, T0)) == "offline"
