"""A server-free sanity check of PromQL expressions.

Full parsing needs the Prometheus server's parser; what can be checked offline, and catches
most typos in rule files, is structure: brackets that balance and match, strings and regexes
that are closed, no empty expression.
"""

from __future__ import annotations

_PAIRS = {")": "(", "]": "[", "}": "{"}


def problems(expr: str) -> list[tuple[int, str]]:
    """Problems as (0-based character offset, message); empty when the structure is sound."""
    if not expr.strip():
        return [(0, "empty expression")]
    stack: list[tuple[str, int]] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char == "#":
            end = expr.find("\n", i)
            i = len(expr) if end < 0 else end
            continue
        if char in "\"'`":
            end = _string_end(expr, i)
            if end < 0:
                return [(i, f"unterminated string starting with {char}")]
            i = end + 1
            continue
        if char in "([{":
            stack.append((char, i))
        elif char in _PAIRS:
            if not stack:
                return [(i, f"unexpected {char!r} without a matching {_PAIRS[char]!r}")]
            opener, at = stack.pop()
            if opener != _PAIRS[char]:
                return [(i, f"{char!r} closes {opener!r} opened at character {at + 1}")]
        i += 1
    if stack:
        opener, at = stack[-1]
        return [(at, f"{opener!r} is never closed")]
    return []


def _string_end(expr: str, start: int) -> int:
    quote = expr[start]
    i = start + 1
    while i < len(expr):
        if expr[i] == "\\" and quote != "`":
            i += 2
            continue
        if expr[i] == quote:
            return i
        i += 1
    return -1
