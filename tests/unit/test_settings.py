"""Settings come from the environment; secrets never print."""

from __future__ import annotations

import pytest

from interaction_streams.settings import Settings
from interaction_streams.stream.app import faust_settings


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
