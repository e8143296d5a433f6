"""Whether a label-matcher regex is one Prometheus would compile: Go's RE2 syntax, checked offline.

Prometheus compiles every ``=~`` / ``!~`` value with Go's ``regexp/syntax.Parse(v, Perl|DotNL)``
(prometheus/prometheus ``model/labels/regexp.go``, ``NewFastRegexMatcher``), and VictoriaMetrics is
a Go program too. Python's ``re`` and the Rust ``regex`` crate behind the PromQL parser accept a
different language: both take ``a++`` and ``a{1001}``, Rust refuses ``\\Q.\\E``, ``\\0`` and
``[\\d-z]`` that Go accepts. So this module follows the rules of Go's parser
(golang/go ``src/regexp/syntax/parse.go``: ``Parse``, ``repeat``, ``parseRepeat``,
``parsePerlFlags``, ``parseEscape``, ``parseClass``, ``parseNamedClass``, ``parseUnicodeClass``)
without building a program, and also works out whether the regex can match the empty string,
which Prometheus uses to decide whether a selector has a non-empty matcher.

Not modelled: invalid UTF-8 (a Python ``str`` has none), the nesting depth limit of 1000 and the
overall program size limit, and the exact list of Unicode script names (any capitalised name
is taken as a script; Go rejects names it does not know).
"""

from __future__ import annotations

from dataclasses import dataclass

_PERL_CLASSES = frozenset("dDsSwW")
_POSIX_CLASSES = frozenset(
    [
        "alnum",
        "alpha",
        "ascii",
        "blank",
        "cntrl",
        "digit",
        "graph",
        "lower",
        "print",
        "punct",
        "space",
        "upper",
        "word",
        "xdigit",
    ]
)
_CATEGORIES = frozenset(
    [
        "C",
        "Cc",
        "Cf",
        "Co",
        "Cs",
        "L",
        "Ll",
        "Lm",
        "Lo",
        "Lt",
        "Lu",
        "M",
        "Mc",
        "Me",
        "Mn",
        "N",
        "Nd",
        "Nl",
        "No",
        "P",
        "Pc",
        "Pd",
        "Pe",
        "Pf",
        "Pi",
        "Po",
        "Ps",
        "S",
        "Sc",
        "Sk",
        "Sm",
        "So",
        "Z",
        "Zl",
        "Zp",
        "Zs",
    ]
)
_MAX_REPEAT = 1000
_MAX_RUNE = 0x10FFFF


class RegexError(ValueError):
    """A regex Go refuses; ``at`` is the index in the pattern where the offending part starts."""

    def __init__(self, at: int, message: str) -> None:
        super().__init__(message)
        self.at = at
        self.message = message


@dataclass
class _Atom:
    nullable: bool
    weight: int = 1
    """Product of the repeat counts inside, for Go's limit of 1000 on nested repeats."""


@dataclass
class _Group:
    alternatives: list[list[_Atom]]
    start: int


