"""The two small expression languages of a DAG: a task's `depends` and its `when`.

`depends` (A: docs/enhanced-depends-logic.md) is a boolean expression over `task` and `task.Result` terms with `&&`,
`||`, `!` and parentheses; a bare `task` means `(task.Succeeded || task.Skipped || task.Daemoned)`. `dependencies:
[A, B]` is `A && B`.

`when` (A: docs/walk-through/conditionals.md) is evaluated by govaluate after `{{...}}` substitution; Argo turns
every bare word into a string first (workflow/controller/dag.go `shouldExecute`), so `heads == heads` is true. This
module understands the subset a renderer emits: `==`, `!=`, `&&`, `||`, `!`, parentheses, numbers, `true`/`false`,
quoted and bare strings. Anything else, or a result that is not a boolean, is an `ExpressionError` (the node is Error).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed")
_BARE_RESULTS = ("Succeeded", "Skipped", "Daemoned")  # what a bare `task` stands for


class ExpressionError(ValueError):
    """An expression that cannot be parsed or does not evaluate to a boolean."""


# Tokens.

_DEPENDS_TOKEN = re.compile(r"\s*(?:(&&|\|\||!|\(|\))|([A-Za-z0-9][-A-Za-z0-9_]*)(?:\.([A-Za-z]+))?)")
_WHEN_TOKEN = re.compile(
    r"""\s*(?:(==|!=|&&|\|\||!|\(|\))|'([^']*)'|"([^"]*)"|(-?\d+(?:\.\d+)?(?![A-Za-z_.]))|([A-Za-z_][A-Za-z0-9_.]*))"""
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "op", "term" (depends), "value" (when)
    text: str
    value: object = None


def _tokens(pattern: re.Pattern[str], text: str, make: Callable[[re.Match[str]], _Token]) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = pattern.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"cannot parse {text!r} at {text[position:]!r}")
        tokens.append(make(match))
        position = match.end()
    return tokens


# One recursive descent for both languages: or -> and -> comparison -> not/parentheses -> atom.


class _Parser:
    def __init__(self, tokens: list[_Token], atom: Callable[[_Token], object], text: str) -> None:
        self.tokens, self.atom, self.text, self.index = tokens, atom, text, 0

    def parse(self) -> object:
        value = self._or()
        if self.index != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.index].text!r} in {self.text!r}")
        return value

    def _peek(self, text: str) -> bool:
        return self.index < len(self.tokens) and self.tokens[self.index].kind == "op" and self.tokens[self.index].text == text

    def _next(self) -> _Token:
        if self.index >= len(self.tokens):
            raise ExpressionError(f"unexpected end of {self.text!r}")
        self.index += 1
        return self.tokens[self.index - 1]

    def _or(self) -> object:
        value = self._and()
        while self._peek("||"):
            self._next()
            right = self._and()
            value = _boolean(value, self.text) or _boolean(right, self.text)
        return value

    def _and(self) -> object:
        value = self._comparison()
        while self._peek("&&"):
            self._next()
            right = self._comparison()
            value = _boolean(value, self.text) and _boolean(right, self.text)
        return value

    def _comparison(self) -> object:
        value = self._not()
        while self._peek("==") or self._peek("!="):
            equal = self._next().text == "=="
            right = self._not()
            value = (value == right and type(value) is type(right)) is equal
        return value

    def _not(self) -> object:
        if self._peek("!"):
            self._next()
            return not _boolean(self._not(), self.text)
        if self._peek("("):
            self._next()
            value = self._or()
            if not self._peek(")"):
                raise ExpressionError(f"missing ')' in {self.text!r}")
            self._next()
            return value
        token = self._next()
        if token.kind == "op":
            raise ExpressionError(f"unexpected {token.text!r} in {self.text!r}")
        return self.atom(token)


def _boolean(value: object, text: str) -> bool:
    if not isinstance(value, bool):
        raise ExpressionError(f"Expected boolean evaluation for '{text}'. Got {value}")
    return value


# depends.


def depends_of(task: Mapping[str, Any]) -> str:
    """The task's dependency expression: `depends` as written, or `dependencies` joined with `&&`."""
    if task.get("depends"):
        return str(task["depends"])
    return " && ".join(str(name) for name in task.get("dependencies") or [])


def depends_tasks(expression: str) -> list[str]:
    """The task names an expression refers to, in order of first mention."""
    names: list[str] = []
    for token in _tokens(_DEPENDS_TOKEN, expression, _depends_token):
        if token.kind == "term" and token.text not in names:
            names.append(token.text)
    return names


def evaluate_depends(expression: str, results: Mapping[str, Mapping[str, bool]]) -> bool:
    """Evaluate against each dependency's results ({"Succeeded": True, ...})."""

    def atom(token: _Token) -> bool:
        flags = results[token.text]
        if token.value is None:
            return any(flags[result] for result in _BARE_RESULTS)
        if token.value not in RESULTS:
            raise ExpressionError(f"unknown task result {token.value!r} in {expression!r}")
        return flags[str(token.value)]

    return _boolean(_Parser(_tokens(_DEPENDS_TOKEN, expression, _depends_token), atom, expression).parse(), expression)


def _depends_token(match: re.Match[str]) -> _Token:
    if match.group(1):
        return _Token("op", match.group(1))
    return _Token("term", match.group(2), match.group(3))


# when.


def evaluate_when(expression: str) -> bool:
    """Evaluate a substituted `when` as Argo's govaluate does, bare words being strings."""
    tokens = _tokens(_WHEN_TOKEN, expression, _when_token)
    return _boolean(_Parser(tokens, lambda token: token.value, expression).parse(), expression)


def _when_token(match: re.Match[str]) -> _Token:
    operator, single, double, number, word = match.groups()
    if operator:
        return _Token("op", operator)
    if number is not None:
        return _Token("value", number, float(number))  # govaluate compares every number as a float64
    if word is not None:
        return _Token("value", word, {"true": True, "false": False}.get(word, word))
    return _Token("value", single if single is not None else double, single if single is not None else double)
