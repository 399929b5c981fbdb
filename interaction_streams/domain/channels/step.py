"""The channel-operation step: ``step(state, signal, now_ms, policy) -> (state, status)``.

A channel's condition is derived from its components and its traffic:

- a component is ``down`` when it reported down or when it sends heartbeats and none came
  for longer than the allowed silence (``heartbeat-lost``); ``degraded`` when it reported
  degraded or an error rate above the threshold (``error-rate``); else ``up``;
- the channel is ``down`` when every known component is down, ``degraded`` when some are
  down or degraded, or when its traffic dropped far below its baseline (``traffic-drop``);
  else ``up`` (reason ``ok``).

``status`` is returned only when the condition, the reason, a component's condition or the
error rate changed since the last published status, so the output topic carries changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from interaction_streams.contract.channel_status import ChannelCondition, ChannelStatus
from interaction_streams.contract.events.agent import MediaChannel
from interaction_streams.domain.channels.model import (
    MINUTE_MS,
    ChannelState,
    ComponentState,
    TrafficState,
)
from interaction_streams.domain.channels.policy import ChannelPolicy, TrafficPolicy

_RANK: dict[ChannelCondition, int] = {"up": 0, "degraded": 1, "down": 2}
_REASON_ORDER = ("reported", "heartbeat-lost", "error-rate", "traffic-drop")
_MAX_CATCH_UP_MINUTES = 1440  # a longer silence is judged on its last day only


@dataclass(frozen=True)
class Heartbeat:
    component: str
    at_ms: int


@dataclass(frozen=True)
class Report:
    component: str
    status: ChannelCondition
    at_ms: int
    error_rate: float | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Traffic:
    """Arrivals counted in one minute of event time by one counter (``id`` de-duplicates);
    ``newest_ms`` is the event time of the newest arrival counted."""

    id: str
    minute_ms: int
    count: int
    newest_ms: int


@dataclass(frozen=True)
class Tick:
    """Time passed: judge closed minutes and silent components."""


Signal = Heartbeat | Report | Traffic | Tick


def step(
    state: ChannelState | None,
    channel: MediaChannel,
    signal: Signal,
    now_ms: int,
    policy: ChannelPolicy,
    wall_ms: int | None = None,
) -> tuple[ChannelState, ChannelStatus | None]:
    """``now_ms`` is the stage clock (heartbeat silence); ``wall_ms``, given in live mode
    only, lets traffic time run on when no arrivals come (see ``traffic_horizon``)."""
    current = state or ChannelState(channel=channel)
    now_ms = max(current.evaluated_ms, now_ms)  # a new owner's clock may lag: never go back
    current = apply(current, signal, wall_ms)
    if current.traffic is not None:
        current = advance(current, traffic_horizon(current.traffic, wall_ms), policy.traffic)
    current = current.model_copy(update={"evaluated_ms": now_ms})
    status = derive(current, now_ms, policy)
    if not changed(current.published, status):
        return current, None
    return current.model_copy(update={"published": status}), status


def apply(state: ChannelState, signal: Signal, wall_ms: int | None = None) -> ChannelState:
    if isinstance(signal, Heartbeat):
        return _seen(state, signal.component, signal.at_ms, heartbeat=True)
    if isinstance(signal, Report):
        state = _seen(state, signal.component, signal.at_ms, heartbeat=False)
        old = state.components[signal.component]
        if old.reported_ms is not None and signal.at_ms < old.reported_ms:
            return state  # an older report than the one applied
        new = old.model_copy(
            update={
                "reported": signal.status,
                "reported_ms": signal.at_ms,
                "error_rate": signal.error_rate,
                "detail": signal.detail,
            }
        )
        return state.model_copy(update={"components": {**state.components, signal.component: new}})
    if isinstance(signal, Traffic):
        return state.model_copy(update={"traffic": _count(state.traffic, signal, wall_ms)})
    return state


def _seen(state: ChannelState, component: str, at_ms: int, *, heartbeat: bool) -> ChannelState:
    old = state.components.get(component)
    if old is None:
        new = ComponentState(last_seen_ms=at_ms, heartbeats=heartbeat)
    else:
        new = old.model_copy(
            update={
                "last_seen_ms": max(old.last_seen_ms, at_ms),
                "heartbeats": old.heartbeats or heartbeat,
            }
        )
    return state.model_copy(update={"components": {**state.components, component: new}})


def _count(traffic: TrafficState | None, signal: Traffic, wall_ms: int | None) -> TrafficState:
    if traffic is None:
        traffic = TrafficState(open_minute_ms=signal.minute_ms)
    if signal.id in traffic.recent_ids:
        return traffic  # a re-delivery
    update: dict[str, object] = {"recent_ids": (*traffic.recent_ids, signal.id)[-64:]}
    if signal.newest_ms > traffic.newest_ms:
        update.update(newest_ms=signal.newest_ms, newest_seen_wall_ms=wall_ms)
    if signal.minute_ms >= traffic.open_minute_ms:  # else: a minute already judged
        counts = dict(traffic.counts)
        counts[signal.minute_ms] = counts.get(signal.minute_ms, 0) + signal.count
        update["counts"] = counts
    return traffic.model_copy(update=update)


def traffic_horizon(traffic: TrafficState, wall_ms: int | None) -> int:
    """How far traffic time has come: the newest arrival counted, plus (live mode) the wall
    time since it was learnt. A replay or a simulation faster than real time is judged on its
    own event time; in live operation a channel whose arrivals stop is judged by the wall
    clock (its silent minutes count as zero)."""
    seen = traffic.newest_seen_wall_ms
    if wall_ms is None or seen is None:
        return traffic.newest_ms
    return traffic.newest_ms + max(0, wall_ms - seen)


# ---- traffic ----


def advance(state: ChannelState, now_ms: int, policy: TrafficPolicy) -> ChannelState:
    """Judge every minute that closed (its end plus ``close_after_seconds``) by ``now_ms``
    on the traffic horizon; a minute without any count had no arrivals."""
    traffic = state.traffic
    if traffic is None:
        return state
    close_ms = int(policy.close_after_seconds * 1000)
    last = now_ms - close_ms - MINUTE_MS  # the newest minute start that may be judged
    if last < traffic.open_minute_ms:
        return state
    last -= last % MINUTE_MS
    start = max(traffic.open_minute_ms, last - (_MAX_CATCH_UP_MINUTES - 1) * MINUTE_MS)
    counts = dict(traffic.counts)
    minute = start
    while minute <= last:
        traffic = judge(traffic, counts.pop(minute, 0), policy)
        minute += MINUTE_MS
    counts = {m: n for m, n in counts.items() if m > last}
    traffic = traffic.model_copy(update={"open_minute_ms": last + MINUTE_MS, "counts": counts})
    return state.model_copy(update={"traffic": traffic})


def judge(traffic: TrafficState, count: int, policy: TrafficPolicy) -> TrafficState:
    """One closed minute: flag a drop against the baseline, or learn from the minute."""
    baseline = traffic.baseline
    minutes = traffic.minutes + 1
    update: dict[str, object] = {"minutes": minutes, "last_count": count}
    if baseline is None:
        return traffic.model_copy(update={**update, "baseline": float(count)})
    learned = baseline + policy.alpha * (count - baseline)
    judged = policy.enabled and traffic.minutes >= policy.warmup_minutes
    judged = judged and baseline >= policy.minimum_baseline
    if traffic.dropped:
        if not policy.enabled or count >= policy.recover_ratio * baseline:
            update.update(dropped=False, low_minutes=0, baseline=learned)
        # while dropped the baseline stays: the drop is not learnt as the new normal
    elif judged and count < policy.drop_ratio * baseline:
        low = traffic.low_minutes + 1
        update.update(low_minutes=low, dropped=low >= policy.consecutive_minutes)
    else:
        update.update(low_minutes=0, baseline=learned)
    return traffic.model_copy(update=update)


# ---- the derived status ----


def component_condition(
    c: ComponentState, now_ms: int, policy: ChannelPolicy
) -> tuple[ChannelCondition, str]:
    if c.heartbeats and now_ms - c.last_seen_ms > policy.silence_ms:
        return "down", "heartbeat-lost"
    if c.reported != "up":
        return c.reported, "reported"
    limit = policy.error_rate_degraded
    if limit is not None and c.error_rate is not None and c.error_rate > limit:
        return "degraded", "error-rate"
    return "up", "ok"


def derive(state: ChannelState, now_ms: int, policy: ChannelPolicy) -> ChannelStatus:
    conditions = {
        name: component_condition(c, now_ms, policy) for name, c in sorted(state.components.items())
    }
    worst = max((_RANK[cond] for cond, _ in conditions.values()), default=0)
    details: list[str] = []
    if conditions and all(cond == "down" for cond, _ in conditions.values()):
        status: ChannelCondition = "down"
    elif worst > 0 or (state.traffic is not None and state.traffic.dropped):
        status = "degraded"
    else:
        status = "up"
    culprits = {name: cr for name, cr in conditions.items() if _RANK[cr[0]] == worst and worst}
    if culprits:
        reasons = {reason for _, reason in culprits.values()}
        reason = next(r for r in _REASON_ORDER if r in reasons)
        for name, (_, why) in culprits.items():
            details.append(_detail(name, why, state.components[name], now_ms))
    elif status == "degraded" and state.traffic is not None:
        reason = "traffic-drop"
        t = state.traffic
        details.append(f"{t.last_count} arrivals in the last minute, baseline {t.baseline:.1f}")
    else:
        reason = "ok"
    rates = [c.error_rate for c in state.components.values() if c.error_rate is not None]
    previous = state.published
    same = previous is not None and (previous.status, previous.reason) == (status, reason)
    since = previous.since if same and previous is not None else _time(now_ms)
    return ChannelStatus(
        channel=state.channel,
        status=status,
        reason=reason,
        since=since,
        components={name: cond for name, (cond, _) in conditions.items()},
        error_rate=max(rates) if rates else None,
        detail="; ".join(details)[:1000] or None,
    )


def _detail(name: str, why: str, c: ComponentState, now_ms: int) -> str:
    if why == "heartbeat-lost":
        return f"{name}: no heartbeat for {(now_ms - c.last_seen_ms) // 1000} s"
    if why == "error-rate":
        return f"{name}: error rate {c.error_rate}"
    return f"{name}: {c.detail}" if c.detail else f"{name}: reported {c.reported}"


def changed(previous: ChannelStatus | None, status: ChannelStatus) -> bool:
    """Whether ``status`` is news: the detail (a running silence, counts) alone is not."""
    if previous is None:
        return True
    return (previous.status, previous.reason, previous.components, previous.error_rate) != (
        status.status,
        status.reason,
        status.components,
        status.error_rate,
    )


def due_ms(state: ChannelState, policy: ChannelPolicy) -> int | None:
    """When, on the stage clock, a component's silence runs out."""
    silences = (
        c.last_seen_ms + policy.silence_ms + 1 for c in state.components.values() if c.heartbeats
    )
    times = [t for t in silences if t > state.evaluated_ms]  # a silence judged is not due again
    return min(times) if times else None


def traffic_due_wall_ms(state: ChannelState, policy: ChannelPolicy) -> int | None:
    """When, on the wall clock (live mode), the open minute closes if no arrivals come."""
    traffic = state.traffic
    if traffic is None or traffic.newest_seen_wall_ms is None:
        return None
    close_ms = int(policy.traffic.close_after_seconds * 1000)
    closes_at = traffic.open_minute_ms + MINUTE_MS + close_ms  # on the traffic horizon
    return traffic.newest_seen_wall_ms + max(0, closes_at - traffic.newest_ms)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
