"""The routing-stage benchmark runs end to end on a small pool: every cycle gives an offer,
an assignment and a queued decision, timed both by the driver and on the broker's clock."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from interaction_streams.bench.routing_stage import run

pytestmark = pytest.mark.kafka


def test_a_small_run_times_every_decision_on_both_clocks(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    opts = argparse.Namespace(
        agents=4, waiting=6, cycles=5, position_interval=5.0, stages="routing"
    )
    result = asyncio.run(run(opts, kafka_bootstrap, tmp_path))
    for figures in ("latency", "through_stage"):
        assert {k: v["count"] for k, v in result[figures].items()} == {
            "offer": 5,
            "assign": 5,
            "queued": 5,
            "all": 15,
        }
    # The broker's clock sees only part of the driver's round trip (its stamps: whole ms).
    through, trip = result["through_stage"]["all"], result["latency"]["all"]
    assert through["mean_ms"] <= trip["mean_ms"] + 1.0
    assert result["ceiling"]["count"] == result["faust_hop_through"]["count"] == 5
    assert result["stage_processing_ms_per_record"] > 0
