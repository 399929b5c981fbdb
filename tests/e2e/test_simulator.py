"""The simulator against a real worker through Kafka: a closed loop in which the simulated
agents answer the product's offers, and the traffic offered is the seed's."""

from __future__ import annotations

import asyncio

import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.simulator.core import START_TYPE, Simulation
from interaction_streams.simulator.dashboard import Dashboard
from interaction_streams.simulator.driver import drive
from interaction_streams.simulator.run import policy_of
from interaction_streams.simulator.scenario import load_scenario
from tests.conftest import WorkerFactory

pytestmark = pytest.mark.kafka


def test_simulated_agents_answer_the_products_offers_and_the_traffic_is_the_seeds(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    loaded = load_scenario("single-queue")
    assert loaded.routing_policy is not None
    worker = worker_factory(
        cim_clock="event",
        cim_sweep_interval_seconds="1",
        cim_routing_policy=str(loaded.routing_policy),
        cim_routing_offer_timeout_seconds="60",
    )
    sim = Simulation(loaded.scenario, 42)
    summary, board = asyncio.run(
        drive(
            sim,
            kafka_bootstrap,
            topics,
            speed=10,
            wall_seconds=40,
            dashboard=Dashboard(policy=policy_of(loaded)),
            keep_inputs=True,
            group_id=worker.app_id,
        )
    )
    # The loop closed: the product offered, the simulated agents accepted, the product assigned.
    assert board.assignments["offer"] > 0 and sim.stats.accepted > 0
    assert board.assignments["assign"] > 0 and board.answered > 0
    assert set(board.queues) == {"support"}  # the scenario's one-queue policy decided
    assert not board.dead_letters
    # What reached Kafka from the customers' side is what the seed alone gives, whatever the
    # product decided and however fast it did.
    reached = max(e.at_ms for e in summary.inputs)
    alone = Simulation(loaded.scenario, 42).advance(reached)
    arriving = set(START_TYPE.values()) | {"cim.interaction.queued"}

    def offered(events: list[object]) -> list[tuple[object, ...]]:
        return [
            (e.at_ms, e.key, e.type, e.id)  # type: ignore[attr-defined]
            for e in events
            if e.type in arriving  # type: ignore[attr-defined]
        ]

    assert offered(list(summary.inputs)) == offered(list(alone))
    assert len(offered(list(alone))) > 5
