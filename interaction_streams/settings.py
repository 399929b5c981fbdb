"""Worker settings, from environment variables (documented in the README with their defaults)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Connection to Kafka; SASL and TLS settings come only from the environment."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    def broker_url(self) -> str:
        return ";".join(f"kafka://{s.strip()}" for s in self.bootstrap_servers.split(","))


# The stages a worker can run (CIM_STAGES), in pipeline order.
STAGES = (
    "ingest",
    "interactions",
    "customers",
    "areas",
    "routing",
    "channels",
    "escalation",
    "outbound",
    "hub",
)


class Settings(BaseSettings):
    """Everything a worker needs; every field is an environment variable with prefix CIM_."""

    model_config = SettingsConfigDict(env_prefix="CIM_", frozen=True, extra="ignore")

    app_id: str = "interaction-streams"
    stages: str = Field(
        default="all",
        description="the stages this worker runs: all, or names separated by commas; each "
        "stage must run in exactly one set of workers",
    )
    topic_prefix: str = Field(default="", description="prepended to every topic name")
    topics_file: Path | None = None
    store: Literal["rocksdb://", "memory://"] = "rocksdb://"
    data_dir: Path = Path("./.data")
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)
    canonical_url: str | None = None
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    dedup_window_seconds: int = Field(default=86_400, ge=1)
    lateness_seconds: float = Field(
        default=30.0, ge=0, description="disorder within this bound gives the in-order result"
    )
    interaction_retention_seconds: float = Field(
        default=7 * 86_400, ge=0, description="how long a closed interaction stays queryable"
    )
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    clock: Literal["live", "event"] = Field(
        default="live", description="live: the wall clock also advances timers; event: only events"
    )
    context_policy: Path | None = Field(
        default=None, description="YAML file of the customer-context policy (windows, repeat...)"
    )
    phone_region: str = Field(default="GB", min_length=2, max_length=2)
    routing_policy: Path = Field(
        default=Path(__file__).resolve().parents[1] / "deploy" / "policies" / "routing.yaml",
        description="YAML file of the routing policy (queues, rules, timed steps)",
    )
    routing_offer_timeout_seconds: float = Field(
        default=20.0, gt=0, description="how long an agent has to accept an offer"
    )
    routing_max_missed_offers: int = Field(
        default=3, ge=0, description="offers timed out in a row that set an agent away (0: never)"
    )
    routing_position_interval_seconds: float = Field(
        default=5.0,
        ge=0,
        description="least event time between two queue-position updates of one interaction",
    )
    routing_tick_seconds: float = Field(
        default=1.0,
        gt=0,
        description="most wall time between two looks of the routing timer for offers timed "
        "out, timed steps and held position updates in a quiet pool (at most "
        "CIM_SWEEP_INTERVAL_SECONDS)",
    )
    routing_position_batch: int = Field(
        default=20,
        ge=1,
        description="most queue-position updates sent per record or tick of a routing pool "
        "(the rest follow with the next ones), so a queue-wide change never delays decisions",
    )
    # ---- channel operation ----
    channel_policy: Path | None = Field(
        default=None, description="YAML file of the channel policy (heartbeat silence, traffic)"
    )
    channel_tick_seconds: float = Field(
        default=5.0, gt=0, description="how often channel timers and traffic counts run"
    )
    # ---- escalation stage ----
    escalation_policy: Path = Field(
        default=Path(__file__).resolve().parents[1] / "deploy" / "policies" / "escalation.yaml",
        description="YAML file of the escalation policy (targets, calendars, rules, levels)",
    )
    guidance_policy: Path = Field(
        default=Path(__file__).resolve().parents[1] / "deploy" / "policies" / "guidance.yaml",
        description="YAML file of the guidance flows and recommendation settings",
    )
    escalation_sweep_seconds: float = Field(
        default=0.5, gt=0, le=1.0, description="how often the escalation timer looks for due cases"
    )
    escalation_retention_seconds: float = Field(
        default=86_400, ge=0, description="how long a resolved case is kept against redelivery"
    )
    escalation_case_retention_seconds: float = Field(
        default=604_800,
        gt=0,
        description="how long (event time) a case is kept after its last activity when its "
        "interaction never closes",
    )
    solicitation_policy: Path = Field(
        default=Path(__file__).resolve().parents[1] / "deploy" / "policies" / "solicitation.yaml",
        description="YAML file of the solicitation policy (consent, quiet hours, caps...)",
    )
    session_timeout_seconds: float = Field(
        default=30.0, ge=6.0, description="how long a silent worker keeps its partitions"
    )
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    rocksdb_block_cache_mb: int = Field(default=32, ge=1)
    rocksdb_write_buffer_mb: int = Field(default=16, ge=1)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        if names == ["all"] or set(names) == set(STAGES):
            return "all"
        unknown = sorted(set(names) - set(STAGES))
        if unknown or not names:
            raise ValueError(
                f"unknown stage {', '.join(unknown) or '(none)'}: "
                f"use all or some of {', '.join(STAGES)}"
            )
        return ",".join(n for n in STAGES if n in names)  # pipeline order, once each

    def runs(self, stage: str) -> bool:
        """Whether this worker runs ``stage`` (CIM_STAGES)."""
        return self.stages == "all" or stage in self.stages.split(",")

    @property
    def group_id(self) -> str:
        """The consumer group: one per set of stages, since two sets may read one topic (a
        group hands each partition to one member). The application id with all stages."""
        base = self.topic_prefix + self.app_id
        return base if self.stages == "all" else f"{base}.{self.stages.replace(',', '.')}"

    @property
    def changelog_prefix(self) -> str:
        """Table changelogs are named after the application, not the group: a stage keeps its
        state when the stages are split over workers differently."""
        return self.topic_prefix + self.app_id

    @property
    def web_url(self) -> str:
        return self.canonical_url or f"http://{self.web_host}:{self.web_port}"
