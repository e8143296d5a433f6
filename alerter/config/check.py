"""Checks that need more than one field: names, references, PromQL, templates, detector specs.

Pydantic validates each value; this module validates how values relate (an alert name used twice
in a group, a route naming a receiver that does not exist, a rule asking for a policy nobody
defined) and the embedded languages (PromQL structure, Jinja2 templates, baseline specs).
``config`` and ``rule_file`` work on the raw data, so they run beside validation, not after it: a
type error anywhere does not hide a bad reference. ``warnings`` lists what is valid but probably
not meant (an HTTP API open to the network, a policy that can never act or that no rule names).
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alerter.config import promql, templates
from alerter.config.engine import AppConfig, Policy, ServerConfig
from alerter.config.rules import RuleFile
from alerter.config.validate import field_path
from alerter.config.yamlfile import Document, Loc, read
from alerter.core.errors import ConfigError, Location
from alerter.detect.spec import spec_problems


def _suggest(name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    return f"defined: {', '.join(known)}" if known else "none are defined"


def _duplicates(doc: Document, names: list[str], loc: Loc, what: str) -> Iterator[ConfigError]:
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            continue  # a missing name is reported by validation
        if name in seen:
            where = (*loc, index, "name")
            yield ConfigError(
                doc.location(where),
                field_path(where),
                f"duplicate {what} name `{name}`",
                f"already used at index {seen[name]}; names must be unique"
                + (" within a file" if what == "group" else ""),
            )
        else:
            seen[name] = index


def _offset_location(doc: Document, loc: Loc, offset: int) -> Location:
    """Position in the file of character ``offset`` of the string scalar at ``loc``.

    Exact for one-line plain and quoted scalars and for block scalars (``expr: |`` and ``>``),
    whose text starts on the line after the indicator at the block's indentation; for a plain
    or quoted scalar folded over several lines, the line is exact and the column approximate.
    """
    start = doc.location(loc)
    value = doc.tree
    for part in loc:
        value = value[part]
    text = str(value)
    before = text[: max(0, min(offset, len(text)))]
    lines = before.count("\n")
    column = len(before) - (before.rfind("\n") + 1)
    source = _source_lines(doc.path)
    indicator = (
        source[start.line - 1][start.column - 1 : start.column] if 0 < start.line <= len(source) else ""
    )
    if indicator in ("|", ">"):
        body = [line for line in source[start.line :] if line.strip()]
        indent = len(body[0]) - len(body[0].lstrip(" ")) if body else start.column
        return Location(start.file, start.line + 1 + lines, indent + column + 1)
    quote = 1 if indicator in ("'", '"') else 0
    if lines == 0:
        return Location(start.file, start.line, start.column + quote + offset)
    return Location(start.file, start.line + lines + 1, column + 1)


def _source_lines(path: str) -> list[str]:
    """The file's lines, for positions inside scalars; empty when it cannot be read again."""
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _names(items: Any, key: str) -> list[str]:
    """The ``key`` of each mapping in a raw list (an empty string where there is none)."""
    if not isinstance(items, list):
        return []
    return [str(i.get(key, "")) if isinstance(i, dict) else "" for i in items]


def rule_file(
    doc: Document, policies: set[str] | None, flavor: promql.Flavor = "prometheus"
) -> list[ConfigError]:
    """Every semantic problem of one rule file; ``policies`` None skips reference checks.

    ``flavor`` is the query language of the server (``prometheus.flavor``): MetricsQL is only
    checked for brackets and regexes.

    Works on the raw data, rule by rule, so a type error in one rule does not hide the
    problems of the others: a check lists every mistake of the file at once.
    """
    groups = doc.data.get("groups")
    errors = list(_duplicates(doc, _names(groups, "name"), ("groups",), "group"))
    for gi, group in enumerate(groups if isinstance(groups, list) else []):
        raw_rules = group.get("rules") if isinstance(group, dict) else None
        base: Loc = ("groups", gi, "rules")
        # Alert names may repeat in a group (Prometheus allows the warning/critical pair).
        for ri, raw in enumerate(raw_rules if isinstance(raw_rules, list) else []):
            if isinstance(raw, dict):
                errors += _rule(doc, raw, (*base, ri), policies, flavor)
    return errors


def _strings(raw: Any) -> dict[str, str]:
    return {str(k): v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, dict) else {}


