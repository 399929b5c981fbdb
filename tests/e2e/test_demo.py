"""The `make run` demo, end to end through Kafka: sample in, stage topics and a dead letter out."""

from __future__ import annotations

import pytest

from interaction_streams.demo import run_demo

pytestmark = pytest.mark.kafka


def test_demo_shows_the_sample_flowing_the_dead_letter_and_the_dropped_duplicate(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(kafka_bootstrap) == 0
    shown = capsys.readouterr().out
    assert "Dead letters" in shown and "unreadable" in shown
    assert 'cim_duplicates_dropped_total{topic="' in shown
    assert "party-42 (customer)" in shown and "completed / closed" in shown
    assert "14 in, 12 accepted, 1 duplicate dropped, 1 dead-lettered" in shown
