"""Load a YAML file into a pydantic model, refusing a bad file with its file, line and reason.

Used for the topic contract and for every business-policy file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class YamlFileError(ValueError):
    """A YAML file that cannot be used; ``problems`` lists ``file:line: reason`` lines."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.path = path
        self.problems = problems


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Parse ``path`` and validate it as ``model``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(path, [f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise YamlFileError(path, [f"{path}:{line}: {reason}"]) from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = [
            f"{path}:{_line_of(node, err['loc'])}: {_where(err['loc'])}{err['msg']}"
            for err in exc.errors()
        ]
        raise YamlFileError(path, problems) from None


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) + ": " if loc else ""


def _line_of(node: Any, loc: tuple[int | str, ...]) -> int:
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