def check(pattern: str) -> bool:
    """Parse ``pattern`` as Go would; raise RegexError if it refuses. Returns whether it matches ""."""
    return _Parser(pattern).parse()


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.i = 0
        self.stack: list[_Group] = [_Group([[]], 0)]

    def error(self, at: int, code: str, fragment: str) -> RegexError:
        return RegexError(at, f"{code}: `{fragment}`")

    # -- the main loop ------------------------------------------------------------------

    def parse(self) -> bool:
        s = self.s
        last_repeat: int | None = None  # start of the previous token when it was a repeat
        while self.i < len(s):
            start = self.i
            c = s[self.i]
            repeat_here: int | None = None
            if c == "(":
                if s.startswith("(?", self.i):
                    self._perl_flags()
                else:
                    self.i += 1
                    self.stack.append(_Group([[]], start))
            elif c == "|":
                self.stack[-1].alternatives.append([])
                self.i += 1
            elif c == ")":
                if len(self.stack) == 1:
                    raise self.error(start, "unexpected )", s)
                group = self.stack.pop()
                self._push(_Atom(_alternation_nullable(group), _alternation_weight(group)))
                self.i += 1
            elif c in "^$.":
                self._push(_Atom(nullable=c != "."))
                self.i += 1
            elif c == "[":
                self._class()
            elif c in "*+?":
                self.i += 1
                self._repeat(start, last_repeat, 0 if c != "+" else 1, -1 if c != "?" else 1)
                repeat_here = start
            elif c == "{":
                parsed = self._parse_repeat()
                if parsed is None:
                    self._push(_Atom(nullable=False))  # not a repeat: a literal {
                    self.i += 1
                else:
                    low, high, end = parsed
                    if low < 0 or low > _MAX_REPEAT or high > _MAX_REPEAT or (high >= 0 and low > high):
                        raise self.error(start, "invalid repeat count", s[start:end])
                    self.i = end
                    self._repeat(start, last_repeat, low, high)
                    repeat_here = start
            elif c == "\\":
                self._backslash()
            else:
                self._push(_Atom(nullable=False))
                self.i += 1
            last_repeat = repeat_here
        if len(self.stack) != 1:
            raise self.error(self.stack[-1].start, "missing closing )", s)
        return _alternation_nullable(self.stack[0])

    def _push(self, atom: _Atom) -> None:
        self.stack[-1].alternatives[-1].append(atom)

    # -- repetition ---------------------------------------------------------------------

    def _repeat(self, start: int, last_repeat: int | None, low: int, high: int) -> None:
        """Go's ``repeat``: an optional ``?`` makes it non-greedy; stacked repeats are refused."""
        if self.i < len(self.s) and self.s[self.i] == "?":
            self.i += 1
        if last_repeat is not None:
            raise self.error(last_repeat, "invalid nested repetition operator", self.s[last_repeat : self.i])
        atoms = self.stack[-1].alternatives[-1]
        if not atoms:
            raise self.error(start, "missing argument to repetition operator", self.s[start : self.i])
        sub = atoms[-1]
        weight = sub.weight
        if low >= 2 or high >= 2:
            count = high if high >= 0 else low
            if count > 0:
                weight *= count
                if weight > _MAX_REPEAT:
                    raise self.error(start, "invalid repeat count", self.s[start : self.i])
        atoms[-1] = _Atom(nullable=sub.nullable or low == 0, weight=weight)

    def _parse_repeat(self) -> tuple[int, int, int] | None:
        """``{n}``, ``{n,}``, ``{n,m}`` at ``self.i`` as (min, max or -1, end); None when not of that form."""
        s, j = self.s, self.i + 1
        low, j = _parse_int(s, j)
        if low is None or j >= len(s):
            return None
        if s[j] != ",":
            high = low
        else:
            j += 1
            if j >= len(s):
                return None
            if s[j] == "}":
                high = -1
            else:
                parsed, j = _parse_int(s, j)
                if parsed is None:
                    return None
                high = parsed
        if j >= len(s) or s[j] != "}":
            return None
        return low, high, j + 1

    # -- groups and flags ---------------------------------------------------------------

    def _perl_flags(self) -> None:
        s, start = self.s, self.i
        rest = s[start:]
        if rest.startswith("(?P<") or (rest.startswith("(?<") and not rest.startswith("(?<=", 0)):
            name_start = start + (4 if rest.startswith("(?P<") else 3)
            end = s.find(">", name_start)
            if end < 0:
                raise self.error(start, "invalid named capture", rest)
            name = s[name_start:end]
            if not name or not all(ch == "_" or (ch.isascii() and ch.isalnum()) for ch in name):
                raise self.error(start, "invalid named capture", s[start : end + 1])
            self.i = end + 1
            self.stack.append(_Group([[]], start))
            return
        j = start + 2
        sign = 1
        saw_flag = False
        while j < len(s):
            ch = s[j]
            j += 1
            if ch in "imsU":
                saw_flag = True
            elif ch == "-":
                if sign < 0:
                    break
                sign = -1
                saw_flag = False
            elif ch in ":)":
                if sign < 0 and not saw_flag:
                    break
                self.i = j
                if ch == ":":
                    self.stack.append(_Group([[]], start))
                return
            else:
                break
        raise self.error(start, "invalid or unsupported Perl syntax", s[start:j])

    # -- escapes ------------------------------------------------------------------------

    def _backslash(self) -> None:
        s, start = self.s, self.i
        nxt = s[start + 1] if start + 1 < len(s) else ""
        if nxt in ("A", "z", "B"):
            self._push(_Atom(nullable=True))
            self.i += 2
        elif nxt == "b":
            self._push(_Atom(nullable=False))  # a word boundary never holds in the empty string
            self.i += 2
        elif nxt == "C":
            raise self.error(start, "invalid escape sequence", s[start : start + 2])
        elif nxt == "Q":
            end = s.find("\\E", start + 2)
            literal = s[start + 2 :] if end < 0 else s[start + 2 : end]
            for _ in literal:
                self._push(_Atom(nullable=False))
            self.i = len(s) if end < 0 else end + 2
        elif nxt in ("p", "P"):
            self.i = self._unicode_class(start)
            self._push(_Atom(nullable=False))
        elif nxt in _PERL_CLASSES:
            self.i += 2
            self._push(_Atom(nullable=False))
        else:
            self.i = self._escape(start)
            self._push(_Atom(nullable=False))

    def _escape(self, start: int) -> int:
        """Go's ``parseEscape`` at ``start`` (a backslash); returns the index after it."""
        s = self.s
        j = start + 1
        if j >= len(s):
            raise RegexError(start, "trailing backslash at end of expression")
        c = s[j]
        j += 1
        if c.isascii() and not c.isalnum():
            return j
        if c in "1234567" and (j >= len(s) or s[j] not in "01234567"):
            raise self.error(start, "invalid escape sequence", s[start:j])
        if c in "01234567":
            for _ in range(2):
                if j < len(s) and s[j] in "01234567":
                    j += 1
            return j
        if c == "x":
            if j < len(s) and s[j] == "{":
                close = s.find("}", j + 1)
                digits = s[j + 1 : close] if close >= 0 else ""
                if close < 0 or not digits or not _is_hex(digits) or int(digits, 16) > _MAX_RUNE:
                    end = close + 1 if close >= 0 else len(s)
                    raise self.error(start, "invalid escape sequence", s[start:end])
                return close + 1
            if j + 2 <= len(s) and _is_hex(s[j : j + 2]):
                return j + 2
            raise self.error(start, "invalid escape sequence", s[start : min(j + 2, len(s))])
        if c in "afnrtv":
            return j
        raise self.error(start, "invalid escape sequence", s[start:j])

    def _unicode_class(self, start: int) -> int:
        """``\\pN``, ``\\p{Name}``, ``\\P{^Name}`` at ``start``; returns the index after it."""
        s = self.s
        j = start + 2
        if j >= len(s):
            raise self.error(start, "invalid character class range", s[start:])
        if s[j] != "{":
            name, end = s[j], j + 1
        else:
            close = s.find("}", j)
            if close < 0:
                raise self.error(start, "invalid character class range", s[start:])
            name, end = s[j + 1 : close], close + 1
        name = name[1:] if name.startswith("^") else name
        known = name == "Any" or name in _CATEGORIES
        script = len(name) > 1 and name[0].isupper() and all(ch.isalpha() or ch == "_" for ch in name)
        if not (known or script):
            raise self.error(start, "invalid character class range", s[start:end])
        return end

    # -- character classes --------------------------------------------------------------

    def _class(self) -> None:
        s, start = self.s, self.i
        j = start + 1
        if j < len(s) and s[j] == "^":
            j += 1
        first = True
        while j >= len(s) or s[j] != "]" or first:
            if j >= len(s):
                raise self.error(start, "missing closing ]", s[start:])
            first = False
            if s.startswith("[:", j):
                close = s.find(":]", j + 2)
                if close >= 0:
                    name = s[j + 2 : close]
                    if name.removeprefix("^") not in _POSIX_CLASSES:
                        raise self.error(j, "invalid character class range", s[j : close + 2])
                    j = close + 2
                    continue
            if s.startswith(("\\p", "\\P"), j):
                j = self._unicode_class(j)
                continue
            if s[j] == "\\" and j + 1 < len(s) and s[j + 1] in _PERL_CLASSES:
                j += 2
                continue
            range_start = j
            low, j = self._class_char(j, start)
            if j + 1 < len(s) and s[j] == "-" and s[j + 1] != "]":
                high, j = self._class_char(j + 1, start)
                if high < low:
                    raise self.error(range_start, "invalid character class range", s[range_start:j])
        self.i = j + 1
        self._push(_Atom(nullable=False))

    def _class_char(self, j: int, class_start: int) -> tuple[int, int]:
        """One character of a class (an escape allowed) as (code point, index after it)."""
        s = self.s
        if j >= len(s):
            raise self.error(class_start, "missing closing ]", s[class_start:])
        if s[j] != "\\":
            return ord(s[j]), j + 1
        end = self._escape(j)
        return _escape_value(s[j:end]), end


