"""Stages split over two workers (``CIM_STAGES``): the escalation and outbound stages in one,
every other stage in the other. In one worker these two ride on the agents of the
interaction, routing and customer stages; split, they read those topics themselves. The
escalation scenarios then give the same results: channel messages (email response), routing
requests forwarded with their context (VIP waiting, payment overdue), profiles with consent
(marketing allowed again after the cool-down)."""

from __future__ import annotations

from pathlib import Path

import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import WorkerProcess
from interaction_streams.settings import STAGES
from tests.conftest import WorkerFactory
from tests.e2e import test_escalation as scenarios

pytestmark = pytest.mark.kafka

APART = ("escalation", "outbound")


def split(worker_factory: WorkerFactory) -> WorkerFactory:
    """A factory that starts the worker pair and returns the one with the other stages."""

    def start(name: str = "w1", data_dir: Path | None = None, **env: str) -> WorkerProcess:
        worker_factory(f"{name}-apart", **env, cim_stages=",".join(APART))
        rest = ",".join(s for s in STAGES if s not in APART)
        return worker_factory(name, data_dir, **env, cim_stages=rest)

    return start


def test_escalation_and_outbound_in_their_own_worker_give_the_same_escalations(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    scenarios.test_a_waiting_vip_complaint_with_an_overdue_bill_escalates_at_every_level(
        kafka_bootstrap, topics, split(worker_factory), tmp_path
    )


def test_messages_and_consent_reach_the_stages_of_another_worker(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    scenarios.test_email_response_promised_callback_and_second_abandonment(
        kafka_bootstrap, topics, split(worker_factory), tmp_path
    )
