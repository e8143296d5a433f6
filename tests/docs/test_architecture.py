"""docs/architecture.md names real modules, covers every package and draws the enforced layers."""

from __future__ import annotations

import importlib.util
import itertools
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()
PACKAGES = sorted(p.name for p in (ROOT / "alerter").iterdir() if (p / "__init__.py").exists())
TOP_MODULES = {*PACKAGES, "cli"}


def _code_spans() -> list[str]:
    return re.findall(r"`([^`\n]+)`", DOC)


def _resolves(dotted: str) -> bool:
    """A module, or an attribute of a module (``notify.pipeline.Pipeline.ingest``), under alerter."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = "alerter." + ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a parent is a module, not a package
            found = False
        if found:
            target: object = importlib.import_module(name)
            for attr in parts[cut:]:
                if not hasattr(target, attr):
                    return False
                target = getattr(target, attr)
            return True
    return False


def test_every_file_path_in_the_page_exists() -> None:
    paths = [s for s in _code_spans() if re.fullmatch(r"(alerter|tests|deploy|benchmarks)/[\w./-]+", s)]
    assert paths, "the page names no files"
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_dotted_module_name_in_the_page_resolves() -> None:
    spans = [s.split("(")[0] for s in _code_spans()]
    dotted = [s.removeprefix("alerter.") for s in spans if re.fullmatch(r"[a-z_]+(\.\w+)+", s)]
    dotted = [s for s in dotted if s.split(".")[0] in TOP_MODULES]
    assert len(dotted) > 20, "the page should name the modules it describes"
    broken = [s for s in dotted if not _resolves(s)]
    assert not broken, f"docs/architecture.md names modules or functions that do not exist: {broken}"


def test_the_package_table_covers_every_package() -> None:
    table = {m for row in DOC.splitlines() if row.startswith("| `") for m in re.findall(r"`(\w+)/`", row)}
    assert set(PACKAGES) <= table, f"packages missing from the table: {sorted(set(PACKAGES) - table)}"


def test_the_drawn_layers_are_the_enforced_ones() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    drawn = DOC.split("```")[1]
    rows = [line for line in drawn.splitlines() if "alerter." in line]
    positions = {name: i for i, line in enumerate(rows) for name in re.findall(r"alerter\.(\w+)", line)}
    order = [[name.strip().removeprefix("alerter.") for name in layer.split("|")] for layer in layers]
    assert {n for layer in order for n in layer} == set(positions), "the picture and the contract differ"
    for upper, lower in itertools.pairwise(order):
        assert max(positions[n] for n in upper) < min(positions[n] for n in lower), (upper, lower)
