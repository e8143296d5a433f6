"""The lexer of Go's text/template, as src/text/template/parse/lex.go in golang/go scans.

Text runs until ``{{``; inside an action come spaces (newlines included, as Go allows since
1.16), ``|``, ``(``, ``)``, ``:=``, ``=``, ``,``, quoted, raw and character constants, numbers,
``$variables``, ``.fields``, identifiers and keywords. ``{{- `` and `` -}}`` (a dash and a space)
trim the white space around an action; ``{{/* ... */}}`` is a comment. Every token keeps its
character offset so errors can say line and column inside the template.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

SPACE = " \t\r\n"
KEYWORDS = frozenset(
    {"block", "break", "continue", "define", "else", "end", "if", "nil", "range", "template", "with"}
)


class Kind(enum.Enum):
    TEXT = "text"
    LEFT = "{{"
    RIGHT = "}}"
    SPACE = "space"
    PIPE = "|"
    LPAREN = "("
    RPAREN = ")"
    DECLARE = ":="
    ASSIGN = "="
    CHAR = "char"  # a comma (in range $i, $e := ...) or another punctuation character
    STRING = "string"
    RAW = "raw string"
    CHARCONST = "character constant"
    NUMBER = "number"
    BOOL = "bool"
    VARIABLE = "variable"
    FIELD = "field"
    DOT = "."
    IDENT = "identifier"
    KEYWORD = "keyword"
    EOF = "EOF"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    pos: int


class LexError(Exception):
    """A scanning error at a character offset."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _alnum(char: str) -> bool:
    return char == "_" or char.isalnum()


def _terminator(text: str, i: int) -> bool:
    """Whether an identifier may end before ``text[i]`` (lex.go atTerminator)."""
    if i >= len(text):
        return True
    char = text[i]
    return char in SPACE or char in ".,|:)(=" or text.startswith("}}", i)


def _right_delim(text: str, i: int) -> tuple[bool, bool]:
    """(at a right delimiter, with a trim marker): ``}}`` or `` -}}``."""
    if text.startswith("}}", i):
        return True, False
    if i + 1 < len(text) and text[i] in SPACE and text[i + 1] == "-" and text.startswith("}}", i + 2):
        return True, True
    return False, False


def _number_end(text: str, i: int) -> int:
    """End of a number literal starting at ``i``, or -1 when it is malformed (lex.go scanNumber)."""
    if i < len(text) and text[i] in "+-":
        i += 1
    digits = "0123456789_"
    if text.startswith(("0x", "0X"), i):
        i += 2
        digits = "0123456789abcdefABCDEF_"
    elif text.startswith(("0o", "0O"), i):
        i += 2
        digits = "01234567_"
    elif text.startswith(("0b", "0B"), i):
        i += 2
        digits = "01_"
    while i < len(text) and text[i] in digits:
        i += 1
    if i < len(text) and text[i] == ".":
        i += 1
        while i < len(text) and text[i] in digits:
            i += 1
    if i < len(text) and text[i] in ("eEpP" if "a" in digits else "eE"):
        i += 1
        if i < len(text) and text[i] in "+-":
            i += 1
        while i < len(text) and text[i] in "0123456789_":
            i += 1
    if i < len(text) and text[i] == "i":
        i += 1
    if i < len(text) and _alnum(text[i]):
        return -1
    return i


def tokens(text: str) -> list[Token]:
    """All tokens of ``text``, ending with EOF; raises :class:`LexError` at the first bad one."""
    out: list[Token] = []
    i = 0
    n = len(text)
    while True:
        start = text.find("{{", i)
        if start < 0:
            if i < n:
                out.append(Token(Kind.TEXT, text[i:], i))
            out.append(Token(Kind.EOF, "", n))
            return out
        trim_left = text.startswith("-", start + 2) and start + 3 < n and text[start + 3] in SPACE
        body = text[i:start]
        if trim_left:
            body = body.rstrip(SPACE)
        if body:
            out.append(Token(Kind.TEXT, body, i))
        j = start + (4 if trim_left else 2)
        if text.startswith("/*", j):
            end = text.find("*/", j + 2)
            if end < 0:
                raise LexError("unclosed comment", start)
            delim, trim_right = _right_delim(text, end + 2)
            if not delim:
                raise LexError("comment ends before closing delimiter", start)
            i = end + 2 + (4 if trim_right else 2)
            if trim_right:
                while i < n and text[i] in SPACE:
                    i += 1
            continue
        out.append(Token(Kind.LEFT, "{{", start))
        i = _action(text, j, out, start)


