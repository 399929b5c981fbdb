"""The solicitation policy file: the shipped one loads; a bad one is refused with file, line
and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from interaction_streams.domain.outbound.policy import (
    load_solicitation_policy,
    parse_solicitation_policy,
)
from interaction_streams.settings import Settings
from interaction_streams.yamlfile import YamlFileError


def test_the_shipped_policy_loads() -> None:
    policy = load_solicitation_policy(Settings().solicitation_policy)
    assert [c.name for c in policy.caps][:2] == ["marketing-week", "marketing-day"]
    assert {t.moment for t in policy.triggers} >= {"affected-by-incident", "payment-overdue"}


def refused(text: str) -> list[str]:
    with pytest.raises(YamlFileError) as caught:
        parse_solicitation_policy(text, "solicitation.yaml")
    return caught.value.problems


def test_exemptions_never_bypass_consent_and_name_known_rules_and_facts() -> None:
    problems = refused(
        """
exemptions:
  - name: alerts
    when: 'purpose == "alert"'
    bypass: [caps, consent]
  - name: vip
    when: 'tier == "gold"'
    bypass: [quietHour]
"""
    )
    assert problems == [
        "solicitation.yaml:5: exemptions.0.bypass: consent is never bypassed",
        "solicitation.yaml:7: exemptions.1.when: unknown fact 'tier' (did you mean 'trigger'?)",
        "solicitation.yaml:8: exemptions.1.bypass: unknown rule 'quietHour' "
        "(did you mean 'quietHours'?)",
    ]


def test_bad_values_are_refused_with_their_lines() -> None:
    problems = refused(
        """
defaultTimeZone: Europe/Londres
quietHours:
  - start: 21:00
    end: "08:00"
caps:
  - name: week
    purposes: [marketing]
    max: -1
    windowSeconds: 604800
exemptions:
  - name: broken
    when: 'purpose = "alert"'
    bypass: [caps]
"""
    )
    text = "\n".join(problems)
    assert "solicitation.yaml:4: quietHours.0.start" in text and "HH:MM" in text
    assert "solicitation.yaml:9: caps.0.max" in text
    assert any(p.startswith("solicitation.yaml:13: exemptions.0.when: column 9") for p in problems)


def test_policy_level_problems_point_at_their_line() -> None:
    problems = refused(
        """
defaultTimeZone: Mars/Olympus
caps:
  - {name: day, purposes: [marketing], max: 1, windowSeconds: 86400}
  - {name: day, purposes: [service], max: 1, windowSeconds: 86400}
"""
    )
    assert problems == [
        "solicitation.yaml:2: defaultTimeZone: unknown time zone 'Mars/Olympus'",
        "solicitation.yaml:5: caps.1.name: duplicate cap name 'day'",
    ]


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(YamlFileError):
        load_solicitation_policy(tmp_path / "nope.yaml")
