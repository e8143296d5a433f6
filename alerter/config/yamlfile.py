"""Reading YAML files while remembering where every key and value came from.

Validation happens on plain Python data, but errors must point at ``file:line:col``. Two readers:

- the fast one builds the plain data from the events of libyaml's C parser (ruamel.yaml.clib,
  which ruamel.yaml installs with itself), about ten times faster than the position-keeping
  reader on a large rule test file. It takes only plain YAML: mappings, lists and untagged
  scalars, at most ``MAX_FAST_DEPTH`` deep and ``MAX_EXPANDED_NODES`` in all, without a tab.
  On anything else (a tag, an anchor or alias, a merge key ``<<``, a duplicate or complex key, a
  directive, a second document, text the two scanners read differently, any complaint of
  libyaml) it gives up and the position-keeping reader decides, so every error,
  limit and warning is the position-keeping reader's, at its position;
- the position-keeping one, ruamel's pure-Python round-trip loader, keeps positions on its
  containers. A document read by the fast reader runs it only when a position is asked for
  (``Document.tree``, ``Document.location``: an error or a warning to report).

Both resolve scalars with YAML 1.2's core schema (ruamel's resolver and its constructors), so a
file reads the same either way. Anything that is not a readable YAML mapping becomes a
ConfigError here, so nothing further down meets bytes, tracebacks or half-parsed documents.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.scalarbool import ScalarBoolean

from alerter.core.errors import ConfigError, Location

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Config and rule files above this are refused: a 4 MiB rule file is a mistake (a log, a
binary, a generated dump), and parsing one would stall every reload."""

MAX_EXPANDED_NODES = 200_000
"""Values a file may hold once its aliases are expanded. YAML anchors reused inside other reused
anchors multiply ("billion laughs"): 318 bytes can stand for billions of values, which every
later step would walk. A large real rule file holds a few tens of thousands."""

MAX_LINE_CHARS = 65_536
"""Characters one line may hold. The YAML scanner's time grows with the square of a comment
line's length (a 900 KB comment line takes 11 s to check), and no hand-written line, not even a
long annotation, comes near this; longer text goes in a block scalar (``|``) over several lines."""

STANDARD_TAG = "tag:yaml.org,2002:"
PLAIN_TAGS = frozenset({"str", "int", "float", "bool", "null", "seq", "map", "timestamp"})
"""The YAML core tags a configuration may spell out; any other (``!!python/...``, ``!custom``)
names a type that has no meaning here and is refused where it stands."""


def _c_parser() -> Any:
    try:
        from ruamel.yaml import cyaml
    except ImportError:  # no ruamel.yaml.clib on this platform: every file takes the slow reader
        return None
    return cyaml.CParser  # type: ignore[attr-defined]


CPARSER = _c_parser()
"""libyaml's parser (ruamel.yaml.clib), or None where it is not installed."""

MAX_FAST_DEPTH = 100
"""Nesting the fast reader takes; deeper documents go to the position-keeping reader. Real files
nest a dozen levels; libyaml's scanner slows with the square of the nesting (a million ``[``
take minutes) and its C composer would overflow the stack, so the fast reader never goes deep."""

Loc = Sequence[int | str]


@dataclass(frozen=True)
class Document:
    """A parsed YAML file: ``data`` is plain Python, ``tree`` keeps ruamel's positions.

    ``tree`` is built from ``text`` the first time it is asked for, when the fast reader read
    the file: only a file with something to report pays for the position-keeping reader.
    """

    path: str
    data: Any
    text: str = field(default="", repr=False, compare=False)
    _tree: Any = field(default=None, repr=False, compare=False)

    @property
    def tree(self) -> Any:
        """ruamel's round-trip tree of ``text``, with a position on every container."""
        if self._tree is None:
            try:
                tree = _positioned(self.text, self.path, what="YAML file")
            except ConfigError:
                # The fast reader took what the position-keeping one refuses (the two scanners
                # differ on some odd input): positions fall back to the top of the file.
                tree = CommentedMap()
            object.__setattr__(self, "_tree", tree)
        return self._tree

    def location(self, loc: Loc, *, at_key: bool = False) -> Location:
        """Position of the value at ``loc`` (or of its key with ``at_key``), else its nearest parent."""
        node = self.tree
        line, col = _start(node)
        for index, part in enumerate(loc):
            last = index == len(loc) - 1
            if isinstance(node, CommentedMap) and part in node:
                key_line, key_col = node.lc.key(part)
                val_line, val_col = node.lc.value(part)
                node = node[part]
                # A problem with a whole mapping or list is shown on its key's line.
                on_key = last and (at_key or isinstance(node, CommentedMap | CommentedSeq))
                line, col = (key_line, key_col) if on_key else (val_line, val_col)
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, col = node.lc.item(part) or (line, col)
                node = node[part]
            else:
                break
            if isinstance(node, CommentedMap | CommentedSeq) and not last:
                line, col = _start(node, default=(line, col))
        return Location(self.path, line + 1, col + 1)


