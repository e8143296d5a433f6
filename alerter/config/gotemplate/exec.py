"""The interpreter of a parsed Go template, as src/text/template/exec.go in golang/go runs it.

``{{ x }}`` prints x (nil as ``<no value>``); ``if``/``with`` test Go's truth (``with`` also
moves dot); ``range`` walks slices in order, maps in key order and integers from 0, binding
``$i, $e`` per iteration; ``$x := ...`` declares until the enclosing ``end``, ``$x = ...``
assigns. A pipeline's value is passed as the last argument of the next command. Maps are read
with Prometheus' ``missingkey=zero`` option: a missing label is "".

Runtime errors carry Go's text: ``template: NAME:LINE:COL: executing "NAME" at <NODE>: MSG``
(the column counted from 0, as Go does). The :class:`Limits` bound a template's work: steps,
range iterations, nesting of ``template`` calls, the size of its output and of any one value,
and wall time, so no template can stall the engine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerter.config.gotemplate import parse as p
from alerter.config.gotemplate.funcs import FUNCTIONS, PARAM_TYPES, Env, FuncError, InterfaceMap, accepts
from alerter.config.gotemplate.values import GoTime, Struct, print_value, truth, type_name


@dataclass(frozen=True, slots=True)
class Limits:
    """How much work one rendering may do."""

    steps: int = 100_000
    iterations: int = 10_000
    depth: int = 64
    output: int = 64 * 1024
    value: int = 256 * 1024
    seconds: float = 1.0
    regex_seconds: float = 0.05


class ExecError(Exception):
    """A runtime error with Go's message."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_MISSING = object()


def _location(source: str, pos: int) -> tuple[int, int]:
    """Line (1-based) and column (0-based byte offset in the line, as Go's ErrorContext)."""
    before = source[:pos]
    line_start = before.rfind("\n") + 1
    return before.count("\n") + 1, len(source[line_start:pos].encode())


