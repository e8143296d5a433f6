"""The ``alerter`` command: parses arguments and hands over to the module that does the work.

Every subcommand returns an exit code; errors a user can fix are printed as one line each
(``file:line:col: field: message (hint)``), never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from alerter import __version__, backtest, ruletest
from alerter.config import RuleFile, check, load, templates, yamlfile
from alerter.config.rules import RecordingRule
from alerter.core.durations import format_duration
from alerter.core.errors import AlerterError, ConfigErrors
from alerter.service import admin
from alerter.sim import cli as sim_cli


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _check(args: argparse.Namespace) -> int:
    if args.config is None and not args.rule_files:
        print("alerter check: give --config FILE and/or rule files or directories", file=sys.stderr)
        return 2
    try:
        bundle = load(args.config, args.rule_files)
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        files = len({e.location.file for e in exc.errors})
        print(f"{len(exc.errors)} error(s) in {files} file(s)", file=sys.stderr)
        return 1
    if bundle.config is not None and bundle.config_path is not None:
        cfg = bundle.config
        for warning in check.warnings(yamlfile.read(bundle.config_path, what="config file"), cfg):
            print(
                f"{warning.location}: warning: {warning.path}: {warning.message} ({warning.hint})",
                file=sys.stderr,
            )
        counts = _count(len(cfg.receivers), "receiver"), _count(len(cfg.policies), "policy", "policies")
        print(
            f"{bundle.config_path}: OK ({', '.join(counts)}, {_count(len(cfg.maintenance), 'maintenance window')})"
        )
    for loaded in bundle.rule_files:
        print(
            f"{loaded.path}: OK ({_count(len(loaded.rules.groups), 'group')}, {_count(loaded.rule_count, 'rule')})"
        )
        if not args.quiet:
            for line in _rule_lines(loaded.rules):
                print(line)
    return 0


def _rule_lines(rules: RuleFile) -> list[str]:
    """One line per rule saying how alerter runs it: the kind decides what a user can expect."""
    lines: list[str] = []
    for group in rules.groups:
        lines.append(f"  group {group.name} (every {format_duration(group.interval)})")
        for rule in group.rules:
            if isinstance(rule, RecordingRule):
                lines.append(f"    {rule.record}: recording rule, evaluated by Prometheus, not by alerter")
                continue
            timing = f", for {format_duration(rule.for_)}" if rule.for_ else ""
            if rule.baseline is None:
                kind = "threshold rule (active while expr returns a series)"
            else:
                kind = f"baseline rule, detector {rule.baseline.get('detector', 'auto')}"
            texts = [*rule.annotations.values(), *rule.labels.values()]
            dialect = templates.dialect(texts) if any("{{" in t for t in texts) else ""
            shown = {"go": ", Go templates", "jinja": ", Jinja2 templates"}.get(dialect, "")
            lines.append(f"    {rule.alert}: {kind}{timing}{shown}")
    return lines


def _run(args: argparse.Namespace) -> int:
    from alerter.service import app

    try:
        return app.run(args.config)
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="alerter", description="Anomaly-detection alerting for LLM inference services."
    )
    root.add_argument("--version", action="version", version=f"alerter {__version__}")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser(
        "check",
        help="validate the config and rule files without side effects",
        description="Validate alerter.yaml and rule files; report every error as file:line:col.",
    )
    check.add_argument("--config", "-c", help="alerter.yaml (its rule_files are checked too)")
    check.add_argument("rule_files", nargs="*", help="rule files, directories of them, or globs")
    check.add_argument(
        "--quiet", "-q", action="store_true", help="one line per file, without the list of rules"
    )
    check.set_defaults(func=_check)

    run = sub.add_parser(
        "run",
        help="run the engine",
        description="Evaluate the rules on their schedules; SIGHUP reloads the config.",
    )
    run.add_argument("--config", "-c", required=True, help="alerter.yaml")
    run.set_defaults(func=_run)

    ruletest.register(sub)
    backtest.register(sub)
    admin.register(sub)
    sim_cli.register(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except AlerterError as exc:
        print(f"alerter {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
