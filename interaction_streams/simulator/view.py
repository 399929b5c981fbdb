"""The live terminal view and the closing report of a simulation (rich renderables)."""

from __future__ import annotations

from collections import Counter

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table

from interaction_streams.simulator.core import Simulation, iso
from interaction_streams.simulator.dashboard import Dashboard
from interaction_streams.simulator.driver import RunSummary


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _secs(ms: float) -> str:
    return f"{ms / 1000:.0f}s"


def queues_table(sim: Simulation, board: Dashboard) -> Table:
    table = Table(title=f"Queues at {iso(sim.now_ms)[11:19]} (simulated)", expand=False)
    for column in ("queue", "waiting", "oldest wait", "offers", "answered", "abandoned", "SL"):
        table.add_column(column, justify="left" if column == "queue" else "right")
    for name, q in sorted(board.queues.items()):
        sl = q.service_level
        colour = "green" if sl is None or sl >= 0.8 else "yellow" if sl >= 0.6 else "red"
        table.add_row(
            name,
            str(len(q.waiting)),
            _secs(q.oldest_ms(sim.now_ms)),
            str(q.offers),
            str(q.answered),
            str(q.abandoned),
            f"[{colour}]{_pct(sl)}[/]",
        )
    return table


def agents_table(sim: Simulation) -> Table:
    by_group: dict[str, Counter[str]] = {}
    for a in sim.agents.values():
        by_group.setdefault(a.spec.group.name, Counter())[a.presence] += 1
    states = ("available", "ringing", "busy", "away", "offline")
    table = Table(title="Agents by presence (simulated desktops)")
    table.add_column("group")
    for s in states:
        table.add_column(s, justify="right")
    for group, counts in by_group.items():
        table.add_row(group, *(str(counts[s]) for s in states))
    return table


def counters_table(sim: Simulation, board: Dashboard, summary: RunSummary) -> Table:
    s = sim.stats
    table = Table(title="Flow", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("events produced", f"{summary.produced:,}"),
        ("contacts arrived", f"{sum(s.arrivals.values()):,}"),
        ("contained (IVR/bot)", f"{sum(s.contained.values()):,}"),
        (
            "offers (accepted / rejected)",
            f"{board.assignments['offer']} ({s.accepted} / {s.rejected})",
        ),
        (
            "offers timed out / rescinded",
            f"{board.assignments['timeout']} / {board.assignments['rescind']}",
        ),
        ("answered / abandoned", f"{board.answered} / {board.abandoned}"),
        ("service level", _pct(board.service_level)),
        ("transfers", str(s.transfers)),
        ("escalations", str(board.escalations)),
        ("dead letters", str(sum(board.dead_letters.values()))),
        ("simulated time", f"{summary.simulated_seconds / 60:.1f} min"),
        ("wall time", f"{summary.wall_seconds:.0f} s"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    return table


def live_view(sim: Simulation, board: Dashboard, summary: RunSummary) -> RenderableType:
    return Group(
        queues_table(sim, board),
        Columns([agents_table(sim), counters_table(sim, board, summary)]),
    )


def report_lines(sim: Simulation, board: Dashboard, summary: RunSummary) -> list[str]:
    """The closing report's key figures, one per line (the e2e test reads them)."""
    s = sim.stats
    waits = sorted(w for ws in s.waits_ms.values() for w in ws)
    mean_wait = sum(waits) / len(waits) / 1000 if waits else 0.0
    csat = sum(s.csat) / len(s.csat) if s.csat else 0.0
    lags = sorted(s.offer_lag_ms)
    lag = lags[len(lags) // 2] / 1000 if lags else 0.0
    return [
        f"Scenario {sim.scenario.name}, seed {sim.seed}: {summary.simulated_seconds / 60:.1f} "
        f"simulated minutes in {summary.wall_seconds:.0f} s",
        f"Events produced: {summary.produced}",
        f"Contacts: {sum(s.arrivals.values())} arrived, {sum(s.contained.values())} contained, "
        f"{sum(s.queued.values())} queued",
        f"Offers: {board.assignments['offer']} made, {s.accepted} accepted, {s.rejected} rejected, "
        f"{board.assignments['timeout']} timed out, {board.assignments['rescind']} rescinded",
        f"Answered: {board.answered}, abandoned: {board.abandoned}, "
        f"service level: {_pct(board.service_level)}, mean wait {mean_wait:.1f} s",
        f"Offers reached the agents {lag:.1f} s (simulated, median) after the product made them",
        f"Transfers: {s.transfers}, CSAT: {csat:.2f} from {len(s.csat)} surveys",
        f"Business events: {s.business}, escalations: {board.escalations}, "
        f"dead letters: {sum(board.dead_letters.values())}",
    ]
