"""Loading ``alerter.yaml`` and rule files into validated, frozen models.

``load`` reads everything first and reports every problem of every file together (as
ConfigErrors); only a fully valid set is returned. That is what lets a hot reload keep the old
configuration running when a new file is broken, and ``alerter check`` list all mistakes at once.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from alerter.config import check
from alerter.config.engine import AppConfig
from alerter.config.promql import FLAVORS, Flavor
from alerter.config.rules import RuleFile
from alerter.config.validate import errors_from
from alerter.config.yamlfile import Document, read
from alerter.core.errors import ConfigError, ConfigErrors, Location

RULE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedRules:
    """One valid rule file and where it came from."""

    path: str
    rules: RuleFile

    @property
    def rule_count(self) -> int:
        return sum(len(g.rules) for g in self.rules.groups)


@dataclass(frozen=True)
class Bundle:
    """A complete, valid configuration: the engine config (if any) and every rule file."""

    config: AppConfig | None
    config_path: str | None
    rule_files: list[LoadedRules] = field(default_factory=list)


def expand(patterns: Sequence[str], base: Path | None = None) -> tuple[list[Path], list[ConfigError]]:
    """Rule paths from files, directories (their *.yaml / *.yml) and globs, relative to ``base``.

    A pattern that matches nothing is an error: a typo in ``rule_files`` would otherwise silently
    disable every rule it was meant to load.
    """
    paths: list[Path] = []
    errors: list[ConfigError] = []
    for pattern in patterns:
        full = Path(pattern) if base is None or Path(pattern).is_absolute() else base / pattern
        if full.is_dir():
            found = sorted(p for p in full.iterdir() if p.suffix in RULE_SUFFIXES and p.is_file())
        elif glob.has_magic(str(full)):
            found = sorted(Path(p) for p in glob.glob(str(full)) if Path(p).is_file())
        else:
            found = [full]
        if not found:
            errors.append(
                ConfigError(Location(str(full)), "", "no rule files match", "check the path or glob")
            )
        paths += found
    return _unique(paths), errors


def _unique(paths: list[Path]) -> list[Path]:
    """Paths without repeats (the same file reached twice, e.g. by a glob and by name)."""
    seen: set[Path] = set()
    out: list[Path] = []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(Path(os.path.normpath(path)))
    return out


def _validate_rules(
    doc: Document, policies: set[str] | None, flavor: Flavor = "prometheus"
) -> tuple[RuleFile | None, list[ConfigError]]:
    problems = check.rule_file(doc, policies, flavor)
    try:
        return RuleFile.model_validate(doc.data), problems
    except ValidationError as exc:
        return None, errors_from(exc, doc, RuleFile) + problems


def _validate_config(doc: Document) -> tuple[AppConfig | None, list[ConfigError]]:
    problems = check.config(doc)
    try:
        return AppConfig.model_validate(doc.data), problems
    except ValidationError as exc:
        return None, errors_from(exc, doc, AppConfig) + problems


def _rule_patterns(doc: Document) -> list[tuple[int, str]]:
    """``rule_files`` as written, with their indexes: read from the raw data so that the rule
    files are checked even when the rest of ``alerter.yaml`` is not valid."""
    raw = doc.data.get("rule_files")
    return [(i, p) for i, p in enumerate(raw) if isinstance(p, str)] if isinstance(raw, list) else []


def _flavor(doc: Document | None) -> Flavor:
    """``prometheus.flavor`` from the raw data; Prometheus when it is missing or not valid."""
    section = doc.data.get("prometheus") if doc is not None else None
    given = section.get("flavor") if isinstance(section, dict) else None
    return next((f for f in FLAVORS if f == given), "prometheus")


def _distinct(errors: list[ConfigError]) -> list[ConfigError]:
    """``errors`` without repeats: one problem found twice (the same file reached by two
    patterns, a schema and a semantic check agreeing) is reported once."""
    seen: set[tuple[str, int, int, str, str]] = set()
    out: list[ConfigError] = []
    for error in errors:
        key = (error.location.file, error.location.line, error.location.column, error.path, error.message)
        if key not in seen:
            seen.add(key)
            out.append(error)
    return out


def load(config_path: str | Path | None, rule_paths: Sequence[str | Path] = ()) -> Bundle:
    """Load the config (whose ``rule_files`` are added to ``rule_paths``) and all rule files.

    Raises ConfigErrors with every problem found in any file. A config that fails validation
    stops nothing that can still be checked: its ``rule_files`` are read from the raw YAML, its
    routes are checked against the receivers it names, and the rules' ``remediate:`` references
    against the policies it names, so one run lists every mistake. Only a set without any
    problem is returned (a hot reload keeps the running configuration otherwise).
    """
    errors: list[ConfigError] = []
    cfg: AppConfig | None = None
    config_doc: Document | None = None
    patterns = [str(p) for p in rule_paths]
    paths, missing = expand(patterns)
    errors += missing
    if config_path is not None:
        try:
            config_doc = read(config_path, what="config file")
        except ConfigError as exc:
            errors.append(exc)
    if config_doc is not None:
        cfg, found = _validate_config(config_doc)
        errors += found
        for index, pattern in _rule_patterns(config_doc):
            more, missing = expand([pattern], Path(config_doc.path).parent)
            if missing:
                errors.append(
                    ConfigError(
                        config_doc.location(("rule_files", index)),
                        f"rule_files[{index}]",
                        f"no rule files match `{pattern}`",
                        "paths are relative to the config file",
                    )
                )
            paths = _unique(paths + more)
    # Without a config there is nothing to resolve policy names against; with one that cannot
    # be read as a whole, the names it does give still catch a misspelt reference.
    policies = check.policy_names(config_doc) if config_doc is not None else None
    flavor = cfg.prometheus.flavor if cfg is not None else _flavor(config_doc)
    loaded: list[LoadedRules] = []
    for path in paths:
        try:
            doc = read(path, what="rule file")
        except ConfigError as exc:
            errors.append(exc)
            continue
        rules, found = _validate_rules(doc, policies, flavor)
        errors += found
        # A group name may repeat across files: Prometheus scopes groups to their file (the
        # engine schedules such groups as ``<file>;<name>``, see ``engine.group_names``).
        if rules is not None and not found:
            loaded.append(LoadedRules(str(path), rules))
    if errors:
        raise ConfigErrors(_distinct(errors))
    return Bundle(cfg, str(config_path) if config_path is not None else None, loaded)
