"""``interaction-streams simulate``: a scenario against the product through Kafka."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from rich.console import Console
from rich.live import Live

from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.routing.policy import RoutingPolicy, load_routing_policy
from interaction_streams.simulator.core import Simulation
from interaction_streams.simulator.dashboard import Dashboard
from interaction_streams.simulator.driver import RunSummary, drive
from interaction_streams.simulator.scenario import LoadedScenario
from interaction_streams.simulator.view import live_view, report_lines


def policy_of(loaded: LoadedScenario, fallback: Path | None = None) -> RoutingPolicy | None:
    path = loaded.routing_policy or fallback
    return load_routing_policy(path) if path is not None and path.exists() else None


def simulate(
    loaded: LoadedScenario,
    seed: int,
    speed: float,
    bootstrap: str,
    contract: TopicContract,
    wall_seconds: float | None = None,
    console: Console | None = None,
    live: bool = True,
    policy: RoutingPolicy | None = None,
    group_id: str | None = None,
    from_beginning: bool = False,
) -> tuple[Simulation, Dashboard, RunSummary]:
    """Run the scenario, showing the live view on ``console``; returns the final state."""
    console = console or Console()
    sim = Simulation(loaded.scenario, seed)
    board = Dashboard(policy=policy or policy_of(loaded))
    if not live or not console.is_terminal:
        last = [0.0]

        def progress(s: Simulation, b: Dashboard, r: RunSummary) -> None:
            if r.wall_seconds - last[0] >= 10:
                last[0] = r.wall_seconds
                console.print(
                    f"  {r.wall_seconds:4.0f} s: {r.produced} events, {b.waiting} waiting, "
                    f"{b.answered} answered, {b.abandoned} abandoned"
                )

        summary, board = asyncio.run(
            drive(
                sim,
                bootstrap,
                contract,
                speed,
                wall_seconds,
                board,
                progress,
                group_id=group_id,
                from_beginning=from_beginning,
                on_status=console.print,
            )
        )
    else:
        with Live(console=console, refresh_per_second=4, transient=False) as view:

            def show(s: Simulation, b: Dashboard, r: RunSummary) -> None:
                view.update(live_view(s, b, r))

            summary, board = asyncio.run(
                drive(
                    sim,
                    bootstrap,
                    contract,
                    speed,
                    wall_seconds,
                    board,
                    show,
                    group_id=group_id,
                    from_beginning=from_beginning,
                    on_status=console.print,
                )
            )
    return sim, board, summary


def print_report(console: Console, sim: Simulation, board: Dashboard, summary: RunSummary) -> None:
    console.rule("Report")
    for line in report_lines(sim, board, summary):
        console.print(line)


def main(
    scenario: str, seed: int, speed: float, duration: float | None, bootstrap: str | None
) -> int:
    from interaction_streams.settings import Settings
    from interaction_streams.simulator.scenario import load_scenario

    settings = Settings()
    loaded = load_scenario(scenario)
    contract = TopicContract.load(settings.topics_file, settings.topic_prefix)
    console = Console(width=None if sys.stdout.isatty() else 140)
    address = bootstrap or settings.kafka.bootstrap_servers
    console.print(
        f"Simulating {loaded.scenario.name} (seed {seed}, x{speed:g}) against {address}"
        + (f" for {duration:g} s" if duration else "")
    )
    if loaded.routing_policy:
        console.print(f"The workers should run with CIM_ROUTING_POLICY={loaded.routing_policy}")
    sim, board, summary = simulate(
        loaded,
        seed,
        speed,
        address,
        contract,
        duration,
        console,
        policy=policy_of(loaded, settings.routing_policy),
    )
    print_report(console, sim, board, summary)
    return 0