def _start(node: Any, default: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return default
    return int(lc.line), int(lc.col)


def _plain(node: Any) -> Any:
    """ruamel's round-trip types converted to plain dict/list/str/int/float/bool/None."""
    if isinstance(node, dict):
        return {_plain(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, ScalarBoolean):  # an anchored true/false: an int subclass in ruamel
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, TaggedScalar):  # ``!!str 5``: the tag was checked, the text is the value
        return str(node.value)
    if isinstance(node, datetime.datetime) and type(node) is not datetime.datetime:  # ruamel's TimeStamp
        return datetime.datetime(
            node.year,
            node.month,
            node.day,
            node.hour,
            node.minute,
            node.second,
            node.microsecond,
            node.tzinfo,
        )
    return node


def read(path: str | Path, *, what: str) -> Document:
    """Load ``path`` as a YAML mapping; raise ConfigError (with position) for anything else.

    ``what`` names the kind of file for messages ("rule file", "config file").
    """
    name = str(path)
    where = Location(name)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                where,
                "",
                f"{what} is {size / 1e6:.1f} MB, above the {MAX_FILE_BYTES // (1024 * 1024)} MiB limit",
                "is this the right file? split very large rule sets into several files",
            )
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(where, "", f"{what} not found", "check the path") from None
    except IsADirectoryError:
        raise ConfigError(where, "", f"{what} is a directory", "name a .yaml file") from None
    except OSError as exc:
        raise ConfigError(where, "", f"cannot read {what}: {exc.strerror}") from None
    return parse(raw, name, what=what)


def parse(raw: bytes, name: str, *, what: str) -> Document:
    """Parse bytes already read from ``name``; see ``read``."""
    where = Location(name)
    if b"\x00" in raw:
        raise ConfigError(where, "", f"{what} is binary, not YAML text", "point at a .yaml file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            Location(name, line, 1), "", f"{what} is not valid UTF-8 text", "save the file as UTF-8"
        ) from None
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        hint = "a rule file starts with `groups:`" if what == "rule file" else "see alerter.yaml in deploy/"
        raise ConfigError(where, "", f"{what} is empty", hint)
    _bound_lines(text, name, what=what)
    data = _fast(text)
    if data is not None:
        return Document(name, data, text)
    tree = _positioned(text, name, what=what)
    return Document(name, _plain(tree), text, tree)


def _positioned(text: str, name: str, *, what: str) -> Any:
    """``text`` through the position-keeping reader: the tree, or the ConfigError at its place."""
    where = Location(name)
    loader = YAML(typ="rt", pure=True)
    try:
        tree = loader.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(name, mark.line + 1, mark.column + 1) if mark else where
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ConfigError(loc, "", f"YAML syntax error: {message}", "check indentation and quoting") from None
    except YAMLError as exc:
        raise ConfigError(where, "", f"YAML syntax error: {exc}") from None
    except RecursionError:
        raise ConfigError(where, "", "YAML nesting is too deep") from None
    except ValueError as exc:  # a scalar the resolver took for a number that is none (``._``)
        raise ConfigError(
            where, "", f"YAML value cannot be read: {exc}", "quote the value to make it a string"
        ) from None
    except TypeError as exc:  # a mapping or list used as a key (``{a: 1}: x``)
        raise ConfigError(
            where, "", f"YAML key cannot be read: {exc}", "mapping keys are plain strings or numbers"
        ) from None
    if not isinstance(tree, CommentedMap):
        kind = {CommentedSeq: "a list", type(None): "nothing"}.get(type(tree), f"a {type(tree).__name__}")
        line, col = _start(tree)
        raise ConfigError(
            Location(name, line + 1, col + 1),
            "",
            f"{what} must be a mapping at the top level, got {kind}",
            "a rule file starts with `groups:`" if what == "rule file" else "start with `prometheus:`",
        )
    _bound_expansion(tree, name)
    return tree


