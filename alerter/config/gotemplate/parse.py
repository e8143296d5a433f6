"""The parser of Go's text/template: tokens to a tree, with Go's load-time checks.

Follows src/text/template/parse/parse.go and node.go in golang/go: a template is a list of
text and actions; ``if``, ``with`` and ``range`` take a pipeline, a body, an optional ``else``
(``else if`` and ``else with`` chain); ``define``/``block``/``template`` name sub-templates;
``break`` and ``continue`` only inside ``range``. A pipeline is an optional declaration
(``$x :=``, ``$x =``, ``$k, $v :=``) and commands joined by ``|``; a command is a function or a
value followed by its arguments. As in Go, calling a function that is not defined or using a
variable that was never declared is an error when the template is parsed, not when it runs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from alerter.config.gotemplate.lex import Kind, LexError, Token, tokens


class ParseError(Exception):
    """A problem found while parsing, at a character offset of the template, with a hint."""

    def __init__(self, message: str, pos: int, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.hint = hint


# ---- nodes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    pos: int
    end: int


@dataclass(frozen=True, slots=True)
class Text(Node):
    text: str


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A constant: string, number (int or float, as Go's ideal constants become), bool or nil."""

    value: str | int | float | bool | None
    kind: str  # "string", "number", "bool", "nil"


@dataclass(frozen=True, slots=True)
class Dot(Node):
    pass


