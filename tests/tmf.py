"""Validate what the product emits against the official TMF specifications (../shared/specs).

The spec file is read as it is and its component schemas are checked with jsonschema. One
OpenAPI keyword needs translating: a ``discriminator`` mapping on a ``oneOf`` selects the
schema by ``@type`` (plain JSON Schema would demand that exactly one alternative match,
which polymorphic TMF references never do), so it becomes an if/then per ``@type`` value;
other discriminators are only hints and are dropped. The tests that need a specification
are skipped, with a message, when it is absent.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPECS_DIR = Path(os.environ.get("CIM_SPECS_DIR", Path(__file__).parents[2] / "shared" / "specs"))
TMF683 = "TMF683-Party_Interaction-v5.0.0.oas.yaml"
TMF681 = "TMF681-Communication-v4.0.0.swagger.json"
TMF621 = "TMF621-Trouble_Ticket-v5.0.1.oas.yaml"


def spec_path(name: str) -> Path:
    path = SPECS_DIR / name
    if not path.is_file():
        pytest.skip(f"TMF specification {name} not found in {SPECS_DIR} (set CIM_SPECS_DIR)")
    return path


def _translate(node: Any) -> Any:
    if isinstance(node, list):
        return [_translate(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _translate(v) for k, v in node.items() if k not in ("discriminator", "example")}
    mapping = node.get("discriminator", {}).get("mapping")
    if mapping and "oneOf" in node:
        del out["oneOf"]
        out["required"] = sorted({*out.get("required", []), "@type"})
        out["properties"] = {**out.get("properties", {}), "@type": {"enum": sorted(mapping)}}
        out["allOf"] = [
            *out.get("allOf", []),
            *(
                {"if": {"properties": {"@type": {"const": name}}}, "then": {"$ref": ref}}
                for name, ref in sorted(mapping.items())
            ),
        ]
    return out


@cache
def _registry(name: str) -> Registry[Any]:
    path = spec_path(name)
    text = path.read_text()
    document = yaml.safe_load(text)  # JSON is YAML too
    resource = Resource.from_contents(_translate(document), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(f"urn:tmf:{name}", resource)
    return registry


def validator(spec: str, schema_name: str) -> Draft202012Validator:
    registry = _registry(spec)
    base = "#/components/schemas/" if spec.endswith(".yaml") else "#/definitions/"
    return Draft202012Validator(
        {"$ref": f"urn:tmf:{spec}{base}{schema_name}"},
        registry=registry,
        format_checker=FormatChecker(),
    )


def assert_valid(spec: str, schema_name: str, instance: Any) -> None:
    """Fail with every error the validator finds."""
    errors = sorted(validator(spec, schema_name).iter_errors(instance), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
