"""PromQL in rule files, checked offline as Prometheus would parse it, with character positions.

``problems(expr, flavor)`` is what ``alerter check`` reports; ``analyze(expr)`` gives the selectors
and grouping labels of a valid expression (what ``alerter check --prometheus`` asks a server about).

The grammar, function signatures and type rules come from the ``promql-parser`` package (a port
of prometheus/prometheus ``promql/parser``: ``generated_parser.y``, ``functions.go``, ``parse.go``
``checkAST``). Three things are added here because the package does not do them as Prometheus does:

- **Positions.** Its errors carry no position. Lexical problems (brackets, quotes) come from the
  bracket scan below; a syntax error is placed on the first token after which no completion parses
  (an LR parser fails at the first token that cannot extend a valid prefix, which is where
  Prometheus' ``unexpected <token>`` points); errors naming a function, operator or literal are
  placed on it, and a call's own error on the call that reproduces it when parsed alone.
- **Regexes.** Prometheus compiles matcher regexes with Go's RE2 syntax, the package with Rust's;
  ``goregexp`` checks Go's rules, and regexes are handed to the package as same-length stand-ins
  that match the empty string exactly when the original does, so offsets and the
  "non-empty matcher" rule survive. ``label_replace``'s regex is checked the same way: Prometheus
  fails such a rule on every evaluation.
- **Not PromQL.** ``{a="b" or c="d"}`` parses in the package but not in Prometheus.

``flavor="victoriametrics"`` keeps only the bracket scan and the regex check: MetricsQL
(``WITH``, ``default``, ``keep_metric_names``, ``rollup_*`` ...) is a superset this parser does not
know, and VictoriaMetrics compiles regexes with Go too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import promql_parser

from alerter.config import goregexp

Flavor = Literal["prometheus", "victoriametrics"]
FLAVORS: tuple[Flavor, ...] = ("prometheus", "victoriametrics")

_PAIRS = {")": "(", "]": "[", "}": "{"}
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_GENERIC = ("invalid promql query", "empty AST")
_AGGREGATORS = frozenset(
    [
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "count_values",
        "quantile",
        "limitk",
        "limit_ratio",
    ]
)
_COMPARISONS = frozenset(("==", "!=", ">", "<", ">=", "<="))
_BINARY = frozenset(("+", "-", "*", "/", "%", "^", "and", "or", "unless", "atan2")) | _COMPARISONS
_FILLERS = (
    "",
    " x",
    " 1",
    ' "s"',
    " 5m",
    "5m",
    '="v"',
    ' "v"',
    " (x)",
    "(x)",
    " (a) (x)",
    " x)",
    "()",
    "(a) x",
    " (a)",
    ":",
    " 1)",
)
"""Completions tried after a prefix (before its brackets are closed) to tell whether it can still parse."""

_SEMANTIC = (
    "expected ",
    "wrong number",
    "vector selector must",
    "comparisons between",
    "bool modifier",
    "set operator",
    "no grouping",
    "label '",
    "metric name must",
    "binary expression",
    "unary expression",
    "offset",
    "duration must",
    "unknown function",
    "@ modifier",
)
"""Errors the parser raises only after reading a prefix as valid syntax: the prefix is not where it breaks."""
_CLAUSES = frozenset(("by", "without", "on", "ignoring", "group_left", "group_right"))

TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<comment>\#[^\n]*)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<number>(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[A-Za-z0-9_.]*)
    |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=@,(){}\[\]:!])
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
"""PromQL's tokens as its lexer splits them (comments, strings, numbers with duration units,
identifiers, operators); shared with ``config.units``, which reads metric names off them."""
_DURATION = re.compile(r"^(?:\d+(?:ms|[smhdwy]))+$")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


@dataclass(frozen=True)
class Problem:
    """One problem of an expression: 0-based character offset, message, how to fix it."""

    offset: int
    message: str
    hint: str


@dataclass(frozen=True)
class Selector:
    """A vector selector: its metric name (None for ``{...}`` alone) and its label matchers.

    ``matchers`` are (label, operator, value) with operator one of ``=``, ``!=``, ``=~``, ``!~``;
    a metric name given as ``{__name__="x"}`` is in ``name`` and not repeated in ``matchers``.
    ``offset`` is where it starts in the expression.
    """

    name: str | None
    matchers: tuple[tuple[str, str, str], ...]
    offset: int

    def promql(self) -> str:
        """The selector alone, without range, offset or ``@``: what the series API takes as ``match[]``."""
        parts = [f"{label}{op}{_quote(value)}" for label, op, value in self.matchers]
        if self.name is not None and not _is_metric_name(self.name):
            parts.insert(0, _quote(self.name))
            return "{" + ",".join(parts) + "}"
        return (self.name or "") + ("{" + ",".join(parts) + "}" if parts or self.name is None else "")


@dataclass(frozen=True)
class Analysis:
    """What a valid expression reads: its selectors, the labels it groups or matches on, the labels it makes.

    ``grouping`` holds (label, offset) for ``by``/``without``/``on``/``ignoring``/``group_left``/
    ``group_right``; ``created`` the labels that functions add (``label_replace``, ``label_join``,
    ``count_values``), which no source series needs to have.
    """

    selectors: tuple[Selector, ...]
    grouping: tuple[tuple[str, int], ...]
    created: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def problems(expr: str, flavor: Flavor = "prometheus") -> list[Problem]:
    """Every problem found in ``expr``; empty when Prometheus (or VictoriaMetrics) would accept it."""
    if not _code(expr).strip():
        return [Problem(0, "empty expression", "write a PromQL expression")]
    found = [Problem(at, message, "check brackets and quotes") for at, message in _structure(expr)]
    if found:
        return found
    tokens = _tokens(expr)
    regex_problems, text, _ = _sanitize(expr, tokens)
    if regex_problems or flavor == "victoriametrics":
        return regex_problems
    try:
        tree = promql_parser.parse(text)
    except ValueError as exc:
        return [_locate(str(exc), text, tokens)]
    return list(_not_promql(tree, tokens))


def analyze(expr: str) -> Analysis | None:
    """Selectors and labels of ``expr``; None when it does not parse as PromQL (e.g. MetricsQL)."""
    if _structure(expr):
        return None
    tokens = _tokens(expr)
    regex_problems, text, originals = _sanitize(expr, tokens)
    if regex_problems:
        return None
    try:
        tree = promql_parser.parse(text)
    except ValueError:
        return None
    selectors: list[Selector] = []
    created: set[str] = set()
    used: dict[str, int] = {}
    pending = list(originals)

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(_selector(node, tokens, used, pending))
        elif isinstance(node, promql_parser.AggregateExpr):
            if str(node.op) == "count_values" and isinstance(node.param, promql_parser.StringLiteral):
                created.add(node.param.val)
        elif (
            isinstance(node, promql_parser.Call)
            and node.func.name in ("label_replace", "label_join")
            and len(node.args) > 1
            and isinstance(node.args[1], promql_parser.StringLiteral)
        ):
            created.add(node.args[1].val)

    promql_parser.walk(tree, visit)
    grouping = _grouping(tokens)
    return Analysis(tuple(selectors), tuple(grouping), frozenset(created))


# -- structure: brackets and quotes ------------------------------------------------------


def _structure(expr: str) -> list[tuple[int, str]]:
    """Brackets that balance and match, strings that are closed (offset, message)."""
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


def _code(expr: str) -> str:
    """The expression without its comments."""
    return "".join(t.text for t in _tokens(expr) if t.kind not in ("comment",))


def _tokens(expr: str) -> list[_Token]:
    """Tokens roughly as Prometheus' lexer (``promql/parser/lex.go``) cuts them, without blanks and comments."""
    out = []
    for match in TOKEN.finditer(expr):
        kind = match.lastgroup or "other"
        if kind not in ("ws", "comment"):
            out.append(_Token(kind, match.group(), match.start()))
    return out