_SCANNERS_DIFFER = re.compile("[\t\x85\u2028\u2029]|[|>][0-9+-]*#|(?!^)\ufeff")
"""Text the two scanners read differently, left to the position-keeping reader: ruamel refuses
a tab inside a plain scalar (``a: x<TAB>y``) and a comment stuck to a block scalar's indicator
(``a: |# c``), libyaml takes both; ruamel ends a line at NEL and the Unicode line and paragraph
separators (YAML 1.1's line breaks), libyaml does not; libyaml skips a byte-order mark past the
start of the text, ruamel reads it as a character."""


class _Unsure(Exception):
    """The fast reader met something it leaves to the position-keeping reader."""


_FAST_SCALARS = frozenset({"int", "float", "bool", "null", "timestamp"})
"""Resolved tags of plain scalars the fast reader builds (besides ``str``); ``<<`` (merge),
``=`` (value) and the rest go to the position-keeping reader."""


class _Frame:
    """A mapping or list being built: its container, its key awaiting a value, its size so far."""

    __slots__ = ("container", "is_map", "key", "size")

    def __init__(self, container: dict[Any, Any] | list[Any]) -> None:
        self.container: Any = container
        self.is_map = isinstance(container, dict)
        self.key: Any = _NO_KEY
        self.size = 1


_NO_KEY = object()


class _Scalars:
    """Plain scalars resolved and built as the position-keeping reader does (YAML 1.2 core
    schema, ruamel's resolver and safe constructors), each distinct text once per document."""

    def __init__(self) -> None:
        yaml = YAML(typ="safe", pure=True)
        self._resolver = yaml.resolver
        self._constructor = yaml.constructor
        self._known: dict[str, Any] = {}

    def plain(self, text: str) -> Any:
        try:
            return self._known[text]
        except KeyError:
            pass
        tag = str(self._resolver.resolve(ScalarNode, text, (True, False)))
        kind = tag.removeprefix(STANDARD_TAG)
        if kind == "str":
            value: Any = text
        elif kind in _FAST_SCALARS and tag.startswith(STANDARD_TAG):
            node = ScalarNode(tag, text, None, None)
            value = self._constructor.yaml_constructors[tag](self._constructor, node)
        else:
            raise _Unsure(tag)
        self._known[text] = value
        return value


def _fast(text: str) -> dict[Any, Any] | None:
    """The plain data of ``text`` from libyaml's events, or None: the position-keeping reader
    decides (see the module docstring for what the fast reader takes)."""
    if CPARSER is None or _SCANNERS_DIFFER.search(text):
        return None
    parser = CPARSER(text)
    try:
        return _compose(parser)
    except Exception:  # any complaint of libyaml, or _Unsure: the position-keeping reader decides
        return None
    finally:
        parser.dispose()


