"""The topic contract, read from ``topics.yaml``: the only place topic names come from."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interaction_streams.contract.events.registry import FAMILIES, Family
from interaction_streams.yamlfile import load_yaml_model

DEFAULT_TOPICS_FILE = Path(__file__).resolve().parents[2] / "topics.yaml"
_NAME = re.compile(r"^cim\.[a-z0-9-]+(\.[a-z0-9-]+)*\.v[0-9]+$")
_DURATION = re.compile(r"^(forever|[0-9]+(ms|s|m|h|d))$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicDefaults(_Strict):
    partitions: int = Field(default=4, ge=1, le=1000)
    replication_factor: int = Field(default=3, ge=1, le=10)
    cleanup_policy: Literal["delete", "compact"] = "delete"
    retention: str = "7d"


class TopicSpec(_Strict):
    name: str
    status: Literal["active", "planned"]
    purpose: str
    key: str
    value_schema: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    carries: Family | None = None  # an input topic: the family of event types it carries
    ingested: Family | None = None  # a stage topic: accepted events of this family
    partitions: int | None = Field(default=None, ge=1, le=1000)
    replication_factor: int | None = Field(default=None, ge=1, le=10)
    cleanup_policy: Literal["delete", "compact"] | None = None
    retention: str | None = None

    @field_validator("name")
    @classmethod
    def _conventional_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"{name!r} does not follow cim.<area>.<what>.v<major>")
        return name

    @field_validator("retention")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and not _DURATION.match(value):
            raise ValueError(f"retention {value!r}: use forever or <n>ms|s|m|h|d")
        return value


class Topic(BaseModel):
    """A topic with defaults applied and the deployment's name prefix."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    spec: TopicSpec
    partitions: int
    replication_factor: int
    cleanup_policy: Literal["delete", "compact"]
    retention_ms: int  # -1 = forever

    def kafka_config(self) -> dict[str, str]:
        return {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms)}


class TopicsFile(_Strict):
    defaults: TopicDefaults = TopicDefaults()
    topics: dict[str, TopicSpec]

    @model_validator(mode="after")
    def _consistent(self) -> TopicsFile:
        names = [t.name for t in self.topics.values()]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"topic names declared twice: {sorted(dupes)}")
        for role in ("carries", "ingested"):
            for family in FAMILIES:
                owners = [i for i, t in self.topics.items() if getattr(t, role) == family]
                if len(owners) != 1:
                    raise ValueError(f"exactly one topic must have {role}: {family}; got {owners}")
        return self


def retention_ms(value: str) -> int:
    if value == "forever":
        return -1
    number, unit = re.fullmatch(r"([0-9]+)(ms|s|m|h|d)", value).groups()  # type: ignore[union-attr]
    return int(number) * _UNIT_MS[unit]


class TopicContract:
    """Topics by id, with the deployment's optional name prefix applied."""

    def __init__(self, spec: TopicsFile, prefix: str = "") -> None:
        self.file = spec
        self.prefix = prefix

    @classmethod
    def load(cls, path: Path | None = None, prefix: str = "") -> TopicContract:
        path = path or Path(os.environ.get("CIM_TOPICS_FILE", DEFAULT_TOPICS_FILE))
        return cls(load_yaml_model(path, TopicsFile), prefix)

    @cached_property
    def topics(self) -> dict[str, Topic]:
        d = self.file.defaults
        return {
            topic_id: Topic(
                id=topic_id,
                name=self.prefix + spec.name,
                spec=spec,
                partitions=spec.partitions or d.partitions,
                replication_factor=spec.replication_factor or d.replication_factor,
                cleanup_policy=spec.cleanup_policy or d.cleanup_policy,
                retention_ms=retention_ms(spec.retention or d.retention),
            )
            for topic_id, spec in self.file.topics.items()
        }

    def __getitem__(self, topic_id: str) -> Topic:
        return self.topics[topic_id]

    def __iter__(self) -> Iterator[Topic]:
        return iter(self.topics.values())

    def active(self) -> list[Topic]:
        return [t for t in self if t.spec.status == "active"]

    def input_for(self, family: Family) -> Topic:
        return next(t for t in self if t.spec.carries == family)

    def ingested_for(self, family: Family) -> Topic:
        return next(t for t in self if t.spec.ingested == family)

    def by_name(self, name: str) -> Topic:
        return next(t for t in self if t.name == name)