# -- regexes -----------------------------------------------------------------------------


def _regex_tokens(tokens: list[_Token]) -> Iterator[tuple[_Token, str]]:
    """String tokens Prometheus compiles as regexes, with what they hold for the regex."""
    for index, token in enumerate(tokens):
        if token.kind != "string" or index == 0:
            continue
        if tokens[index - 1].text in ("=~", "!~"):
            yield token, "matcher"
        elif _argument_of(tokens, index, "label_replace") == 4:
            yield token, "label_replace"


def _argument_of(tokens: list[_Token], index: int, function: str) -> int | None:
    """Which argument (0-based) of a call of ``function`` the token at ``index`` is, if it is one alone."""
    if tokens[index - 1].text not in ("(", ",") or index + 1 >= len(tokens):
        return None
    if tokens[index + 1].text not in (")", ","):
        return None
    depth, commas = 0, 0
    for j in range(index - 1, -1, -1):
        text = tokens[j].text
        if text in (")", "]", "}"):
            depth += 1
        elif text in ("(", "[", "{"):
            if depth == 0:
                return commas if text == "(" and j > 0 and tokens[j - 1].text == function else None
            depth -= 1
        elif text == "," and depth == 0:
            commas += 1
    return None


def _sanitize(expr: str, tokens: list[_Token]) -> tuple[list[Problem], str, list[tuple[str, str]]]:
    """Go-check every regex and swap it for a same-length stand-in the Rust parser accepts.

    Returns the regex problems, the text to parse, and (stand-in, original) for each regex
    matcher in order, so selectors can be given back their real regexes.
    """
    found: list[Problem] = []
    pieces: list[str] = []
    originals: list[tuple[str, str]] = []
    last = 0
    for token, use in _regex_tokens(tokens):
        unquoted = _unquote(token.text)
        if unquoted is None:
            continue  # a bad escape: the parser reports it
        value, positions = unquoted
        try:
            nullable = goregexp.check(value)
        except goregexp.RegexError as exc:
            at = token.start + positions[min(exc.at, len(positions) - 1)] if positions else token.start
            where = "label_replace() regex" if use == "label_replace" else "regex"
            found.append(
                Problem(at, f"invalid {where} {token.text}: {exc.message}", "Prometheus uses Go's RE2 syntax")
            )
            nullable = False
        width = len(token.text) - 2
        stand_in = ("^" if nullable else "a") * width
        pieces += [expr[last : token.start], '"' + stand_in + '"']
        last = token.end
        if use == "matcher":
            originals.append((stand_in, value))
    pieces.append(expr[last:])
    return found, "".join(pieces), originals