def _action(text: str, i: int, out: list[Token], opened: int) -> int:
    """Scan one action from ``i`` to its ``}}``; returns the offset just after it."""
    n = len(text)
    depth = 0
    while True:
        delim, trim_right = _right_delim(text, i)
        if delim:
            if depth:
                raise LexError("unclosed left paren", i)
            if trim_right:
                i += 1
            out.append(Token(Kind.RIGHT, "}}", i + (1 if trim_right else 0)))
            i += 3 if trim_right else 2
            if trim_right:
                while i < n and text[i] in SPACE:
                    i += 1
            return i
        if i >= n:
            raise LexError("unclosed action", opened)
        char = text[i]
        if char in SPACE:
            j = i
            while j < n and text[j] in SPACE and not _right_delim(text, j)[0]:
                j += 1
            out.append(Token(Kind.SPACE, text[i:j], i))
            i = j
        elif char == ":":
            if not text.startswith(":=", i):
                raise LexError("expected :=", i)
            out.append(Token(Kind.DECLARE, ":=", i))
            i += 2
        elif char == "|":
            out.append(Token(Kind.PIPE, "|", i))
            i += 1
        elif char == '"':
            i = _quoted(text, i, '"', Kind.STRING, "unterminated quoted string", out)
        elif char == "'":
            i = _quoted(text, i, "'", Kind.CHARCONST, "unterminated character constant", out)
        elif char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise LexError("unterminated raw quoted string", i)
            out.append(Token(Kind.RAW, text[i : end + 1], i))
            i = end + 1
        elif char in "$.":
            j = i + 1
            if char == "." and j < n and text[j].isdigit():
                i = _number(text, i, out)
                continue
            while j < n and _alnum(text[j]):
                j += 1
            if not _terminator(text, j):
                raise LexError(f"bad character {_rune(text[j])}", j)
            kind = Kind.VARIABLE if char == "$" else (Kind.FIELD if j > i + 1 else Kind.DOT)
            out.append(Token(kind, text[i:j], i))
            i = j
        elif char in "+-" or char.isdigit():
            i = _number(text, i, out)
        elif _alnum(char):
            j = i
            while j < n and _alnum(text[j]):
                j += 1
            if not _terminator(text, j):
                raise LexError(f"bad character {_rune(text[j])}", j)
            word = text[i:j]
            if word in KEYWORDS:
                kind = Kind.KEYWORD
            elif word in ("true", "false"):
                kind = Kind.BOOL
            else:
                kind = Kind.IDENT
            out.append(Token(kind, word, i))
            i = j
        elif char == "(":
            out.append(Token(Kind.LPAREN, "(", i))
            depth += 1
            i += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise LexError("unexpected right paren", i)
            out.append(Token(Kind.RPAREN, ")", i))
            i += 1
        elif char == "=":
            out.append(Token(Kind.ASSIGN, "=", i))
            i += 1
        elif ord(char) < 0x80 and char.isprintable():
            out.append(Token(Kind.CHAR, char, i))
            i += 1
        else:
            raise LexError(f"unrecognized character in action: {_rune(char)}", i)


def _quoted(text: str, i: int, mark: str, kind: Kind, error: str, out: list[Token]) -> int:
    j = i + 1
    while True:
        if j >= len(text) or text[j] == "\n":
            raise LexError(error, i)
        if text[j] == "\\":
            if j + 1 >= len(text) or text[j + 1] == "\n":
                raise LexError(error, i)
            j += 2
            continue
        if text[j] == mark:
            out.append(Token(kind, text[i : j + 1], i))
            return j + 1
        j += 1


def _number(text: str, i: int, out: list[Token]) -> int:
    end = _number_end(text, i)
    if end < 0 or end == i or text[i:end] in ("+", "-", "."):
        j = i + 1
        while j < len(text) and _alnum(text[j]):
            j += 1
        raise LexError(f"bad number syntax: {text[i:j]!r}".replace("'", '"'), i)
    out.append(Token(Kind.NUMBER, text[i:end], i))
    return end


def _rune(char: str) -> str:
    """A character as Go's ``%#U`` shows it: U+00A0 ' '."""
    return f"U+{ord(char):04X} '{char}'" if char.isprintable() else f"U+{ord(char):04X}"