def _compose(parser: Any) -> dict[Any, Any] | None:
    """Build one document from ``parser``'s events without recursion; see ``_fast``."""
    if type(parser.get_event()) is not StreamStartEvent:
        raise _Unsure("stream")
    start = parser.get_event()
    if type(start) is not DocumentStartEvent or start.version is not None or start.tags:
        raise _Unsure("directive or empty stream")
    scalars = _Scalars()
    stack: list[_Frame] = []
    root: Any = _NO_KEY
    while True:
        event = parser.get_event()
        kind = type(event)
        if kind is ScalarEvent:
            if event.ctag is not None or event.anchor is not None:
                raise _Unsure("tag or anchor")
            item: Any = scalars.plain(event.value) if event.implicit[0] else event.value
            size = 1
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.ctag is not None or event.anchor is not None or len(stack) >= MAX_FAST_DEPTH:
                raise _Unsure("tag, anchor or depth")
            stack.append(_Frame({} if kind is MappingStartEvent else []))
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            frame = stack.pop()
            if frame.size > MAX_EXPANDED_NODES:
                raise _Unsure("size")
            item, size = frame.container, frame.size
        else:  # an alias, or something unexpected
            raise _Unsure(kind.__name__)
        if not stack:
            root = item
            break
        top = stack[-1]
        top.size += size
        if not top.is_map:
            top.container.append(item)
        elif top.key is _NO_KEY:
            if type(item) is dict or type(item) is list or item in top.container:
                raise _Unsure("complex or duplicate key")
            top.key = item
        else:
            top.container[top.key] = item
            top.key = _NO_KEY
    if type(parser.get_event()) is not DocumentEndEvent or type(parser.get_event()) is not StreamEndEvent:
        raise _Unsure("more than one document")
    if type(root) is not dict or size > MAX_EXPANDED_NODES:
        raise _Unsure("not a mapping")
    return root


def _bound_lines(text: str, name: str, *, what: str) -> None:
    """Refuse a line longer than MAX_LINE_CHARS, before the scanner spends seconds on it."""
    if len(text) <= MAX_LINE_CHARS:
        return
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line) > MAX_LINE_CHARS:
            kind = "comment line" if line.lstrip().startswith("#") else "line"
            raise ConfigError(
                Location(name, number, MAX_LINE_CHARS + 1),
                "",
                f"{kind} {number} of the {what} is {len(line):,} characters long, above the "
                f"{MAX_LINE_CHARS:,} limit",
                "is this the right file? write long text over several lines in a block scalar (`|`)",
            )


def _position(node: Any, part: int | str, default: tuple[int, int]) -> tuple[int, int]:
    """Where the child ``part`` of a ruamel container starts (``default`` when unknown)."""
    lc = getattr(node, "lc", None)
    try:
        found = (lc.value(part) if isinstance(part, str) else lc.item(part)) if lc is not None else None
    except (KeyError, IndexError, TypeError):
        found = None
    return (int(found[0]), int(found[1])) if found else default


def _bound_expansion(tree: Any, name: str) -> None:
    """Refuse a document with a non-core tag, or whose aliases expand beyond MAX_EXPANDED_NODES.

    ruamel shares one object among an anchor and its aliases, so sizes are counted once per
    object (memoised by identity): linear in the file, however much the aliases multiply.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def located(node: Any, at: tuple[int, int] = (0, 0)) -> Location:
        line, col = _start(node, default=at)
        return Location(name, line + 1, col + 1)

    def size(node: Any, at: tuple[int, int] = (0, 0)) -> int:
        tag = getattr(getattr(node, "tag", None), "value", None)
        if tag is not None and tag.removeprefix(STANDARD_TAG) not in PLAIN_TAGS:
            shown = "!!" + tag.removeprefix(STANDARD_TAG) if tag.startswith(STANDARD_TAG) else tag
            raise ConfigError(
                located(node, at),
                "",
                f"unsupported YAML tag {shown}",
                "remove the tag: configuration values are plain strings, numbers, lists and mappings",
            )
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ConfigError(
                located(node),
                "",
                "a YAML alias refers to the value that contains it",
                "an alias (*name) must not point at one of its own parents",
            )
        open_.add(key)
        total = 1
        if isinstance(node, dict):
            for k, v in node.items():
                total += size(k) + size(v, _position(node, k, at))
        else:
            for i, v in enumerate(node):
                total += size(v, _position(node, i, at))
        open_.discard(key)
        sizes[key] = total
        if total > MAX_EXPANDED_NODES:
            raise ConfigError(
                located(node),
                "",
                f"YAML aliases expand this value to more than {MAX_EXPANDED_NODES:,} values",
                "anchors reused inside other reused anchors multiply; write the values out instead",
            )
        return total

    try:
        size(tree)
    except RecursionError:
        raise ConfigError(Location(name), "", "YAML nesting is too deep") from None