def _parse_int(s: str, j: int) -> tuple[int | None, int]:
    """Go's ``parseInt``: digits without a leading zero; -1 for a number too big to matter."""
    if j >= len(s) or not s[j].isdigit() or not s[j].isascii():
        return None, j
    if s[j] == "0" and j + 1 < len(s) and s[j + 1].isdigit():
        return None, j
    k = j
    while k < len(s) and s[k].isascii() and s[k].isdigit():
        k += 1
    digits = s[j:k]
    return (int(digits) if len(digits) <= 8 else -1), k


def _is_hex(text: str) -> bool:
    return all(ch in "0123456789abcdefABCDEF" for ch in text)


def _escape_value(escape: str) -> int:
    """The code point of a valid single-character escape, for range order in classes."""
    body = escape[1:]
    simple = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
    if body[0] in simple:
        return simple[body[0]]
    if body[0] == "x":
        return int(body[1:].strip("{}"), 16)
    if body[0] in "01234567":
        return int(body, 8)
    return ord(body[0])


def _alternation_nullable(group: _Group) -> bool:
    return any(all(atom.nullable for atom in alternative) for alternative in group.alternatives)


def _alternation_weight(group: _Group) -> int:
    return max((atom.weight for alternative in group.alternatives for atom in alternative), default=1)
