"""A small, safe condition language for routing rules (never Python ``eval``).

``channel == "voice" and (context.tier in ["gold", "platinum"] or moments has "vip")``

Literals: strings in double or single quotes (backslash escapes), integers, decimals,
``true``, ``false``, ``null`` and lists of literals. Names are dotted (``context.tier``) and
read from a mapping of facts: the whole dotted key first, then nested mappings. Operators,
loosest first: ``or``, ``and``, ``not``, then one comparison ``== != < <= > >= in`` ``not in``
``has`` (``a has b`` is ``b in a``); parentheses group.

Evaluation never raises. A missing name is null; a comparison with null is false except
``x == null`` and ``x != null``; comparing different types (a string with a number, a boolean
with a number) is false; ``<``, ``>`` compare two numbers or two strings only. A condition
holds only when its value is the boolean ``true``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

KEYWORDS = frozenset({"and", "or", "not", "in", "has", "true", "false", "null"})
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "not in", "has"})
_HINTS = {"=": "==", "&&": "and", "||": "or", "!": "not", "<>": "!=", "=<": "<=", "=>": ">="}
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<name>[A-Za-z_]\w*(?:\.\w+)*)
    |(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    |(?P<op>[=!<>&|]+)
    |(?P<punct>[()\[\],])""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t"}
_MISSING = object()


class ExpressionError(ValueError):
    """An expression that does not compile; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


class Node:
    def value(self, facts: Mapping[str, Any]) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Lit(Node):
    constant: Any  # None, bool, int, float, str or a tuple of literals

    def value(self, facts: Mapping[str, Any]) -> Any:
        return self.constant

    def __str__(self) -> str:
        return _render(self.constant)


@dataclass(frozen=True, slots=True)
class Name(Node):
    path: str
    parts: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.path.split(".")))

    def value(self, facts: Mapping[str, Any]) -> Any:
        found = facts.get(self.path, _MISSING)
        if found is not _MISSING or len(self.parts) == 1:
            return None if found is _MISSING else found
        current: Any = facts
        for part in self.parts:
            if not isinstance(current, dict | Mapping):  # a dict is the quick check
                return None
            current = current.get(part)
        return current

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node

    def value(self, facts: Mapping[str, Any]) -> bool:
        return self.operand.value(facts) is not True

    def __str__(self) -> str:
        return f"not {_wrap(self.operand, 3)}"


@dataclass(frozen=True, slots=True)
class BoolOp(Node):
    op: str  # "and" | "or"
    operands: tuple[Node, ...]

    def value(self, facts: Mapping[str, Any]) -> bool:
        wanted = self.op == "or"  # the operand value that decides
        for operand in self.operands:
            if (operand.value(facts) is True) is wanted:
                return wanted
        return not wanted

    def __str__(self) -> str:
        return f" {self.op} ".join(_wrap(o, _precedence(self) + 1) for o in self.operands)


@dataclass(frozen=True, slots=True)
class IsNull(Node):
    operand: Node
    negate: bool  # ``x != null``

    def value(self, facts: Mapping[str, Any]) -> bool:
        return (self.operand.value(facts) is None) is not self.negate

    def __str__(self) -> str:
        return f"{_wrap(self.operand, 5)} {'!=' if self.negate else '=='} null"


@dataclass(frozen=True, slots=True)
class Compare(Node):
    op: str
    left: Node
    right: Node
    test: Callable[[Any, Any], bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "test", _TESTS[self.op])

    def value(self, facts: Mapping[str, Any]) -> bool:
        a, b = self.left.value(facts), self.right.value(facts)
        if a is None or b is None:
            return False
        try:
            return self.test(a, b)
        except Exception:  # a fact of an unexpected type: false, never an error
            return False

    def __str__(self) -> str:
        return f"{_wrap(self.left, 5)} {self.op} {_wrap(self.right, 5)}"


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple | set | frozenset):
        return "list"
    return type(v).__name__


def _eq(a: Any, b: Any) -> bool:
    if type(a) is type(b) and type(a) in _SIMPLE:
        return bool(a == b)
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "list" and not isinstance(a, set | frozenset):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=False))
    return bool(a == b)


def _member(item: Any, container: Any) -> bool | None:
    if isinstance(container, str):
        return item in container if isinstance(item, str) else None
    if isinstance(container, list | tuple | set | frozenset):
        if type(item) is str:  # str equality is exact: the fast path
            return item in container
        return any(_eq(item, x) for x in container)
    return None


def _order(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], bool]:
    def test(a: Any, b: Any) -> bool:
        kind = _kind(a)
        return kind in ("number", "string") and kind == _kind(b) and bool(op(a, b))

    return test


_SIMPLE = (str, int, float)
_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _eq,
    "!=": lambda a, b: _kind(a) == _kind(b) and not _eq(a, b),
    "<": _order(operator.lt),
    "<=": _order(operator.le),
    ">": _order(operator.gt),
    ">=": _order(operator.ge),
    "in": lambda a, b: _member(a, b) is True,
    "not in": lambda a, b: _member(a, b) is False,
    "has": lambda a, b: _member(b, a) is True,
}


