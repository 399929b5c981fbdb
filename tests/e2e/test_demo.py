"""The `make run` demo, end to end through Kafka: the simulator against one worker with a live
view and a closing report; and the small sample walk-through (``demo --sample``)."""

from __future__ import annotations

import re

import pytest

from interaction_streams.demo import run_demo, run_sample

pytestmark = pytest.mark.kafka


def figure(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in the report:\n{text}"
    return int(found.group(1))


def test_demo_routes_the_simulated_contact_center_and_reports_it(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(kafka_bootstrap, seconds=25, speed=10) == 0
    shown = capsys.readouterr().out
    assert "Report" in shown and "OK: the product routed the simulated traffic" in shown
    offers = figure(r"Offers: (\d+) made", shown)
    accepted = figure(r"made, (\d+) accepted", shown)
    assert offers > 0 and 0 < accepted <= offers
    assert figure(r"Answered: (\d+)", shown) > 0
    assert figure(r"Contacts: (\d+) arrived", shown) >= figure(r"contained, (\d+) queued", shown)
    assert figure(r"dead letters: (\d+)", shown) == 1  # the one malformed record
    assert re.search(r"service level: \d+%", shown)
    assert "Worker metrics: 1 dead letters" in shown


def test_sample_shows_the_flow_the_dead_letter_and_the_dropped_duplicate(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_sample(kafka_bootstrap) == 0
    shown = capsys.readouterr().out
    assert "Dead letters" in shown and "unreadable" in shown
    assert 'cim_duplicates_dropped_total{topic="' in shown
    assert "party-42 (customer)" in shown and "completed / closed" in shown
    assert "14 in, 12 accepted, 1 duplicate dropped, 1 dead-lettered" in shown
