"""The routing condition language: parsing, evaluation semantics, errors, properties."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interaction_streams.domain.routing.expressions import (
    COMPARISONS,
    BoolOp,
    Compare,
    ExpressionError,
    IsNull,
    Lit,
    Name,
    Node,
    Not,
    compile_expression,
)

FACTS: dict[str, Any] = {
    "channel": "voice",
    "direction": "inbound",
    "intent": "billing",
    "ivr.menu": "2",
    "context.tier": "gold",
    "context.sentiment": -0.6,
    "context.contacts24h": 3,
    "context.repeatContact": True,
    "moments": ["payment-overdue", "high-value"],
    "party": {"known": True, "nested": {"deep": 1}},
    "queue": None,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('channel == "voice"', True),
        ("channel == 'voice'", True),
        ('channel != "chat"', True),
        ('channel == "chat"', False),
        ('ivr.menu == "2"', True),
        ("ivr.menu == 2", False),  # a string is not a number
        ("context.contacts24h >= 3", True),
        ("context.contacts24h > 3", False),
        ("context.sentiment < -0.5", True),
        ("context.sentiment <= -0.6 and context.sentiment >= -0.6", True),
        ('context.tier in ["gold", "platinum"]', True),
        ('context.tier not in ["gold", "platinum"]', False),
        ('"ill" in "billing"', True),
        ('intent in "billing and more"', True),
        ('moments has "payment-overdue"', True),
        ('moments has "affected-by-incident"', False),
        ('not moments has "affected-by-incident"', True),
        ("context.repeatContact", True),
        ("context.repeatContact == true", True),
        ("party.known", True),  # nested mappings
        ("party.nested.deep == 1", True),
        ("party.nested.deep.deeper == null", True),
        ('channel == "chat" or intent == "billing"', True),
        ('channel == "chat" or intent == "sales"', False),
        ('(channel == "chat" or intent == "billing") and not party.known', False),
        ("not not true", True),
        ("true and false", False),
        ("1.5 == 1.5 and 2 == 2.0 and -3 < 1e2", True),
        ("[1, [2, 'x']] == [1, [2, \"x\"]]", True),
        ("[true] == [1]", False),
        ("true == 1", False),
        ('"b" > "a"', True),
        ("channel", False),  # a condition holds only when it is the boolean true
        ("moments", False),
    ],
)
def test_evaluation(text: str, expected: bool) -> None:
    assert compile_expression(text).evaluate(FACTS) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("missing == null", True),
        ("null == missing", True),
        ("missing != null", False),
        ("channel != null", True),
        ("channel == null", False),
        ("queue == null", True),  # present but null
        ('missing == "x"', False),
        ('missing != "x"', False),  # a comparison with null is false
        ("missing < 3", False),
        ('missing in ["x"]', False),
        ('missing not in ["x"]', False),
        ('"x" in missing', False),
        ('missing has "x"', False),
        ("missing", False),
        ("not missing", True),
        ("missing == other", False),
        ("null == null", True),
    ],
)
def test_null(text: str, expected: bool) -> None:
    assert compile_expression(text).evaluate(FACTS) is expected


@pytest.mark.parametrize(
    "text",
    [
        'context.contacts24h > "2"',
        "channel < 3",
        "[1] < [2]",
        'moments > "a"',
        '3 in "345"',
        '3 not in "345"',
        'channel has "v"' + " and false",
        "party.known == 1",
        "context.contacts24h has 3",
        "context.contacts24h not in 3",
    ],
)
def test_type_mismatch_is_false(text: str) -> None:
    assert compile_expression(text).evaluate(FACTS) is False


def test_names_and_round_trip_text() -> None:
    e = compile_expression('channel == "voice" and (ivr.menu in ["1", "2"] or not party.known)')
    assert e.names == {"channel", "ivr.menu", "party.known"}
    assert str(e) == 'channel == "voice" and (ivr.menu in ["1", "2"] or not party.known)'
    assert compile_expression("true").always and not compile_expression("true and true").always


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("", 1, "empty expression"),
        ("   ", 1, "empty expression"),
        ('channel = "voice"', 9, "unknown operator '=' (use ==)"),
        ("a && b", 3, "unknown operator '&&' (use and)"),
        ("a || b", 3, "unknown operator '||' (use or)"),
        ("!a", 1, "unknown operator '!' (use not)"),
        ("a === b", 3, "unknown operator '==='"),
        ('channel == "voice', 12, "unclosed string"),
        ("(a == 1", 1, "unclosed parenthesis"),
        ("x in [1, 2", 6, "unclosed list"),
        ("x in [1,", 6, "unclosed list"),
        ("a ==", 5, "unexpected end of expression"),
        ("a == 1)", 7, "unexpected ')'"),
        ("a b", 3, "unexpected 'b'"),
        ("a == b == c", 8, "comparisons cannot be chained (use and)"),
        ("a.", 2, "unexpected character '.'"),
        ("a + 1", 3, "unexpected character '+'"),
        ('__import__("os")', 11, "unexpected '('"),
        ("x in [a]", 7, "unexpected 'a'"),
        ("and", 1, "unexpected 'and'"),
        ("not", 4, "unexpected end of expression"),
    ],
)
def test_errors(text: str, column: int, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert (caught.value.message, caught.value.column) == (message, column)
    assert str(caught.value) == f"column {column}: {message}"


# --- properties -------------------------------------------------------------------------

NAMES = ["channel", "intent", "context.tier", "context.sentiment", "moments", "ivr.menu", "a.b.c"]
scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**12), 10**12)
constants = st.recursive(
    scalars | numbers, lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=6
)
atoms: st.SearchStrategy[Node] = st.sampled_from(NAMES).map(Name) | constants.map(Lit)


def _compare(args: tuple[str, Node, Node]) -> Node:
    op, left, right = args
    nulls = [isinstance(n, Lit) and n.constant is None for n in (left, right)]
    if op in ("==", "!=") and any(nulls):  # parsed as IsNull
        return IsNull(right if nulls[0] else left, op == "!=")
    return Compare(op, left, right)


def _extend(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return (
        inner.map(Not)
        | st.builds(
            BoolOp,
            st.sampled_from(["and", "or"]),
            st.lists(inner, min_size=2, max_size=3).map(tuple),
        )
        | st.tuples(st.sampled_from(sorted(COMPARISONS)), inner, inner).map(_compare)
        | st.builds(IsNull, inner, st.booleans())
    )


nodes = st.recursive(atoms, _extend, max_leaves=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.sampled_from(["voice", "gold", "billing"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        | st.frozensets(st.text(max_size=3), max_size=3)
    ),
    max_leaves=8,
)
facts = st.dictionaries(st.sampled_from([*NAMES, "a", "a.b", "context"]), json_values) | st.just(
    {"a": {"b": {"c": object()}}, "moments": {"x"}, "channel": math.nan}
)


@given(nodes)
def test_round_trip(node: Node) -> None:
    assert compile_expression(str(node)).root == node


@given(nodes, facts)
def test_evaluation_never_raises_and_not_negates(node: Node, given_facts: dict[str, Any]) -> None:
    text = str(node)
    value = compile_expression(text).evaluate(given_facts)
    assert isinstance(value, bool)
    assert compile_expression(f"not ({text})").evaluate(given_facts) is (not value)


@given(nodes, nodes, facts)
def test_de_morgan(a: Node, b: Node, given_facts: dict[str, Any]) -> None:
    left = compile_expression(f"not (({a}) and ({b}))").evaluate(given_facts)
    assert left is compile_expression(f"not ({a}) or not ({b})").evaluate(given_facts)


@given(st.text(alphabet=st.sampled_from(list("ab1.\"' ()[],=!<>&|-ntoiruefls")), max_size=30))
def test_compile_only_raises_expression_error(text: str) -> None:
    try:
        compile_expression(text)
    except ExpressionError as exc:
        assert 1 <= exc.column <= len(text) + 1
