"""Settings come from the environment; secrets never print."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from interaction_streams.settings import STAGES, Settings
from interaction_streams.stream.app import create_worker, faust_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "CIM_STORE", "CIM_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.store == "rocksdb://"
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.processing_guarantee == "at_least_once"


def test_environment_sets_kafka_security_and_secret_stays_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "b1:9093,b2:9093")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "cim")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("CIM_WEB_PORT", "7000")
    settings = Settings()
    assert "s3cret" not in repr(settings)
    options = faust_settings(settings)
    assert options["broker"] == "kafka://b1:9093;kafka://b2:9093"
    credentials = options["broker_credentials"]
    assert (credentials.username, credentials.password) == ("cim", "s3cret")
    assert str(credentials.mechanism.value) == "SCRAM-SHA-512"
    assert options["web_port"] == 7000
    # a stage must not stall on each produce round trip once a 16 KiB batch fills
    assert options["producer_max_batch_size"] >= 1024 * 1024


def test_invalid_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIM_STORE", "redis://")
    with pytest.raises(ValueError, match="store"):
        Settings()


def test_a_worker_runs_the_stages_it_is_given_under_a_group_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CIM_TOPIC_PREFIX", "t.")
    monkeypatch.setenv("CIM_STAGES", " outbound, escalation ,outbound")
    settings = Settings()
    assert settings.stages == "escalation,outbound"  # pipeline order, once each
    assert settings.runs("escalation") and not settings.runs("routing")
    assert settings.group_id == "t.interaction-streams.escalation.outbound"
    # State keeps its name whatever the split: changelogs are named after the application.
    assert settings.changelog_prefix == "t.interaction-streams"
    monkeypatch.setenv("CIM_STAGES", ",".join(STAGES))
    assert Settings().stages == "all" and Settings().group_id == "t.interaction-streams"


def test_an_unknown_stage_is_refused_with_the_names_that_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CIM_STAGES", "routing,routeing")
    with pytest.raises(ValidationError, match="unknown stage routeing: use all or some of"):
        Settings()


def test_a_split_worker_declares_only_its_stages_and_keeps_the_changelog_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CIM_TOPIC_PREFIX", "t.")
    monkeypatch.setenv("CIM_STAGES", "routing")
    worker = create_worker(Settings())
    assert worker.app.conf.id == "t.interaction-streams.routing"
    assert worker.routing is not None
    assert worker.interactions is None and worker.escalation is None
    changelog = worker.routing.table.changelog_topic.get_topic_name()
    assert changelog == "t.interaction-streams-routing-changelog"
    assert [t.name for t in worker.app.tables.values()] == ["routing"]
