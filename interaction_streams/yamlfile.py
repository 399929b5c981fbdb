"""Load YAML into a pydantic model, refusing bad input with its origin, line and reason.

Used for the topic contract and for every business-policy file or policy-topic record.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[int | str, ...]


class YamlFileError(ValueError):
    """YAML that cannot be used; ``problems`` lists ``origin:line: reason`` lines."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.path = path
        self.problems = problems


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Read ``path`` and validate it as ``model``."""
    return parse_yaml_model(read_text(path), str(path), model)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(path, [f"{path}: cannot read: {exc.strerror}"]) from None


class PolicyProblems(ValueError):
    """Problems a model validator found across a document, each with the location it refers
    to (so each gets its own line)."""

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(f"{where(loc)}{msg}" for loc, msg in problems))
        self.problems = problems


def parse_yaml_model(text: str, origin: str, model: type[M]) -> M:
    """Validate YAML text (a file's, or a record's) as ``model``; ``origin`` names it. Every
    problem (cross-field ones raised as ``PolicyProblems`` included) becomes one
    ``origin:line: reason`` of a ``YamlFileError``."""
    node, data = parse_yaml(text, origin)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            error = err.get("ctx", {}).get("error")
            found = error.problems if isinstance(error, PolicyProblems) else None
            if err["type"] == "value_error" and found is None:
                found = [((), str(error))]
            for loc, msg in found or [((), err["msg"])]:
                full = (*err["loc"], *loc)
                problems.append(f"{origin}:{line_of(node, full)}: {where(full)}{msg}")
        raise YamlFileError(Path(origin), problems) from None


def parse_yaml(text: str, origin: str) -> tuple[Any, Any]:
    """The node tree (for line numbers) and the data; syntax errors and duplicate keys are
    refused with their line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise YamlFileError(Path(origin), [f"{origin}:{line}: {reason}"]) from None
    duplicates = [f"{origin}:{line}: duplicate key {key!r}" for line, key in _duplicates(node)]
    if duplicates:
        raise YamlFileError(Path(origin), duplicates)
    return node, data


def where(loc: Loc) -> str:
    return ".".join(str(p) for p in loc) + ": " if loc else ""


def line_of(node: Any, loc: Loc) -> int:
    """The line of the deepest YAML node that ``loc`` still reaches (1-based)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
            if child is None:  # a missing key: point at the mapping that lacks it
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            return line
        node = child
        line = node.start_mark.line + 1
    return line


def _duplicates(node: Any) -> Iterator[tuple[int, str]]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                yield key.start_mark.line + 1, str(key.value)
            seen.add(key.value)
            yield from _duplicates(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicates(item)
