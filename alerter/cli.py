"""The ``alerter`` command: parses arguments and hands over to the module that does the work.

Every subcommand returns an exit code; errors a user can fix are printed as one line each
(``file:line:col: field: message (hint)``), never as a traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence

from alerter import __version__, backtest, ruletest
from alerter.config import RuleFile, check, load, templates, yamlfile
from alerter.config.load import Bundle
from alerter.config.rules import RecordingRule
from alerter.core.durations import format_duration, parse_duration
from alerter.core.errors import AlerterError, ConfigErrors, SourceError
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
        doc = yamlfile.read(bundle.config_path, what="config file")
        # Rule files given on the command line count as users of a policy too; without them,
        # the warning reads the config's own rule_files and says so.
        checked = [loaded.rules for loaded in bundle.rule_files] if args.rule_files else None
        for warning in check.warnings(doc, cfg, rules=checked):
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
    if args.prometheus is not None:
        return _check_live(args, bundle)
    return 0


def _check_live(args: argparse.Namespace, bundle: Bundle) -> int:
    """``--prometheus``: findings about the server's data are warnings (it may simply be a quiet
    day for an error counter), errors only with ``--strict``; a server that cannot answer is one line."""
    from alerter.source import livecheck
    from alerter.source.prometheus import PrometheusSource
    from alerter.source.wiring import build_source

    configured = bundle.config.prometheus if bundle.config is not None else None
    if not args.prometheus and configured is None:
        print(
            "alerter check: --prometheus needs a URL, or --config with a prometheus: section", file=sys.stderr
        )
        return 2
    at = time.time() if args.at is None else args.at
    try:
        if configured is not None:  # its credentials, TLS and headers, sent to the URL given if any
            update = {"url": args.prometheus or configured.url, "timeout": args.timeout or configured.timeout}
            source = build_source(configured.model_copy(update=update))
        else:
            source = PrometheusSource(args.prometheus, timeout=args.timeout or 10.0)
    except ValueError as exc:
        print(f"alerter check: --prometheus: {exc}", file=sys.stderr)
        return 2
    with source:
        try:
            report = livecheck.check_rules(
                source, bundle.rule_files, at=at, lookback=args.lookback, max_requests=args.max_requests
            )
        except SourceError as exc:
            print(f"alerter check: {exc}", file=sys.stderr)
            return 1
    label = "error" if args.strict else "warning"
    for finding in report.findings:
        print(finding.render(label), file=sys.stderr)
    notes = [_count(report.requests, "request")]
    if report.not_promql:
        notes.append(f"{_count(report.not_promql, 'rule')} not PromQL, not checked")
    if report.unchecked:
        notes.append(
            f"{_count(report.unchecked, 'rule')} not checked within --max-requests {args.max_requests}"
        )
    print(
        f"{source.url}: {_count(len(report.findings), label)} in {_count(report.rules, 'rule')}"
        f" (series of the {format_duration(args.lookback)} before {_iso(at)}; {', '.join(notes)})"
    )
    return 1 if args.strict and report.findings else 0


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text!r}")
    return seconds


def _unix(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected unix seconds such as 1714564800, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected unix seconds such as 1714564800, got {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


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
            if rule.keeps_firing_for:
                timing += f", keeps firing for {format_duration(rule.keeps_firing_for)}"
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
    live = check.add_argument_group(
        "against a server", "does each selector match series, does each label used exist on them?"
    )
    live.add_argument(
        "--prometheus",
        nargs="?",
        const="",
        metavar="URL",
        help="ask this server (without URL: the --config prometheus: url; its credentials and TLS are used)",
    )
    live.add_argument("--at", type=_unix, help="unix time whose series count (default: now)")
    live.add_argument(
        "--lookback",
        type=_duration,
        default=3600.0,
        help="series seen this long before --at count (default 1h)",
    )
    live.add_argument("--strict", action="store_true", help="findings are errors: exit 1 when there is one")
    live.add_argument(
        "--timeout", type=_duration, help="per request (default: the config's prometheus.timeout, else 10s)"
    )
    live.add_argument(
        "--max-requests", type=_positive, default=200, help="requests to the server at most (default 200)"
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