def _rule(
    doc: Document,
    raw: dict[str, Any],
    at: Loc,
    policies: set[str] | None,
    flavor: promql.Flavor = "prometheus",
) -> list[ConfigError]:
    """Checks of one raw rule mapping; fields of the wrong type are skipped (validation reports them)."""
    errors: list[ConfigError] = []
    expr = raw.get("expr")
    for found in promql.problems(expr, flavor) if isinstance(expr, str) and expr.strip() else []:
        where = (*at, "expr")
        errors.append(
            ConfigError(
                _offset_location(doc, where, found.offset),
                field_path(where),
                f"PromQL: {found.message}",
                found.hint,
            )
        )
    texts = {("annotations", k): v for k, v in _strings(raw.get("annotations")).items()}
    texts |= {("labels", k): v for k, v in _strings(raw.get("labels")).items()}
    rule_dialect = templates.dialect(texts.values())  # one dialect for all templates of a rule
    for (section, key), source in texts.items():
        where = (*at, section, key)
        for issue in templates.problems(source, rule_dialect):
            if issue.offset is not None:
                location = _offset_location(doc, where, issue.offset)
            else:
                loc = doc.location(where)
                location = Location(loc.file, loc.line + issue.line - 1, loc.column)
            errors.append(ConfigError(location, field_path(where), issue.message, issue.hint))
    baseline = raw.get("baseline")
    for problem in spec_problems(baseline) if isinstance(baseline, dict) else []:
        parts: list[str | int] = [*at, "baseline"]
        for piece in problem.field.replace("]", "").replace("[", ".").split("."):
            if piece:
                parts.append(int(piece) if piece.isdigit() else piece)
        unknown = problem.message.startswith("unknown key")
        errors.append(
            ConfigError(doc.location(parts, at_key=unknown), field_path(parts), problem.message, problem.hint)
        )
    remediate = raw.get("remediate")
    for pi, name in enumerate(remediate if isinstance(remediate, list) and policies is not None else []):
        if policies is not None and isinstance(name, str) and name not in policies:
            where = (*at, "remediate", pi)
            errors.append(
                ConfigError(
                    doc.location(where),
                    field_path(where),
                    f"policy `{name}` is not defined in the config",
                    _suggest(name, policies),
                )
            )
    return errors


def _routes(route: Any, loc: Loc) -> Iterator[tuple[dict[str, Any], Loc]]:
    """Each mapping of a raw routing tree, with where it is; what is not a mapping is skipped."""
    if not isinstance(route, dict):
        return
    yield route, loc
    children = route.get("routes")
    for index, child in enumerate(children if isinstance(children, list) else []):
        yield from _routes(child, (*loc, "routes", index))


def _defined(data: Any, key: str) -> set[str] | None:
    """Names of the mappings in the raw list ``key`` of ``alerter.yaml``; None when ``key`` is not a
    list (validation reports that, and a reference to an unreadable list proves nothing).

    A mapping that fails validation still defines its name: a rule naming a policy whose
    ``scale:`` has a typo is told about the typo, not that the policy does not exist.
    """
    raw = data.get(key, []) if isinstance(data, dict) else None
    return {name for name in _names(raw, "name") if name} if isinstance(raw, list) else None


def policy_names(doc: Document) -> set[str] | None:
    """The policies ``alerter.yaml`` defines, for the rule files' ``remediate:`` references."""
    return _defined(doc.data, "policies")


def config(doc: Document) -> list[ConfigError]:
    """Every semantic problem of ``alerter.yaml`` on its own.

    Works on the raw data, like ``rule_file``, so it runs whether or not the file passed
    validation: a wrong type in one receiver does not hide a route naming a receiver that
    does not exist. A value of the wrong type is skipped here (validation reports it).
    """
    data = doc.data
    errors: list[ConfigError] = []
    for key, what in (
        ("receivers", "receiver"),
        ("policies", "policy"),
        ("maintenance", "maintenance window"),
    ):
        errors += _duplicates(doc, _names(data.get(key), "name"), (key,), what)
    receivers = _defined(data, "receivers")
    route = data.get("route")
    if route is None:
        if isinstance(data.get("receivers"), list) and data["receivers"]:
            errors.append(
                ConfigError(
                    doc.location(("receivers",), at_key=True),
                    "route",
                    "receivers are defined but no `route` sends anything to them",
                    "add `route: {receiver: <name>}`",
                )
            )
        return errors
    if not isinstance(route, dict):
        return errors
    if route.get("receiver") is None:
        errors.append(
            ConfigError(
                doc.location(("route",)),
                "route.receiver",
                "the top-level route needs a default receiver",
                "add `receiver: <name>`",
            )
        )
    if isinstance(route.get("matchers"), list) and route["matchers"]:
        errors.append(
            ConfigError(
                doc.location(("route", "matchers")),
                "route.matchers",
                "the top-level route must match every alert",
                "move matchers into a child route",
            )
        )
    for raw, loc in _routes(route, ("route",)):
        name = raw.get("receiver")
        if receivers is not None and isinstance(name, str) and name not in receivers:
            where = (*loc, "receiver")
            errors.append(
                ConfigError(
                    doc.location(where),
                    field_path(where),
                    f"receiver `{name}` is not defined",
                    _suggest(name, receivers),
                )
            )
    return errors


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def exposed_without_auth(server: ServerConfig) -> bool:
    """Whether anyone on the network could silence alerts and reload: listening beyond loopback, no auth.

    A client CA counts as authentication: then only holders of its certificates can connect.
    """
    host = server.listen.rpartition(":")[0].strip("[]")
    certificates = server.tls is not None and server.tls.client_ca_file is not None
    return not _loopback(host) and server.auth is None and not certificates