def _unquote(literal: str) -> tuple[str, list[int]] | None:
    """A PromQL string's value and, per character, its offset in the literal; None for a bad escape.

    Escapes as Prometheus' lexer accepts them (``lexEscape`` in ``promql/parser/lex.go``): the C
    ones, the quote itself, octal ``\\ooo``, ``\\xhh``, ``\\uhhhh``, ``\\Uhhhhhhhh``; backquotes take
    everything literally.
    """
    quote, body = literal[0], literal[1:-1]
    if quote == "`":
        return body, list(range(1, len(body) + 1))
    out: list[str] = []
    positions: list[int] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            positions.append(i + 1)
            i += 1
            continue
        if i + 1 >= len(body):
            return None
        nxt = body[i + 1]
        width = {"x": 2, "u": 4, "U": 8}.get(nxt)
        positions.append(i + 1)
        if nxt in _ESCAPES or nxt == quote:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        elif nxt in "01234567" and re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        elif width and re.fullmatch(rf"[0-9a-fA-F]{{{width}}}", body[i + 2 : i + 2 + width]):
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        else:
            return None
    return "".join(out), positions


# -- where an error of the parser is -----------------------------------------------------


def _locate(message: str, text: str, tokens: list[_Token]) -> Problem:
    """Place a parser error (which has no position) on the token it is about."""
    hint = "see https://prometheus.io/docs/prometheus/latest/querying/basics/"
    if message in _GENERIC:
        return _syntax_error(text, tokens)
    end = tokens[-1].end if tokens else 0
    if message.startswith(("unexpected end of input", "unclosed")):
        return Problem(end, message, "complete the expression")
    called = re.search(r"in call to (?:function )?'([^']+)'", message)
    if called:
        return Problem(
            _call_at(called.group(1), message, text, tokens), message, "see the function's signature"
        )
    unknown = re.match(r"unknown function with name '([^']+)'", message)
    if unknown:
        name = unknown.group(1)
        at = _first(tokens, lambda t, n: t.text == name and n == "(")
        return Problem(at, f"unknown function `{name}`", _function_hint(name))
    if "aggregat" in message:
        names = {t.text for t in tokens if t.text in _AGGREGATORS}
        at = min((_call_at(n, message, text, tokens) for n in names), default=0)
        return Problem(at, message, "see https://prometheus.io/docs/prometheus/latest/querying/operators/")
    literal = re.match(r"(?:bad number or duration syntax|not a valid duration string): \"?([^\"]+)", message)
    if literal:
        bad = literal.group(1)
        at = _first(tokens, lambda t, n: t.text == bad or t.text.startswith(bad))
        return Problem(at, message, "durations look like 30s, 5m, 1h30m (units ms s m h d w y)")
    if message.startswith("duration must be greater than 0"):
        at = _first(tokens, lambda t, n: bool(_DURATION.match(t.text)) and _is_zero(t.text))
        return Problem(at, message, "use a positive range such as [5m]")
    if "BOOL modifier" in message:
        return Problem(_first(tokens, lambda t, n: t.text in _COMPARISONS), message, "write `== bool`")
    if message.startswith("bool modifier"):
        return Problem(_first(tokens, lambda t, n: t.text == "bool"), message, "drop `bool`")
    if "non-empty matcher" in message:
        at = _first_index(
            tokens, lambda i: tokens[i].text == "{" and (i == 0 or tokens[i - 1].kind != "ident")
        )
        return Problem(at, message, 'add a matcher that cannot match the empty string, e.g. job=~".+"')
    if "offset" in message or "@ modifier" in message:
        word = "offset" if "offset" in message else "@"
        return Problem(_first(tokens, lambda t, n: t.text == word), message, hint)
    if message.startswith(("binary expression", "unary expression")):
        return Problem(_first(tokens, lambda t, n: t.text in _BINARY), message, hint)
    quoted = re.search(r"'([^']+)'", message)
    if quoted:
        word = quoted.group(1)
        at = _first(tokens, lambda t, n: t.text == word)
        if at == 0 and (not tokens or tokens[0].text != word):
            found = text.find(word)
            at = max(found, 0)
        return Problem(at, message, hint)
    return Problem(0, message, hint)