class Executor:
    """One rendering of one template."""

    def __init__(
        self, tree: p.Tree, source: str, name: str, env: Env, limits: Limits, variables: Mapping[str, Any]
    ) -> None:
        self.tree = tree
        self.source = source
        self.name = name
        self.env = env
        self.limits = limits
        self.vars: list[tuple[str, Any]] = list(variables.items())
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.iterations = 0
        self.depth = 0
        self.deadline = time.perf_counter() + limits.seconds

    def run(self, dot: Any) -> str:
        self.vars.insert(0, ("$", dot))
        self._walk(dot, self.tree.body)
        return "".join(self.out)

    # -- errors and budgets

    def _error(self, node: p.Node, message: str) -> ExecError:
        line, col = _location(self.source, node.pos)
        at = self.source[node.pos : node.end]
        return ExecError(f'template: {self.name}:{line}:{col}: executing "{self.name}" at <{at}>: {message}')

    def _step(self, node: p.Node) -> None:
        self.steps += 1
        if self.steps > self.limits.steps:
            raise self._error(node, f"template exceeded {self.limits.steps} evaluation steps")
        if self.steps % 512 == 0 and time.perf_counter() > self.deadline:
            raise self._error(node, f"template ran longer than {self.limits.seconds}s")

    def _write(self, node: p.Node, text: str) -> None:
        self.size += len(text)
        if self.size > self.limits.output:
            raise self._error(node, f"template output exceeds {self.limits.output} characters")
        self.out.append(text)

    # -- statements

    def _walk(self, dot: Any, nodes: tuple[p.Node, ...]) -> None:
        for node in nodes:
            self._step(node)
            if isinstance(node, p.Text):
                self._write(node, node.text)
            elif isinstance(node, p.Action):
                value = self._pipe(dot, node.pipe)
                if not node.pipe.decl:
                    self._write(node, print_value(value))
            elif isinstance(node, p.Branch):
                if node.keyword == "range":
                    self._range(dot, node)
                else:
                    mark = len(self.vars)
                    value = self._pipe(dot, node.pipe)
                    if truth(value):
                        self._walk(value if node.keyword == "with" else dot, node.body)
                    else:
                        self._walk(dot, node.orelse)
                    del self.vars[mark:]
            elif isinstance(node, p.Loop):
                raise _Break() if node.keyword == "break" else _Continue()
            elif isinstance(node, p.TemplateCall):
                self._template(dot, node)

    def _range(self, dot: Any, node: p.Branch) -> None:
        mark = len(self.vars)
        value = self._pipe(dot, node.pipe, bind=False)
        items: list[tuple[Any, Any]]
        if value is None:
            items = []
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif isinstance(value, Mapping):
            items = sorted(value.items(), key=lambda kv: str(kv[0]))
        elif isinstance(value, int) and not isinstance(value, bool):
            if len(node.pipe.decl) > 1:
                raise self._error(node.pipe, f"can't use {value} to iterate over more than one variable")
            items = [(i, i) for i in range(max(value, 0))]
        else:
            raise self._error(node.pipe, f"range can't iterate over {print_value(value)}")
        for key, elem in items:
            self.iterations += 1
            if self.iterations > self.limits.iterations:
                raise self._error(node.pipe, f"template exceeded {self.limits.iterations} range iterations")
            decl = node.pipe.decl
            if len(decl) == 1:
                self.vars.append((decl[0], elem))
            elif len(decl) == 2:
                self.vars.append((decl[0], key))
                self.vars.append((decl[1], elem))
            inner = len(self.vars)
            try:
                self._walk(elem, node.body)
            except _Continue:
                pass
            except _Break:
                del self.vars[mark:]
                return
            finally:
                del self.vars[inner:]
            del self.vars[mark:]
        if not items:
            self._walk(dot, node.orelse)
        del self.vars[mark:]

    def _template(self, dot: Any, node: p.TemplateCall) -> None:
        body = self.tree.defines.get(node.name)
        if body is None:
            raise self._error(node, f'no such template "{node.name}"')
        value = self._pipe(dot, node.pipe) if node.pipe is not None else None
        self.depth += 1
        if self.depth > self.limits.depth:
            raise self._error(node, f"exceeded maximum template depth ({self.limits.depth})")
        saved = self.vars
        self.vars = [("$", value)]
        try:
            self._walk(value, body)
        finally:
            self.vars = saved
            self.depth -= 1

    # -- expressions

    def _pipe(self, dot: Any, pipe: p.Pipe, bind: bool = True) -> Any:
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self._command(dot, cmd, value)
        if bind:
            for name in pipe.decl:
                if pipe.assign:
                    self._set(name, value)
                else:
                    self.vars.append((name, value))
        return value

    def _command(self, dot: Any, cmd: p.Command, final: Any) -> Any:
        self._step(cmd)
        first = cmd.args[0]
        if isinstance(first, p.Field):
            return self._fields(dot, first, dot, first.names, cmd.args, final)
        if isinstance(first, p.Chain):
            receiver = self._arg(dot, first.node)
            return self._fields(dot, first, receiver, first.names, cmd.args, final)
        if isinstance(first, p.Identifier):
            return self._call(dot, first, cmd.args, final)
        if isinstance(first, p.Variable):
            value = self._lookup(first)
            if not first.names:
                self._not_a_function(first, cmd.args, final)
                return value
            return self._fields(dot, first, value, first.names, cmd.args, final)
        self._not_a_function(first, cmd.args, final)
        return self._arg(dot, first)

    def _not_a_function(self, node: p.Node, args: tuple[p.Node, ...], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise self._error(node, f"can't give argument to non-function {self.source[node.pos : node.end]}")

    def _arg(self, dot: Any, node: p.Node) -> Any:
        if isinstance(node, p.Literal):
            return node.value
        if isinstance(node, p.Dot):
            return dot
        if isinstance(node, p.Field):
            return self._fields(dot, node, dot, node.names, (node,), _MISSING)
        if isinstance(node, p.Variable):
            value = self._lookup(node)
            return self._fields(dot, node, value, node.names, (node,), _MISSING) if node.names else value
        if isinstance(node, p.Pipe):
            return self._pipe(dot, node)
        if isinstance(node, p.Identifier):
            return self._call(dot, node, (node,), _MISSING)
        if isinstance(node, p.Chain):
            receiver = self._arg(dot, node.node)
            return self._fields(dot, node, receiver, node.names, (node,), _MISSING)
        raise self._error(node, "can't evaluate node")  # pragma: no cover - every node kind is above

    def _lookup(self, node: p.Variable) -> Any:
        for name, value in reversed(self.vars):
            if name == node.name:
                return value
        raise self._error(node, f"undefined variable: {node.name}")

    def _set(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return

    def _fields(
        self,
        dot: Any,
        node: p.Node,
        receiver: Any,
        names: tuple[str, ...],
        args: tuple[p.Node, ...],
        final: Any,
    ) -> Any:
        for i, name in enumerate(names):
            last = i == len(names) - 1
            receiver = self._field(
                dot, node, receiver, name, args if last else (node,), final if last else _MISSING
            )
        return receiver

    def _field(
        self, dot: Any, node: p.Node, receiver: Any, name: str, args: tuple[p.Node, ...], final: Any
    ) -> Any:
        has_args = len(args) > 1 or final is not _MISSING
        if isinstance(receiver, GoTime) and name in _TIME_METHODS:
            values = [self._arg(dot, a) for a in args[1:]] + ([] if final is _MISSING else [final])
            try:
                return _TIME_METHODS[name](receiver, *values)
            except (FuncError, TypeError) as exc:
                raise self._error(node, f"error calling {name}: {exc}") from None
        if receiver is None:
            return None  # missingkey=zero: nothing there, nothing printed
        if isinstance(receiver, Struct) and not isinstance(receiver, Mapping):
            if name in receiver.fields:
                if has_args:
                    raise self._error(node, f"{name} has arguments but cannot be invoked as function")
                return receiver.fields[name]
        elif isinstance(receiver, Mapping):
            if has_args:
                raise self._error(node, f"{name} is not a method but has arguments")
            default = None if isinstance(receiver, InterfaceMap) else ""
            return receiver.get(name, default)
        raise self._error(node, f"can't evaluate field {name} in type {type_name(receiver)}")

    def _call(self, dot: Any, ident: p.Identifier, args: tuple[p.Node, ...], final: Any) -> Any:
        name = ident.name
        spec = FUNCTIONS[name]
        nodes = args[1:]
        given = len(nodes) + (0 if final is _MISSING else 1)
        want = len(spec.params)
        if spec.variadic and given < want - 1:
            raise self._error(ident, f"wrong number of args for {name}: want at least {want - 1} got {given}")
        if not spec.variadic and given != want:
            raise self._error(ident, f"wrong number of args for {name}: want {want} got {given}")
        if name in ("and", "or"):
            # Go 1.18+: evaluation stops at the first argument that decides the result.
            value: Any = None
            for item in [*nodes, final] if final is not _MISSING else nodes:
                value = self._arg(dot, item) if isinstance(item, p.Node) else item
                if truth(value) == (name == "or"):
                    return value
            return value
        values = [self._arg(dot, n) for n in nodes] + ([] if final is _MISSING else [final])
        for i, value in enumerate(values):
            kind = spec.params[min(i, want - 1)]
            if not accepts(kind, value):
                source = nodes[i] if i < len(nodes) else ident
                if isinstance(source, p.Literal):
                    found = self.source[source.pos : source.end]
                    raise self._error(source, f"expected {PARAM_TYPES[kind]}; found {found}")
                raise self._error(
                    ident, f"wrong type for value; expected {PARAM_TYPES[kind]}; got {type_name(value)}"
                )
        try:
            result = spec.impl(self.env, *values)
        except FuncError as exc:
            raise self._error(ident, f"error calling {name}: {exc}") from None
        if isinstance(result, str) and len(result) > self.limits.value:
            raise self._error(ident, f"{name} made a value of more than {self.limits.value} characters")
        return result


def _time_unix(t: GoTime) -> int:
    return t.nanos // 1_000_000_000 if t.nanos >= 0 else -((-t.nanos) // 1_000_000_000)


_TIME_METHODS: dict[str, Any] = {
    "Unix": _time_unix,
    "UnixMilli": lambda t: int(t.nanos / 1_000_000),
    "UnixNano": lambda t: t.nanos,
    "UTC": lambda t: t,
    "String": str,
    "Year": lambda t: t.datetime().year,
}
"""The ``time.Time`` methods a template may call on what ``toTime`` returns."""