@dataclass(frozen=True, slots=True)
class Field(Node):
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Variable(Node):
    name: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Identifier(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Command(Node):
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Pipe(Node):
    decl: tuple[str, ...]
    assign: bool
    cmds: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class Chain(Node):
    node: Node
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Action(Node):
    pipe: Pipe


@dataclass(frozen=True, slots=True)
class Branch(Node):
    """``if``, ``with`` or ``range`` (``keyword``), its pipeline, body and ``else`` body."""

    keyword: str
    pipe: Pipe
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Loop(Node):
    """``{{break}}`` or ``{{continue}}``."""

    keyword: str


@dataclass(frozen=True, slots=True)
class TemplateCall(Node):
    name: str
    pipe: Pipe | None


@dataclass(slots=True)
class Tree:
    """A parsed template: its body and the templates it defines."""

    body: tuple[Node, ...]
    defines: dict[str, tuple[Node, ...]] = field(default_factory=dict)


# ---- parser ------------------------------------------------------------------------------


def _unquote(text: str, pos: int) -> str:
    """A Go interpreted string literal's value (strconv.Unquote)."""
    body = text[1:-1]
    out: list[str] = []
    i = 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = body[i + 1]
        if code in simple:
            out.append(simple[code])
            i += 2
        elif code in "\"'":
            if code != text[0]:
                raise ParseError(f"invalid syntax: {text}", pos)
            out.append(code)
            i += 2
        elif code in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[code]
            digits = body[i + 2 : i + 2 + size]
            try:
                if len(digits) != size:
                    raise ValueError
                out.append(chr(int(digits, 16)))
            except ValueError:
                raise ParseError(f"invalid syntax: {text}", pos) from None
            i += 2 + size
        elif code in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ParseError(f"invalid syntax: {text}", pos)
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ParseError(f"invalid syntax: {text}", pos)
    return "".join(out)


def _number(text: str, pos: int) -> int | float:
    """A number literal as Go's ideal constant becomes a value: int unless it is written as a float."""
    clean = text.replace("_", "")
    sign = -1 if clean.startswith("-") else 1
    body = clean.lstrip("+-")
    lower = body.lower()
    try:
        if lower.endswith("i"):
            raise ParseError(f"complex constants are not supported: {text}", pos)
        if lower.startswith("0x"):
            if "p" in lower or "." in lower:
                return sign * float.fromhex(body)
            return sign * int(body, 16)
        if lower.startswith(("0o", "0b")):
            return sign * int(body, 0)
        if any(c in lower for c in ".e"):
            return sign * float(body)
        if len(body) > 1 and body.startswith("0"):
            return sign * int(body, 8)
        return sign * int(body)
    except ValueError:
        raise ParseError(f"illegal number syntax: {text!r}".replace("'", '"'), pos) from None


def _char(text: str, pos: int) -> int:
    value = _unquote(text, pos)
    if len(value) != 1:
        raise ParseError(f"malformed character constant: {text}", pos)
    return ord(value)


_CONTROL = {"if", "with", "range"}


class Parser:
    """One template's parser; ``functions`` and ``variables`` are what the template may name."""

    def __init__(self, source: str, functions: Iterable[str], variables: Iterable[str]) -> None:
        self.source = source
        self.functions = frozenset(functions)
        self.toks: list[Token] = []
        self.i = 0
        self.scopes: list[list[str]] = [["$", *variables]]
        self.range_depth = 0
        self.defines: dict[str, tuple[Node, ...]] = {}
        self.calls: list[tuple[str, int]] = []

    # -- token helpers

    def parse(self) -> Tree:
        try:
            self.toks = tokens(self.source)
        except LexError as exc:
            raise ParseError(exc.message, exc.pos, _lex_hint(exc.message)) from None
        body, stop = self._list(top=True)
        if stop is not None:
            raise ParseError(f"unexpected {{{{{stop.text}}}}}", stop.pos, _stop_hint(stop.text))
        for name, pos in self.calls:
            if name not in self.defines:
                raise ParseError(
                    f'no such template "{name}"', pos, 'define it with {{ define "name" }}...{{ end }}'
                )
        return Tree(body, self.defines)

    def _peek(self, skip_space: bool = True) -> Token:
        i = self.i
        while skip_space and self.toks[i].kind is Kind.SPACE:
            i += 1
        return self.toks[i]

    def _next(self, skip_space: bool = True) -> Token:
        while skip_space and self.toks[self.i].kind is Kind.SPACE:
            self.i += 1
        tok = self.toks[self.i]
        if tok.kind is not Kind.EOF:
            self.i += 1
        return tok

    def _expect(self, kind: Kind, context: str) -> Token:
        tok = self._next()
        if tok.kind is not kind:
            raise ParseError(f"unexpected {_describe(tok)} in {context}", tok.pos)
        return tok

    # -- lists and actions

    def _list(self, top: bool = False) -> tuple[tuple[Node, ...], Token | None]:
        """Nodes up to ``{{end}}`` or ``{{else}}`` (returned as the stop token) or EOF."""
        nodes: list[Node] = []
        while True:
            tok = self._next(skip_space=False)
            if tok.kind is Kind.EOF:
                if not top:
                    raise ParseError(
                        "unexpected EOF", tok.pos, "a {{ if }}, {{ range }} or {{ with }} lacks its {{ end }}"
                    )
                return tuple(nodes), None
            if tok.kind is Kind.TEXT:
                nodes.append(Text(tok.pos, tok.pos + len(tok.text), tok.text))
                continue
            # a left delimiter
            key = self._peek()
            if key.kind is Kind.KEYWORD and key.text in ("end", "else"):
                if top:
                    raise ParseError(f"unexpected {{{{{key.text}}}}}", key.pos, _stop_hint(key.text))
                return tuple(nodes), key
            node = self._action(tok)
            if node is not None:
                nodes.append(node)

    def _action(self, left: Token) -> Node | None:
        key = self._peek()
        if key.kind is Kind.KEYWORD:
            word = key.text
            if word in _CONTROL:
                self._next()
                return self._branch(word, left.pos)
            if word in ("break", "continue"):
                self._next()
                if not self.range_depth:
                    raise ParseError(f"{{{{{word}}}}} outside {{{{range}}}}", key.pos)
                end = self._expect(Kind.RIGHT, word)
                return Loop(left.pos, end.pos + 2, word)
            if word == "template":
                self._next()
                return self._template(left.pos)
            if word in ("define", "block"):
                self._next()
                return self._define(left.pos, word)
        pipe = self._pipeline("command", Kind.RIGHT)
        end = self.toks[self.i - 1]
        return Action(left.pos, end.pos + 2, pipe)

    def _branch(self, word: str, start: int) -> Branch:
        self.scopes.append(list(self.scopes[-1]))
        if word == "range":
            self.range_depth += 1
        pipe = self._pipeline(word, Kind.RIGHT)
        body, stop = self._list()
        if word == "range":
            self.range_depth -= 1
        orelse: tuple[Node, ...] = ()
        assert stop is not None
        self._next()  # the end/else keyword
        if stop.text == "else":
            nxt = self._peek()
            if nxt.kind is Kind.KEYWORD and nxt.text in ("if", "with") and word != "range":
                # {{else if ...}} / {{else with ...}}: a nested branch that shares our {{end}}.
                self._next()
                self.scopes.pop()
                nested = self._branch(nxt.text, stop.pos)
                return Branch(start, nested.end, word, pipe, body, (nested,))
            self._expect(Kind.RIGHT, "else")
            orelse, stop2 = self._list()
            if stop2 is None or stop2.text != "end":
                raise ParseError("expected end; found {{else}}", stop2.pos if stop2 else start)
            self._next()
        end = self._expect(Kind.RIGHT, "end")
        self.scopes.pop()
        return Branch(start, end.pos + 2, word, pipe, body, orelse)

    def _template(self, start: int) -> TemplateCall:
        name_tok = self._next()
        if name_tok.kind not in (Kind.STRING, Kind.RAW):
            raise ParseError(f"unexpected {_describe(name_tok)} in template clause", name_tok.pos)
        name = _unquote(name_tok.text, name_tok.pos) if name_tok.kind is Kind.STRING else name_tok.text[1:-1]
        pipe = None
        if self._peek().kind is not Kind.RIGHT:
            pipe = self._pipeline("template clause", Kind.RIGHT)
        else:
            self._next()
        self.calls.append((name, name_tok.pos))
        return TemplateCall(start, self.toks[self.i - 1].pos + 2, name, pipe)

    def _define(self, start: int, word: str) -> Node | None:
        name_tok = self._next()
        if name_tok.kind not in (Kind.STRING, Kind.RAW):
            raise ParseError(f"unexpected {_describe(name_tok)} in {word} clause", name_tok.pos)
        name = _unquote(name_tok.text, name_tok.pos) if name_tok.kind is Kind.STRING else name_tok.text[1:-1]
        pipe = None
        if word == "block":
            pipe = self._pipeline("block clause", Kind.RIGHT)
        else:
            self._expect(Kind.RIGHT, "define clause")
        saved_scopes, saved_range = self.scopes, self.range_depth
        self.scopes, self.range_depth = [["$"]], 0
        body, stop = self._list()
        self.scopes, self.range_depth = saved_scopes, saved_range
        if stop is None or stop.text != "end":
            raise ParseError("unexpected {{else}} in define", stop.pos if stop else start)
        self._next()
        end = self._expect(Kind.RIGHT, "end")
        self.defines[name] = body
        if word == "block":
            return TemplateCall(start, end.pos + 2, name, pipe)
        return None

    # -- pipelines

    def _pipeline(self, context: str, closer: Kind) -> Pipe:
        start = self._peek().pos
        decl: list[str] = []
        assign = False
        # A declaration: $x := / $x = / $k, $v :=
        save = self.i
        tok = self._next()
        if tok.kind is Kind.VARIABLE:
            after = self._peek()
            if after.kind in (Kind.DECLARE, Kind.ASSIGN) or (after.kind is Kind.CHAR and after.text == ","):
                names = [tok.text]
                if after.kind is Kind.CHAR:
                    self._next()
                    second = self._next()
                    if second.kind is not Kind.VARIABLE or context != "range":
                        raise ParseError(f"too many declarations in {context}", second.pos)
                    names.append(second.text)
                    after = self._peek()
                    if after.kind not in (Kind.DECLARE, Kind.ASSIGN):
                        raise ParseError(f"unexpected {_describe(after)} in {context}", after.pos)
                op = self._next()
                assign = op.kind is Kind.ASSIGN
                if assign:
                    for name in names:
                        self._require_variable(name, tok.pos)
                decl = names
            else:
                self.i = save
        else:
            self.i = save
        cmds: list[Command] = []
        while True:
            tok = self._peek()
            if tok.kind is closer:
                self._next()
                if not cmds:
                    raise ParseError(f"missing value for {context}", tok.pos)
                break
            cmds.append(self._command(context, closer))
            tok = self._peek()
            if tok.kind is Kind.PIPE:
                self._next()
                if self._peek().kind is closer:
                    raise ParseError("missing command after |", self._peek().pos)
                continue
        for index, cmd in enumerate(cmds[1:], start=2):
            first = cmd.args[0]
            if isinstance(first, Literal | Dot):
                raise ParseError(f"non executable command in pipeline stage {index}", first.pos)
        if not assign:
            self.scopes[-1].extend(decl)  # declared after the pipeline, as in Go
        end = self.toks[self.i - 1].pos
        return Pipe(start, end, tuple(decl), assign, tuple(cmds))

    def _command(self, context: str, closer: Kind) -> Command:
        args: list[Node] = []
        start = self._peek().pos
        while True:
            tok = self._peek(skip_space=False)
            if tok.kind is Kind.SPACE:
                self._next(skip_space=False)
                continue
            if tok.kind in (closer, Kind.PIPE):
                break
            if tok.kind is Kind.RIGHT or tok.kind is Kind.RPAREN:
                raise ParseError(f"unexpected {_describe(tok)} in operand", tok.pos)
            operand = self._operand()
            args.append(operand)
            nxt = self._peek(skip_space=False)
            if nxt.kind not in (Kind.SPACE, closer, Kind.PIPE):
                raise ParseError(f"missing space? unexpected {_describe(nxt)} in {context}", nxt.pos)
        if not args:
            raise ParseError("empty command", start)
        first = args[0]
        if isinstance(first, Literal) and first.kind == "nil":
            raise ParseError("nil is not a command", first.pos)
        if len(args) > 1 and isinstance(first, Literal | Dot):
            raise ParseError(
                f"can't give argument to non-function {self.source[first.pos : first.end]}", first.pos
            )
        return Command(start, args[-1].end, tuple(args))

    def _operand(self) -> Node:
        node = self._term()
        names: list[str] = []
        while self._peek(skip_space=False).kind is Kind.FIELD:
            tok = self._next(skip_space=False)
            names.append(tok.text[1:])
        if not names:
            return node
        end = self.toks[self.i - 1].pos + len(self.toks[self.i - 1].text)
        if isinstance(node, Field):
            return Field(node.pos, end, (*node.names, *names))
        if isinstance(node, Variable):
            return Variable(node.pos, end, node.name, (*node.names, *names))
        if isinstance(node, Literal):
            raise ParseError(f"unexpected . after term {self.source[node.pos : node.end]}", node.end)
        return Chain(node.pos, end, node, tuple(names))

    def _term(self) -> Node:
        tok = self._next(skip_space=False)
        end = tok.pos + len(tok.text)
        kind = tok.kind
        if kind is Kind.IDENT:
            if tok.text not in self.functions:
                raise ParseError(
                    f'function "{tok.text}" not defined', tok.pos, _function_hint(tok.text, self.functions)
                )
            return Identifier(tok.pos, end, tok.text)
        if kind is Kind.DOT:
            return Dot(tok.pos, end)
        if kind is Kind.FIELD:
            return Field(tok.pos, end, (tok.text[1:],))
        if kind is Kind.VARIABLE:
            self._require_variable(tok.text, tok.pos)
            return Variable(tok.pos, end, tok.text, ())
        if kind is Kind.STRING:
            return Literal(tok.pos, end, _unquote(tok.text, tok.pos), "string")
        if kind is Kind.RAW:
            return Literal(tok.pos, end, tok.text[1:-1], "string")
        if kind is Kind.CHARCONST:
            return Literal(tok.pos, end, _char(tok.text, tok.pos), "number")
        if kind is Kind.NUMBER:
            return Literal(tok.pos, end, _number(tok.text, tok.pos), "number")
        if kind is Kind.BOOL:
            return Literal(tok.pos, end, tok.text == "true", "bool")
        if kind is Kind.KEYWORD and tok.text == "nil":
            return Literal(tok.pos, end, None, "nil")
        if kind is Kind.LPAREN:
            pipe = self._pipeline("parenthesized pipeline", Kind.RPAREN)
            close = self.toks[self.i - 1]
            return Pipe(tok.pos, close.pos + 1, pipe.decl, pipe.assign, pipe.cmds)
        raise ParseError(f"unexpected {_describe(tok)} in operand", tok.pos)

    def _require_variable(self, name: str, pos: int) -> None:
        if name in self.scopes[-1]:
            return
        known = sorted(set(self.scopes[-1]) - {"$"})
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"declared: {', '.join(known)}"
        raise ParseError(f'undefined variable "{name}"', pos, hint)


def _describe(tok: Token) -> str:
    if tok.kind is Kind.EOF:
        return "EOF"
    if tok.kind is Kind.RIGHT:
        return '"}}"'
    if tok.kind is Kind.KEYWORD:
        return f"<{tok.text}>"
    text = tok.text if len(tok.text) <= 10 else tok.text[:10] + "..."
    return f'"{text}"'


def _stop_hint(word: str) -> str:
    return f"this {{{{{word}}}}} has no {{{{ if }}}}, {{{{ range }}}} or {{{{ with }}}} to close"


def _lex_hint(message: str) -> str:
    if message == "unclosed action":
        return "close the action with }}"
    if "quoted string" in message:
        return 'close the string with "'
    return "check the {{ }} pairs"


def _function_hint(name: str, functions: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(functions), n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    return "Go templates call functions by name: {{ humanize $value }} or {{ $value | humanize }}"


def parse(source: str, functions: Iterable[str], variables: Iterable[str]) -> Tree:
    """Parse ``source``; raises :class:`ParseError` with Go's message and the offset."""
    return Parser(source, functions, variables).parse()