def _render(v: Any) -> str:
    if v is None or isinstance(v, bool):
        return {None: "null", True: "true", False: "false"}[v]
    if isinstance(v, str):
        escaped = v.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t") + '"'
    if isinstance(v, tuple):
        return "[" + ", ".join(_render(x) for x in v) + "]"
    return repr(v)


def _precedence(node: Node) -> int:
    if isinstance(node, BoolOp):
        return 2 if node.op == "and" else 1
    return 3 if isinstance(node, Not) else 4 if isinstance(node, Compare | IsNull) else 5


def _wrap(node: Node, at_least: int) -> str:
    return str(node) if _precedence(node) >= at_least else f"({node})"


@dataclass(frozen=True)
class Expression:
    """A compiled condition: ``evaluate`` it against facts as often as needed."""

    source: str
    root: Node
    names: frozenset[str]  # the dotted names it reads

    def evaluate(self, facts: Mapping[str, Any]) -> bool:
        return self.root.value(facts) is True

    @property
    def always(self) -> bool:
        """The expression is the literal ``true``."""
        return isinstance(self.root, Lit) and self.root.constant is True

    def __str__(self) -> str:
        return str(self.root)


def compile_expression(text: str) -> Expression:
    parser = _Parser(_tokenize(text), len(text) + 1)
    if not parser.tokens:
        raise ExpressionError("empty expression", 1)
    root = parser.expression()
    if parser.peek()[0] != "end":
        raise parser.unexpected()
    return Expression(text, root, frozenset(parser.names))


Token = tuple[str, str, int]  # kind, text, column


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            quote = text[pos] in "\"'"
            what = "unclosed string" if quote else f"unexpected character {text[pos]!r}"
            raise ExpressionError(what, pos + 1)
        kind, tok = m.lastgroup or "", m.group()
        if kind == "op" and tok not in COMPARISONS:
            hint = f" (use {_HINTS[tok]})" if tok in _HINTS else ""
            raise ExpressionError(f"unknown operator {tok!r}{hint}", pos + 1)
        if kind == "name" and tok in KEYWORDS:
            kind = "kw"
        if kind != "ws":
            tokens.append((kind, tok, pos + 1))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token], end_column: int) -> None:
        self.tokens, self.i, self.names = tokens, 0, set[str]()
        self.end: Token = ("end", "", end_column)

    def peek(self, ahead: int = 0) -> Token:
        i = self.i + ahead
        return self.tokens[i] if i < len(self.tokens) else self.end

    def take(self) -> Token:
        self.i += 1
        return self.peek(-1)

    def accept(self, *texts: str) -> bool:
        kind, text, _ = self.peek()
        if kind in ("kw", "op", "punct") and text in texts:
            self.i += 1
            return True
        return False

    def unexpected(self, tok: Token | None = None) -> ExpressionError:
        kind, text, column = tok or self.peek()
        if kind == "end":
            return ExpressionError("unexpected end of expression", column)
        return ExpressionError(f"unexpected {text!r}", column)

    def expression(self) -> Node:
        operands = [self.conjunction()]
        while self.accept("or"):
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def conjunction(self) -> Node:
        operands = [self.negation()]
        while self.accept("and"):
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def negation(self) -> Node:
        if self.accept("not"):
            return Not(self.negation())
        return self.comparison()

    def comparison(self) -> Node:
        left = self.primary()
        op = self.comparator()
        if op is None:
            return left
        right = self.primary()
        if self.comparator() is not None:
            raise ExpressionError("comparisons cannot be chained (use and)", self.peek(-1)[2])
        if op in ("==", "!="):
            for this, other in ((left, right), (right, left)):
                if isinstance(other, Lit) and other.constant is None:
                    return IsNull(this, op == "!=")
        return Compare(op, left, right)

    def comparator(self) -> str | None:
        kind, text, _ = self.peek()
        if kind == "op" or (kind == "kw" and text in ("in", "has")):
            self.take()
            return text
        if (kind, text) == ("kw", "not") and self.peek(1)[:2] == ("kw", "in"):
            self.i += 2
            return "not in"
        return None

    def primary(self) -> Node:
        tok = self.peek()
        if tok[:2] == ("punct", "("):
            self.take()
            inner = self.expression()
            self.close(")", "parenthesis", tok)
            return inner
        if tok[0] == "name":
            self.take()
            self.names.add(tok[1])
            return Name(tok[1])
        return Lit(self.literal())

    def literal(self) -> Any:
        tok = kind, text, _ = self.take()
        if kind == "num":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "str":
            return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), text[1:-1], flags=re.S)
        if kind == "kw" and text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if tok[:2] == ("punct", "["):
            items: list[Any] = []
            while not self.accept("]"):
                if self.peek()[0] == "end":
                    raise ExpressionError("unclosed list", tok[2])
                items.append(self.literal())
                if not self.accept(","):
                    self.close("]", "list", tok)
                    break
            return tuple(items)
        raise self.unexpected(tok)

    def close(self, text: str, what: str, opening: Token) -> None:
        if self.accept(text):
            return
        if self.peek()[0] == "end":
            raise ExpressionError(f"unclosed {what}", opening[2])
        raise self.unexpected()
