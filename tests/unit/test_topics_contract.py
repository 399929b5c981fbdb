"""topics.yaml is the contract: it loads, names every topic of the pipeline, refuses bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from interaction_streams.contract.topics import TopicContract, TopicsFile
from interaction_streams.yamlfile import YamlFileError, load_yaml_model

ROOT = Path(__file__).parents[2]
REQUIRED = {
    "cim.channel.events.v1",
    "cim.agent.events.v1",
    "cim.business.events.v1",
    "cim.customer.profile.v1",
    "cim.outbound.requests.v1",
    "cim.channel.health.v1",
    "cim.party-interaction.events.v1",
    "cim.customer.context.v1",
    "cim.routing.decisions.v1",
    "cim.work.assignments.v1",
    "cim.escalations.v1",
    "cim.communication.requests.v1",
    "cim.agent.guidance.v1",
    "cim.deadletter.v1",
}


def test_contract_declares_every_topic_of_the_pipeline() -> None:
    contract = TopicContract.load()
    assert {t.name for t in contract} >= REQUIRED
    for topic in contract:
        assert topic.spec.purpose and topic.spec.producers and topic.spec.consumers


def test_tables_of_record_are_compacted_and_kept() -> None:
    contract = TopicContract.load()
    for name in ("cim.customer.profile.v1", "cim.customer.context.v1"):
        topic = next(t for t in contract if t.name == name)
        assert topic.cleanup_policy == "compact"
        assert topic.kafka_config() == {"cleanup.policy": "compact", "retention.ms": "-1"}


def test_active_schemas_exist() -> None:
    for topic in TopicContract.load().active():
        schema = topic.spec.value_schema
        if schema.startswith("../shared/specs/"):  # an official TMF specification
            assert schema.split(" ")[0].split("/")[-1].startswith("TMF"), schema
            continue
        assert (ROOT / schema).is_file(), schema


def test_inputs_share_the_partition_count_of_the_dedup_table() -> None:
    contract = TopicContract.load()
    counts = {t.partitions for t in contract if t.spec.carries}
    assert len(counts) == 1


def test_prefix_is_applied_to_every_name() -> None:
    contract = TopicContract.load(prefix="staging.")
    assert all(t.name.startswith("staging.cim.") for t in contract)
    assert contract.input_for("agent").name == "staging.cim.agent.events.v1"
    assert contract.ingested_for("agent").name == "staging.cim.ingested.agent-events.v1"


def test_bad_file_is_refused_with_file_line_and_reason(tmp_path: Path) -> None:
    text = (
        (ROOT / "topics.yaml")
        .read_text()
        .replace(
            "    name: cim.agent.events.v1\n",
            "    name: cim.agent.events.v1\n    partitions: many\n",
        )
    )
    bad = tmp_path / "topics.yaml"
    bad.write_text(text)
    line = text.splitlines().index("    partitions: many") + 1
    with pytest.raises(YamlFileError) as refused:
        load_yaml_model(bad, TopicsFile)
    assert any(
        p.startswith(f"{bad}:{line}: topics.agent-events.partitions")
        for p in refused.value.problems
    ), refused.value.problems


def test_unparseable_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "topics.yaml"
    bad.write_text("defaults:\n  partitions: 4\ntopics: [unclosed\n")
    with pytest.raises(YamlFileError) as refused:
        load_yaml_model(bad, TopicsFile)
    assert refused.value.problems[0].startswith(f"{bad}:4:")


def test_missing_family_topic_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "topics.yaml").read_text().replace("    carries: health\n", "")
    bad = tmp_path / "topics.yaml"
    bad.write_text(text)
    with pytest.raises(YamlFileError, match="carries: health"):
        load_yaml_model(bad, TopicsFile)


def test_readme_lists_every_event_type_and_topic() -> None:
    from interaction_streams.contract.events.registry import EVENT_TYPES

    readme = (ROOT / "README.md").read_text()
    missing = [name for name in EVENT_TYPES if f"`{name}`" not in readme]
    assert not missing, f"README.md does not list {missing}"
    assert all(f"`{t.name}`" in readme for t in TopicContract.load() if "ingested" not in t.name)
