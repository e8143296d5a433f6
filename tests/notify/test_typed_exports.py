"""alerter.notify resolves its names lazily at run time, yet a type checker sees each one's real type."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mypy import api as mypy_api

import alerter.notify as notify

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "alerter" / "notify" / "__init__.py"


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, alerter.notify as n; dir(n); "
        "print('slack_sdk' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_every_exported_name_resolves_to_the_object_of_its_module() -> None:
    assert sorted(notify._EXPORTS) == notify.__all__
    for name, module in notify._EXPORTS.items():
        assert getattr(notify, name) is getattr(importlib.import_module(f"alerter.notify.{module}"), name)


def test_type_checkers_import_exactly_the_exported_names() -> None:
    """The ``if TYPE_CHECKING:`` imports and ``_EXPORTS`` must not drift apart."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    imported = {
        alias.name: node.module.removeprefix("alerter.notify.")
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names
    }
    assert imported == notify._EXPORTS


def test_mypy_sees_real_types(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong call is a type error, an unknown name is an error, and no exported name is Any."""
    lines = [
        "import alerter.notify as notify",
        "from alerter.notify import RenderContext",
        "RenderContext(bogus_argument=1)",
        "notify.Nope",
        *(f"reveal_type(notify.{name})" for name in notify.__all__),
    ]
    # A fixed place for the snippet and mypy's cache keeps reruns under a second (cold: ~10 s);
    # mypy's cache is keyed by module, so the snippet must not move between runs.
    work = request.config.cache.mkdir("mypy-notify") if request.config.cache else tmp_path
    snippet = work / "notify_snippet.py"
    snippet.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(ROOT)  # where mypy finds the alerter package, as when run from the shell
    out, err, _ = mypy_api.run(
        [
            "--config-file",
            "pyproject.toml",
            "--no-error-summary",
            "--cache-dir",
            str(work / "cache"),
            str(snippet),
        ]
    )
    assert not err
    messages = []
    for line in out.splitlines():  # "path:line: error: ...", the path relative to the working directory
        where, _, text = line.partition(": ")
        if Path(where.split(":")[0]).name == snippet.name:
            messages.append(text)
    errors = [m for m in messages if m.startswith("error:")]
    assert len(errors) == 2, out
    assert 'Unexpected keyword argument "bogus_argument" for "RenderContext"' in errors[0]
    assert 'Module has no attribute "Nope"' in errors[1]
    revealed = [re.search(r'Revealed type is "(.*)"', m) for m in messages if "Revealed type" in m]
    assert len(revealed) == len(notify.__all__), out
    assert all(r is not None and r.group(1) != "Any" for r in revealed), out