def _syntax_error(text: str, tokens: list[_Token]) -> Problem:
    """The first token after which no completion of the expression parses."""
    for count in range(1, len(tokens) + 1):
        if not _viable(text[: tokens[count - 1].end], tokens[:count]):
            token = tokens[count - 1]
            return Problem(
                token.start, f"syntax error: unexpected `{token.text}`", "check the expression near here"
            )
    end = tokens[-1].end if tokens else 0
    last = tokens[-1].text if tokens else ""
    return Problem(end, f"syntax error: unexpected end of input after `{last}`", "complete the expression")


def _viable(prefix: str, tokens: list[_Token]) -> bool:
    stack: list[str] = []
    for token in tokens:
        if token.text in _CLOSE:
            stack.append(_CLOSE[token.text])
        elif token.text in _PAIRS and stack:
            stack.pop()
    closers = "".join(reversed(stack))
    for filler, after in ((f, a) for a in ("", " x") for f in _FILLERS):
        try:
            promql_parser.parse(prefix + filler + closers + after)
        except ValueError as exc:
            if str(exc).startswith(_SEMANTIC):
                return True
        else:
            return True
    return False


def _call_at(name: str, message: str, text: str, tokens: list[_Token]) -> int:
    """Offset of the call of ``name`` that raises ``message`` when parsed alone (else the first call)."""
    starts = [i for i, t in enumerate(tokens) if t.text == name and t.kind == "ident"]
    for index in starts:
        end = _call_end(tokens, index)
        if end is None:
            continue
        try:
            promql_parser.parse(text[tokens[index].start : tokens[end].end])
        except ValueError as exc:
            if str(exc) == message:
                return tokens[index].start
    return tokens[starts[0]].start if starts else 0


def _call_end(tokens: list[_Token], index: int) -> int | None:
    """Index of the last token of the call starting at ``index``, with by/without on either side."""
    j = index + 1
    for _ in range(3):
        if j < len(tokens) and tokens[j].text in ("by", "without"):
            j = (_matching(tokens, j + 1) or j) + 1
            continue
        if j < len(tokens) and tokens[j].text == "(":
            close = _matching(tokens, j)
            if close is None:
                return None
            j = close + 1
            if j < len(tokens) and tokens[j].text in ("by", "without"):
                return _matching(tokens, j + 1)
            return close
        break
    return None


