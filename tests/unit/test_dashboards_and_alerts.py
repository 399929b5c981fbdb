"""Every series the Grafana dashboards and the Prometheus alert rules use is one a worker
exports (or Prometheus' own ``up``), so they cannot drift from the code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from interaction_streams.settings import Settings
from interaction_streams.stream.app import create_worker

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana").glob("*.json"))

# Series other stages add in their own blocks of metrics.py, on their branches: routing
# (issue 5), escalation (issue 6) and outbound (issue 7). The contact-center dashboard and
# the service-level alert use them. Once merged they are exported: empty this set then (the
# last test fails until it is), so the names are held to the code again.
AWAITED_FROM_OTHER_STAGES: set[str] = set()  # every stage now exports its series
PROMETHEUS_OWN = {"up"}
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "topk", "bottomk", "rate", "irate", "increase",
    "delta", "deriv", "histogram_quantile", "label_values", "by", "without", "and", "or",
    "unless", "offset", "bool", "on", "ignoring", "group_left", "group_right", "abs",
    "clamp_min", "clamp_max", "time", "vector", "scalar",
}  # fmt: skip
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> CollectorRegistry:
    """A whole worker's registry (stage shells add their own series)."""
    settings = Settings(store="memory://", data_dir=tmp_path_factory.mktemp("data"))
    return create_worker(settings).metrics.registry


@pytest.fixture(scope="module")
def exported(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label matchers, groupings, ranges, strings and
    Grafana variables removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\w+", "", expr)
    words = set(re.findall(r"(?<![\w.])[A-Za-z_:][\w:]*", expr))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d+\w*", w)}


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield f"{path.name}: {panel['title']}", target["expr"]
        for variable in board["templating"]["list"]:
            query = variable.get("query")
            if isinstance(query, dict):  # label_values(metric, label): the metric
                yield f"{path.name}: ${variable['name']}", query["query"].split(",")[0][13:]


def alert_exprs() -> Iterator[tuple[str, str]]:
    rules: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield f"alerts.yml: {rule['alert']}", rule["expr"]
    tests: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus" / "alerts_test.yml").read_text())
    for case in tests["tests"]:
        for series in case["input_series"]:
            yield "alerts_test.yml: input", series["series"]


def test_the_expression_parser_finds_metric_names_only() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (stage, le) (rate(cim_processing_seconds_bucket"
        '{job=~"$job"}[$__rate_interval]))) > on (job) cim_x offset 10m'
    )
    assert metric_names(expr) == {"cim_processing_seconds_bucket", "cim_x"}


def test_there_are_the_three_dashboards_and_they_use_many_series() -> None:
    assert [p.name for p in DASHBOARDS] == [
        "channel-health.json",
        "contact-center.json",
        "pipeline-health.json",
    ]
    used = {name for _, expr in dashboard_exprs() for name in metric_names(expr)}
    assert len(used) >= 25


def test_every_series_in_dashboards_and_alerts_is_exported(exported: set[str]) -> None:
    known = exported | PROMETHEUS_OWN | AWAITED_FROM_OTHER_STAGES
    unknown = [
        f"{where}: {name}"
        for where, expr in (*dashboard_exprs(), *alert_exprs())
        for name in sorted(metric_names(expr))
        if name not in known
    ]
    assert unknown == []


def test_awaited_names_are_not_exported_yet_or_are_dropped_from_the_list(
    exported: set[str],
) -> None:
    """Once the routing stage exports one of them, the list must shrink (so a rename there
    cannot hide behind it)."""
    assert AWAITED_FROM_OTHER_STAGES & exported == set()


def test_label_matchers_name_labels_the_series_has(registry: CollectorRegistry) -> None:
    """``cim_x{status="down"}``: ``status`` must be a label of ``cim_x`` (or a target label
    Prometheus adds)."""
    collectors = registry._names_to_collectors  # no public map from a series to its labels
    wrong = []
    for where, expr in (*dashboard_exprs(), *alert_exprs()):
        for name, matchers in re.findall(r"([A-Za-z_:][\w:]*)\{([^}]*)\}", expr):
            collector = collectors.get(name)
            if collector is None or name in AWAITED_FROM_OTHER_STAGES:
                continue
            has = set(getattr(collector, "_labelnames", ())) | {"job", "instance", "le"}
            used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
            wrong += [f"{where}: {name} has no label {label}" for label in used - has]
    assert wrong == []


def test_labels_used_in_alerts_are_bounded() -> None:
    text = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    for forbidden in ("interaction_id", "party_id", "customer", "agent_id"):
        assert forbidden not in text