def allowed(target: str, allow: Sequence[str]) -> bool:
    """Whether ``namespace/name`` passes ``remediation.allow_namespaces``: its namespace or the
    target itself is listed. The rule of ``remediate.policy.allow_list``, which refuses at run time."""
    return target.partition("/")[0] in allow or target in allow


def _targets(policy: Policy) -> list[tuple[Loc, str]]:
    """The objects a policy's action changes (the Deployment a ConfigMap change restarts too),
    each with the key that names it, relative to the policy."""
    if policy.scale is not None:
        return [(("scale", "deployment"), policy.scale.deployment)]
    if policy.route is not None:
        return [(("route", "httproute"), policy.route.httproute)]
    targets: list[tuple[Loc, str]] = []
    if policy.configmap is not None:
        targets.append((("configmap", "configmap"), policy.configmap.configmap))
        if policy.configmap.restart is not None:
            targets.append((("configmap", "restart"), policy.configmap.restart))
    return targets


def _blocked(doc: Document, cfg: AppConfig) -> Iterator[ConfigError]:
    """Policies whose target ``remediation.allow_namespaces`` refuses: they can never act.

    A warning, not an error: remediation is deny-by-default and the runner refuses such an
    action with a reason in the audit log and the alert's thread, so the configuration runs
    safely. Defining policies and wiring them to rules before opening a namespace is a staged
    rollout, and a hot reload must not refuse it. A policy in mode ``off`` is not meant to act.
    """
    allow = cfg.remediation.allow_namespaces
    if allow:
        listed = f"is not in remediation.allow_namespaces [{', '.join(allow)}]"
    else:
        listed = "is not allowed: remediation.allow_namespaces is empty"
    for index, policy in enumerate(cfg.policies):
        if policy.mode == "off":
            continue
        for key, target in _targets(policy):
            if not allowed(target, allow):
                where = ("policies", index, *key)
                namespace = target.partition("/")[0]
                yield ConfigError(
                    doc.location(where),
                    field_path(where),
                    f"policy `{policy.name}` can never act: `{target}` {listed}",
                    f"add `{namespace}` or `{target}` to remediation.allow_namespaces; until then every "
                    "action of the policy is skipped, in dry-run too",
                )


def _config_rules(doc: Document, cfg: AppConfig) -> list[RuleFile] | None:
    """The rule files ``cfg.rule_files`` names (what ``alerter run`` loads); None when one of
    them cannot be read or validated (``load`` reports that)."""
    from alerter.config.load import expand  # load imports this module

    paths, missing = expand(cfg.rule_files, Path(doc.path).parent)
    if missing:
        return None
    try:
        return [RuleFile.model_validate(read(path, what="rule file").data) for path in paths]
    except (ConfigError, ValidationError):
        return None


def _unused(
    doc: Document, cfg: AppConfig, rules: Sequence[RuleFile] | None, scope: str
) -> Iterator[ConfigError]:
    """Policies no rule's ``remediate:`` names (``scope`` says which rules): they never act."""
    if rules is None:
        return
    named = {
        name for file in rules for group in file.groups for rule in group.alerting for name in rule.remediate
    }
    for index, policy in enumerate(cfg.policies):
        if policy.name not in named:
            where = ("policies", index, "name")
            yield ConfigError(
                doc.location(where),
                field_path(where),
                f"policy `{policy.name}` is not named by any rule{scope}, so it never acts",
                f"add `remediate: [{policy.name}]` to a rule, or remove the policy",
            )


def warnings(doc: Document, cfg: AppConfig, rules: Iterable[RuleFile] | None = None) -> list[ConfigError]:
    """What ``alerter check`` points out without refusing the config.

    ``rules`` are the rule files checked with the config, for "a policy no rule names"; without
    them, the rule files the config names are read (what ``alerter run`` loads).
    """
    out: list[ConfigError] = []
    if exposed_without_auth(cfg.server):
        where: Loc = ("server", "listen")
        out.append(
            ConfigError(
                doc.location(where),
                field_path(where),
                f"the HTTP API listens on {cfg.server.listen} without authentication: anyone who "
                "reaches the port can create silences and reload the engine",
                "add `server.auth.tokens` with a token_env or token_file per holder, or listen on 127.0.0.1",
            )
        )
    out += _blocked(doc, cfg)
    if cfg.policies and rules is not None:
        out += _unused(doc, cfg, list(rules), "")
    elif cfg.policies:
        out += _unused(doc, cfg, _config_rules(doc, cfg), " of the config's rule_files")
    return sorted(out, key=lambda w: (w.location.line, w.location.column, w.path))