def _matching(tokens: list[_Token], index: int) -> int | None:
    if index >= len(tokens) or tokens[index].text not in _CLOSE:
        return None
    depth = 0
    for j in range(index, len(tokens)):
        if tokens[j].text in _CLOSE:
            depth += 1
        elif tokens[j].text in _PAIRS:
            depth -= 1
            if depth == 0:
                return j
    return None


def _first(tokens: list[_Token], test: Callable[[_Token, str], bool]) -> int:
    """Offset of the first token for which ``test(token, next_text)`` holds, else 0."""
    for i, token in enumerate(tokens):
        following = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if test(token, following):
            return token.start
    return 0


def _first_index(tokens: list[_Token], test: Callable[[int], bool]) -> int:
    for i, token in enumerate(tokens):
        if test(i):
            return token.start
    return 0


def _is_zero(duration: str) -> bool:
    return all(int(n) == 0 for n in re.findall(r"\d+", duration))


def _function_hint(name: str) -> str:
    if name.startswith("rollup") or name in ("range_median", "median_over_time", "keep_last_value"):
        return "MetricsQL functions need `prometheus.flavor: victoriametrics` in alerter.yaml"
    if name == "holt_winters":
        return "Prometheus 3 renamed it double_exponential_smoothing"
    return "see https://prometheus.io/docs/prometheus/latest/querying/functions/"


def _not_promql(tree: promql_parser.Expr, tokens: list[_Token]) -> Iterator[Problem]:
    """What the parser package accepts and Prometheus does not."""
    found: list[Problem] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.matchers.or_matchers:
            at = _first(tokens, lambda t, n: t.text == "or")
            found.append(
                Problem(at, "`or` inside a selector is not PromQL", "write two selectors joined by `or`")
            )

    promql_parser.walk(tree, visit)
    yield from found


# -- selectors and labels ----------------------------------------------------------------

_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def _selector(
    node: promql_parser.VectorSelector,
    tokens: list[_Token],
    used: dict[str, int],
    pending: list[tuple[str, str]],
) -> Selector:
    name = node.name
    matchers: list[tuple[str, str, str]] = []
    for matcher in node.matchers.matchers:
        op = _OPS[str(matcher.op).rsplit(".", 1)[-1]]
        value = matcher.value
        if op in ("=~", "!~") and pending and pending[0][0] == value:
            value = pending.pop(0)[1]
        if matcher.name == "__name__" and op == "=" and name is None:
            name = value
            continue
        if matcher.name == "__name__" and op == "=" and value == name:
            continue
        matchers.append((matcher.name, op, value))
    named = node.name is not None
    key = node.name if node.name is not None else "{"
    seen = used.get(key, 0)
    used[key] = seen + 1
    offsets = [
        t.start
        for i, t in enumerate(tokens)
        if (
            named
            and t.kind == "ident"
            and t.text == node.name
            and (i + 1 >= len(tokens) or tokens[i + 1].text != "(")
        )
        or (not named and t.text == "{" and (i == 0 or tokens[i - 1].kind != "ident"))
    ]
    offset = offsets[seen] if seen < len(offsets) else (offsets[0] if offsets else 0)
    return Selector(name, tuple(matchers), offset)


def _grouping(tokens: list[_Token]) -> list[tuple[str, int]]:
    """Labels in by/without/on/ignoring/group_left/group_right clauses, with their offsets."""
    out: list[tuple[str, int]] = []
    for index, token in enumerate(tokens):
        if token.text not in _CLAUSES or index + 1 >= len(tokens) or tokens[index + 1].text != "(":
            continue
        for inner in tokens[index + 2 :]:
            if inner.text == ")":
                break
            if inner.kind == "ident":
                out.append((inner.text, inner.start))
            elif inner.kind == "string":
                unquoted = _unquote(inner.text)
                if unquoted is not None:
                    out.append((unquoted[0], inner.start))
    return out


def _is_metric_name(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", name) is not None


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
