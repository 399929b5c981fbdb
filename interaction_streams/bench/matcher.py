"""The matcher benchmark: assignment decisions per second of the pure matcher, for one routing
pool with 1,000 agents and 5,000 waiting interactions.

    python -m interaction_streams.bench.matcher [--agents N] [--waiting M] [--repeat R] [--out FILE]

No broker, no Faust: only ``interaction_streams.domain.routing``. Figures:

1. **batch match**: one ``match`` over the whole pool (every free agent slot offered what
   fits it, in order of service); decisions/s = offers made / seconds. Queues spread over the
   five strategies, then each strategy alone. The pool is immutable, so every repetition
   starts from the same pool; the median of R runs is reported.
2. **accept path**: every offer of that match accepted one by one (``accept``): accepts/s.
3. **steady state**: the event-by-event loop of a live pool, from the pool after the batch
   with every offer accepted (every slot that some waiting entry fits is busy; the slots no
   entry fits stay free): an agent completes one item (no wrap-up), ``match`` offers the freed
   slot if a waiting entry fits it, the agent accepts. Decisions/s = offers / seconds of all
   the ``match`` calls (those that found nothing included), and cycles/s of the three steps.
4. **raw ceiling** of the same run: the same entries sorted in the same order and paired with
   free slots in a plain loop (no eligibility, no strategy, no model), building one tuple per
   decision: the figures are also given as a ratio to it.

Everything is generated from a seed, so two runs build the same pool.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from interaction_streams.contract.events.agent import AgentLoggedIn
from interaction_streams.domain.routing import matcher as m
from interaction_streams.domain.routing.agents import CapacityRules
from interaction_streams.domain.routing.skills import SkillRequirement, Target

console = Console(width=None if sys.stdout.isatty() else 120)

SKILLS = tuple(f"skill-{i:02d}" for i in range(20))
QUEUES = tuple(f"queue-{i}" for i in range(10))
T0 = 1_700_000_000_000
TARGET_PER_SECOND = 20_000
OFFER_TIMEOUT_MS = 20_000
# capacity profiles: (share, capacity, rules)
PROFILES: tuple[tuple[float, dict[str, int], CapacityRules], ...] = (
    (0.3, {"voice": 1}, CapacityRules()),
    (0.4, {"chat": 3, "email": 5}, CapacityRules(max_total=6)),
    (0.3, {"voice": 1, "chat": 2, "email": 3}, CapacityRules(max_total=4)),
)
CHANNELS = (("voice", 0.4), ("chat", 0.35), ("email", 0.25))


@dataclass(frozen=True)
class Options:
    agents: int
    waiting: int
    repeat: int
    steady: int
    seed: int
    out: Path


# ------------------------------------------------------------------------- the pool


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([x for x, _ in weighted], weights=[w for _, w in weighted])[0]


def build_pool(n_agents: int, n_waiting: int, seed: int) -> m.Pool:
    rng = random.Random(seed)
    pool = m.Pool(pool_id="bench")
    profiles = tuple(((cap, rules), share) for share, cap, rules in PROFILES)
    for i in range(n_agents):
        capacity, rules = _pick(rng, profiles)
        skills = {s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(3, 6))}
        login = AgentLoggedIn(
            agent_id=f"agent-{i:04d}",
            routing_pool="bench",
            skills=skills,
            capacity=capacity,
            wrap_up_seconds=0,
        )
        at = T0 - rng.randint(0, 3_600_000)
        pool, _ = m.on_agent_event(pool, "cim.agent.logged-in", login, at, rules=rules)
    for j in range(n_waiting):
        required = tuple(
            SkillRequirement(skill=s, min_proficiency=rng.randint(1, 3))
            for s in rng.sample(SKILLS, _pick(rng, ((0, 0.3), (1, 0.5), (2, 0.2))))
        )
        optional = tuple(SkillRequirement(skill=s) for s in rng.sample(SKILLS, rng.randint(0, 1)))
        target = Target(
            queues=(rng.choice(QUEUES),),
            priority=_pick(rng, ((0, 0.7), (1, 0.2), (5, 0.1))),
            required=required,
            optional=optional,
        )
        pool = m.enqueue(
            pool,
            m.Waiting(
                interaction_id=f"int-{j:05d}",
                channel=_pick(rng, CHANNELS),
                target=target,
                enqueued_ms=T0 - rng.randint(0, 1_800_000),
            ),
        )
    return pool


def strategies_mixed() -> dict[str, str]:
    return {q: m.STRATEGIES[i % len(m.STRATEGIES)] for i, q in enumerate(QUEUES)}


# ------------------------------------------------------------------------- measures


def _timed(fn: Callable[[], int], repeat: int) -> dict[str, Any]:
    """Median wall and CPU seconds of ``fn`` over ``repeat`` runs (each after a full garbage
    collection, so that one run does not pay for the garbage of the previous one), and the
    decisions it made. CPU time is the steadier figure on a shared machine."""
    wall: list[float] = []
    cpu: list[float] = []
    decisions = 0
    for _ in range(repeat):
        gc.collect()
        began, began_cpu = time.perf_counter(), time.process_time()
        decisions = fn()
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    median, median_cpu = statistics.median(wall), statistics.median(cpu)
    return {
        "decisions": decisions,
        "seconds_median": median,
        "seconds_min": min(wall),
        "cpu_seconds_median": median_cpu,
        "decisions_per_second": decisions / median if median else 0.0,
        "decisions_per_second_best": decisions / min(wall) if min(wall) else 0.0,
        "decisions_per_cpu_second": decisions / median_cpu if median_cpu else 0.0,
    }


def batch(pool: m.Pool, strategies: dict[str, str], repeat: int) -> dict[str, Any]:
    return _timed(lambda: len(m.match(pool, T0, strategies, OFFER_TIMEOUT_MS)[1]), repeat)


def accept_path(pool: m.Pool, repeat: int) -> dict[str, Any]:
    matched, offers = m.match(pool, T0, strategies_mixed(), OFFER_TIMEOUT_MS)

    def run() -> int:
        p = matched
        for offer in offers:
            p, done = m.accept(p, offer.offer_id, T0 + 1_000)
            assert done is not None
        return len(offers)

    return _timed(run, repeat)


def steady_state(pool: m.Pool, cycles: int, seed: int) -> dict[str, Any]:
    """Full pool; each cycle: one completion, one match, one accept."""
    strategies = strategies_mixed()
    p, offers = m.match(pool, T0, strategies, OFFER_TIMEOUT_MS)
    for offer in offers:
        p, _ = m.accept(p, offer.offer_id, T0 + 1)
    rng = random.Random(seed)
    busy = sorted(p.assignments)
    now = T0 + 1_000
    match_seconds = complete_seconds = accept_seconds = match_cpu = 0.0
    offers_made = 0
    gc.collect()
    for _ in range(cycles):
        now += 50
        agent_id = rng.choice(busy)
        held = p.assignments.get(agent_id)
        if not held:
            continue
        item = min(held)
        t0 = time.perf_counter()
        p = m.complete(p, agent_id, item, now)
        t1, c1 = time.perf_counter(), time.process_time()
        p, made = m.match(p, now, strategies, OFFER_TIMEOUT_MS)
        t2, c2 = time.perf_counter(), time.process_time()
        match_cpu += c2 - c1
        for offer in made:
            p, _ = m.accept(p, offer.offer_id, now)
        t3 = time.perf_counter()
        complete_seconds += t1 - t0
        match_seconds += t2 - t1
        accept_seconds += t3 - t2
        offers_made += len(made)
        busy = sorted(p.assignments)
    total = match_seconds + complete_seconds + accept_seconds
    return {
        "cycles": cycles,
        "decisions": offers_made,
        "match_seconds": match_seconds,
        "decisions_per_second": offers_made / match_seconds if match_seconds else 0.0,
        "decisions_per_cpu_second": offers_made / match_cpu if match_cpu else 0.0,
        "match_ms_per_call": 1000 * match_seconds / cycles,
        "cycles_per_second": cycles / total if total else 0.0,
        "waiting_left": len(p.waiting),
    }


def ceiling(pool: m.Pool, decisions: int, repeat: int) -> dict[str, Any]:
    """A plain loop of the same size: sort the same entries, pair them with free slots."""
    slots = [
        (a.id, ch)
        for a in pool.agents.values()
        for ch, n in sorted(a.capacity.items())
        for _ in range(n)
    ]

    def run() -> int:
        order = sorted(pool.waiting.values(), key=m.order_key)
        agents = dict(pool.agents)
        made: dict[str, tuple[str, str, int]] = {}
        for entry, (agent_id, _) in zip(order, slots[:decisions], strict=False):
            made[entry.interaction_id] = (agent_id, entry.interaction_id, T0 + OFFER_TIMEOUT_MS)
            agents[agent_id] = agents[agent_id]
        return len(made)

    return _timed(run, repeat)


# ------------------------------------------------------------------------- report


def run(opts: Options) -> dict[str, Any]:
    load_average = _load_average()
    began = time.perf_counter()
    pool = build_pool(opts.agents, opts.waiting, opts.seed)
    built = time.perf_counter() - began
    mixed = batch(pool, strategies_mixed(), opts.repeat)
    per_strategy = {s: batch(pool, dict.fromkeys(QUEUES, s), opts.repeat) for s in m.STRATEGIES}
    accepts = accept_path(pool, opts.repeat)
    steady = steady_state(pool, opts.steady, opts.seed)
    raw = ceiling(pool, mixed["decisions"], opts.repeat)
    raw_rate = raw["decisions_per_second"]
    for figures in (mixed, accepts, steady, *per_strategy.values()):
        figures["ratio_to_ceiling"] = figures["decisions_per_second"] / raw_rate if raw_rate else 0
    slots = sum(sum(a.capacity.values()) for a in pool.agents.values())
    return {
        "benchmark": "matcher",
        "pool": {
            "agents": opts.agents,
            "waiting": opts.waiting,
            "capacity_slots": slots,
            "skills": len(SKILLS),
            "queues": len(QUEUES),
            "seed": opts.seed,
            "build_seconds": round(built, 2),
        },
        "target_decisions_per_second": TARGET_PER_SECOND,
        "batch_match": mixed,
        "batch_match_by_strategy": per_strategy,
        "accept_path": accepts,
        "steady_state": steady,
        "raw_ceiling": raw,
        "meets_target": mixed["decisions_per_cpu_second"] >= TARGET_PER_SECOND,
        "repeat": opts.repeat,
        "load_average": load_average,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def _load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def print_report(r: dict[str, Any]) -> None:
    p = r["pool"]
    table = Table(
        title=(
            f"Matcher benchmark: one pool, {p['agents']:,} agents ({p['capacity_slots']:,} "
            f"slots), {p['waiting']:,} waiting"
        )
    )
    table.add_column("figure")
    table.add_column("decisions", justify="right")
    table.add_column("per second", justify="right")
    table.add_column("best run", justify="right")
    table.add_column("per CPU s", justify="right")
    table.add_column("x ceiling", justify="right")
    table.add_column("note")

    def row(name: str, f: dict[str, Any], note: str) -> None:
        table.add_row(
            name,
            f"{f['decisions']:,}",
            f"{f['decisions_per_second']:,.0f}",
            f"{f['decisions_per_second_best']:,.0f}" if "decisions_per_second_best" in f else "",
            f"{f['decisions_per_cpu_second']:,.0f}",
            f"{f.get('ratio_to_ceiling', 1.0):.3f}",
            note,
        )

    mixed = r["batch_match"]
    row("batch match, 5 strategies", mixed, f"{1000 * mixed['seconds_median']:,.1f} ms per match")
    for name, f in r["batch_match_by_strategy"].items():
        row(f"  {name} only", f, f"{1000 * f['seconds_median']:,.1f} ms")
    row("accept path", r["accept_path"], "accepts of the batch's offers")
    s = r["steady_state"]
    row(
        "steady state (match)",
        s,
        f"{s['match_ms_per_call']:.2f} ms per match call (1 freed slot); "
        f"{s['cycles_per_second']:,.0f} complete+match+accept cycles/s",
    )
    row("raw ceiling", r["raw_ceiling"], "sort + pair with slots, plain tuples")
    console.print(table)
    verdict = "meets" if r["meets_target"] else "MISSES"
    console.print(
        f"Batch match, 5 strategies: {mixed['decisions_per_cpu_second']:,.0f} decisions per CPU "
        f"second (median of {r['repeat']}; wall: median {mixed['decisions_per_second']:,.0f}/s, "
        f"best {mixed['decisions_per_second_best']:,.0f}/s): {verdict} the target of "
        f"{r['target_decisions_per_second']:,}/s. Load average at the start: {r['load_average']}."
    )


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m interaction_streams.bench.matcher",
        description="Assignment decisions per second of the pure matcher.",
    )
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--waiting", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--steady", type=int, default=2_000, help="steady-state cycles")
    parser.add_argument("--seed", type=int, default=683)
    parser.add_argument("--out", type=Path, default=Path("bench-results/matcher.json"))
    args = parser.parse_args(argv)
    if min(args.agents, args.waiting, args.repeat, args.steady) < 1:
        parser.error("--agents, --waiting, --repeat and --steady must be positive")
    return Options(
        agents=args.agents,
        waiting=args.waiting,
        repeat=args.repeat,
        steady=args.steady,
        seed=args.seed,
        out=args.out,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    results = run(opts)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)
    console.print(f"Figures written to [bold]{opts.out}[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
