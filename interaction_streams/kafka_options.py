"""Connection options of plain aiokafka clients (consumer, producer, admin) from KafkaSettings.

Faust's own clients get theirs from ``stream.app.faust_settings``; the clients a worker
opens beside Faust (replicas of compacted topics, the hub's producer, ``topics apply``)
take them from here, so that TLS and SASL are configured in one place.
"""

from __future__ import annotations

from typing import Any

from interaction_streams.settings import KafkaSettings

REQUEST_TIMEOUT_MS = 30_000


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Bootstrap, security protocol, SASL credentials and TLS context, as aiokafka names them."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
    }
    if kafka.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        options["sasl_plain_password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        )
    context = kafka.ssl_context()
    if context is not None:
        options["ssl_context"] = context
    return options


def consumer_options(kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """Options of an ``AIOKafkaConsumer`` that reads without a group and commits nothing."""
    return {
        **client_options(kafka),
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **overrides,
    }


def producer_options(kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """Options of an ``AIOKafkaProducer`` whose sends are acknowledged by every in-sync replica."""
    return {**client_options(kafka), "acks": "all", **overrides}
