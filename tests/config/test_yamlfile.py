"""The fast reader reads every file as the position-keeping reader does, or leaves it to it.

``yamlfile`` builds plain data from libyaml's events and keeps ruamel's pure-Python round-trip
loader for positions and for everything the fast reader does not take. These tests read the same
text both ways (the slow way by setting ``CPARSER`` to None, as on a platform without
ruamel.yaml.clib) and require the same data, or the same error at the same place.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from alerter.config import yamlfile
from alerter.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _same(a: Any, b: Any) -> bool:
    """Equal data, NaN equal to NaN, and of the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _read(raw: bytes, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """("data", data) or ("error", the error's text), read the fast or the slow way."""
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(yamlfile, "CPARSER", None)
        try:
            return "data", yamlfile.parse(raw, "f.yaml", what="rule file").data
        except ConfigError as exc:
            return "error", str(exc)


def _both(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[str, Any], tuple[str, Any]]:
    return _read(raw, fast=True, monkeypatch=monkeypatch), _read(raw, fast=False, monkeypatch=monkeypatch)


def test_the_c_parser_is_there() -> None:
    """ruamel.yaml installs ruamel.yaml.clib on CPython: without it every file takes the slow way."""
    assert yamlfile.CPARSER is not None


SHIPPED = sorted(
    p
    for pattern in ("*.yaml", "*.yml")
    for p in REPO.glob(f"**/{pattern}")
    if ".venv" not in p.parts and "node_modules" not in p.parts and ".git" not in p.parts
)


def test_there_are_shipped_files_to_compare() -> None:
    assert len(SHIPPED) > 50


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_yaml_file_reads_the_same_both_ways(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = _both(path.read_bytes(), monkeypatch)
    assert fast[0] == slow[0]
    assert _same(fast[1], slow[1]) if fast[0] == "data" else fast[1] == slow[1]


SCALARS = [
    "plain",
    "'single ''quoted'''",
    '"double \\"quoted\\" \\t \\u00e9 \\x41 \\/"',
    "caf\u00e9 \u2713",
    "0",
    "-0",
    "+5",
    "017",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "12:30",
    "1:30:00",
    "0.",
    ".5",
    "1.5e-3",
    "6.8523015e+5",
    "1e3",
    "-.inf",
    ".Inf",
    ".NAN",
    "1_000.5",
    "true",
    "False",
    "TRUE",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10",
    "2020-01-01T00:00:00Z",
    "2002-12-14T10:00:00+01:00",
    "5m",
    "1h30m",
    "rate(x[5m]) > 0.5",
    'up{job="a"} == 0',
    "a: b",
    "#not a comment?",
    "x #comment",
    "@foo",
    "`x",
    "%x",
    "=",
    "<<",
    "!foo bar",
    "&a 1",
    "*",
    "- x",
    "? x",
    "|",
    ">",
    "'",
    '"',
    "{a: 1}",
    "[1, 2]",
    "{",
    "]",
    "a\tb",
    "0.1.2",
    "1e",
    "0x",
    "._",
    "+.inf",
    "NaN",
    "inf",
    "0o8",
    "08",
    "09.5",
]


@pytest.mark.parametrize("scalar", SCALARS)
def test_scalars_read_the_same_both_ways(scalar: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for text in (f"k: {scalar}\n", f"k: [{scalar}]\n", f"{scalar}: v\n", f"k:\n  - {scalar}\n"):
        fast, slow = _both(text.encode(), monkeypatch)
        assert fast[0] == slow[0], text
        assert _same(fast[1], slow[1]) if fast[0] == "data" else fast[1] == slow[1], text


DOCUMENTS = {
    "block-styles": "a: |\n  one\n  two\n\nb: >-\n  folded\n  text\n\n  para\nc: |+\n  keep\n\n",
    "flow": "a: {b: [1, {c: d}], e: 'f'}\n",
    "nested": "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        labels: {s: x}\n",
    "anchors": "base: &b {x: 1, y: [1, 2]}\nuse: *b\nlist: [*b, *b]\nscalar: &s text\nagain: *s\n",
    "anchored-bool": "a: &t true\nb: *t\nc: &i 7\nd: *i\ne: &f 1.5\n",
    "merge": "base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n",
    "tags-core": "a: !!str 5\nb: !!int '7'\nc: !!float 1\nd: !!bool 'true'\n",
    "tags-other": "a: !!binary aGVsbG8=\nb: !!set {x, y}\nc: !!omap [a: 1]\n",
    "tag-python": "a: !!python/object:os.system ls\n",
    "tag-custom": "a: !custom {b: 1}\n",
    "duplicate": "a: 1\nb: 2\na: 3\n",
    "duplicate-nested": "x:\n  a: 1\n  a: 2\n",
    "complex-key": "? [a, b]\n: c\n",
    "two-documents": "a: 1\n---\nb: 2\n",
    "explicit-document": "---\na: 1\n...\n",
    "directive-1.1": "%YAML 1.1\n---\na: yes\nb: 017\nc: 1:30\n",
    "directive-tag": "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n",
    "list-top": "- a\n- b\n",
    "scalar-top": "just text\n",
    "null-top": "~\n",
    "comments": "# head\na: 1 # tail\n# between\nb: [1, # in flow\n  2]\n",
    "crlf": "a: 1\r\nb:\r\n  - x\r\n",
    "bom": "\ufeffa: 1\n",
    "tab-value": "a: 'x\ty'\nb: x\ty\n",
    "tab-indent": "a:\n\t- x\n",
    "bad-indent": "a:\n  b: 1\n c: 2\n",
    "unclosed-flow": "a: [1, 2\n",
    "unclosed-quote": "a: 'x\n",
    "undefined-alias": "a: *nope\n",
    "recursive-alias": "a: &x [1, *x]\n",
    "anchor-twice": "a: &x 1\nb: &x 2\nc: *x\n",
    "empty-values": "a:\nb: ~\nc: ''\nd: []\ne: {}\n",
    "null-key": "? \n: v\n",
    "int-float-keys": "1: a\n1.5: b\ntrue: c\n2001-01-01: d\n",
    "key-1-and-true": "1: a\ntrue: b\n",
    "long-key": "k" * 2000 + ": v\n",
    "unicode-line-separator": "a: x\u2028y\nb: z\u0085w\n",
    "multi-line-plain": "a: one\n  two\n  three\nb: 'q one\n  q two'\n",
    "indentless-sequence": "a:\n- 1\n- 2\nb: 3\n",
    "compact-nested": "a:\n  - - - x\n    - y\n  - k: v\n    l: w\n",
    "value-indicator": "a: =\n",
    "block-indicator-comment": "a: |# c\n  x\nb: >-#\n  y\n",
    "anchor-with-colon": "trigger:\n  &indow: 10m\n",
    "anchor-at-top": "&groups:\n  - name: g\n",
    "mapping-as-key": "{a: 1}: x\n",
    "bom-inside": "a: 1\n\ufeffb: 2\nc: x\ufeffy\n",
    "line-separators-in-comments": "# a\x85b: 1\nc: 2 # d\u2028e: 3\nf:\n  g\u2029h: 4\n",
    "flow-plain-colon": "a: [http://x:80/y, b:c]\n",
}


@pytest.mark.parametrize("text", list(DOCUMENTS.values()), ids=list(DOCUMENTS))
def test_documents_read_the_same_both_ways(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both(text.encode(), monkeypatch)
    assert fast[0] == slow[0]
    assert _same(fast[1], slow[1]) if fast[0] == "data" else fast[1] == slow[1]


def test_a_billion_laughs_is_refused_at_its_place_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    fast, slow = _both(("\n".join(lines) + "\n").encode(), monkeypatch)
    assert fast == slow
    assert fast[0] == "error" and "more than 200,000 values" in fast[1]


def test_deep_nesting_is_refused_quickly_and_never_reaches_the_c_composer() -> None:
    """libyaml's scanner slows with the square of the nesting and its composer recurses in C:
    a million ``[`` would take minutes or crash. The fast reader stops at MAX_FAST_DEPTH."""
    script = (
        "from alerter.config import yamlfile\n"
        "from alerter.core.errors import ConfigError\n"
        "try:\n"
        "    yamlfile.parse(b'a:\\n' + b'[\\n' * 1_000_000, 'f.yaml', what='rule file')\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "f.yaml" in done.stdout and "YAML" in done.stdout
    assert time.perf_counter() - started < 60


def test_depth_within_the_limit_reads_fast_and_beyond_it_the_same_slow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for depth in (yamlfile.MAX_FAST_DEPTH - 1, yamlfile.MAX_FAST_DEPTH + 5):
        text = "a: " + "[" * depth + "1" + "]" * depth + "\n"
        fast, slow = _both(text.encode(), monkeypatch)
        assert fast == slow and fast[0] == "data"


PLAIN = b"""\
groups:
  - name: serving
    rules:
      - alert: HighLatency
        expr: histogram_quantile(0.99, rate(x[5m])) > 2
        for: 5m
        labels: {severity: page}
        annotations:
          summary: |
            p99 above 2 s
"""


def test_a_plain_file_is_read_without_the_position_keeping_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = yamlfile._positioned

    def counted(text: str, name: str, *, what: str) -> Any:
        calls.append(name)
        return real(text, name, what=what)

    monkeypatch.setattr(yamlfile, "_positioned", counted)
    doc = yamlfile.parse(PLAIN, "rules.yaml", what="rule file")
    assert doc.data["groups"][0]["rules"][0]["labels"] == {"severity": "page"}
    assert calls == []
    # A position, asked for, parses the text once with the position-keeping reader.
    assert str(doc.location(("groups", 0, "rules", 0, "for"))) == "rules.yaml:6:14"
    assert str(doc.location(("groups", 0, "rules", 0, "labels"))) == "rules.yaml:7:9"
    assert calls == ["rules.yaml"]
    doc.location(("groups", 0, "name"))
    assert calls == ["rules.yaml"]


def test_positions_of_a_fast_read_are_those_of_a_slow_read(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = yamlfile.parse(PLAIN, "r.yaml", what="rule file")
    monkeypatch.setattr(yamlfile, "CPARSER", None)
    slow = yamlfile.parse(PLAIN, "r.yaml", what="rule file")
    for loc in [(), ("groups",), ("groups", 0), ("groups", 0, "rules", 0, "expr"), ("groups", 0, "nope")]:
        for at_key in (False, True):
            assert fast.location(loc, at_key=at_key) == slow.location(loc, at_key=at_key)
    assert fast.tree == slow.tree
