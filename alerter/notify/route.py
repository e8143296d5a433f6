"""The routing tree: which receivers get an alert and how its group is formed and timed.

Alertmanager's semantics, which users already know: the root matches everything; an alert
descends into the first child whose matchers all match, and also into later siblings while the
matching child says ``continue``; where no child matches, the node itself is the match. Children
inherit every unset field (receiver, group_by, waits) from their parent. ``group_by: ["..."]``
groups by all labels. The pipeline calls ``match`` on ingest and ``group_labels`` for the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from alerter.config.types import Matcher
from alerter.core.model import Labels

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


class RouteConfig(Protocol):
    """The shape of ``alerter.config.Route`` this module reads."""

    @property
    def receiver(self) -> str | None: ...
    @property
    def group_by(self) -> Sequence[str] | None: ...
    @property
    def group_wait(self) -> float | None: ...
    @property
    def group_interval(self) -> float | None: ...
    @property
    def repeat_interval(self) -> float | None: ...
    @property
    def matchers(self) -> Sequence[Matcher]: ...
    @property
    def continue_(self) -> bool: ...
    @property
    def routes(self) -> Sequence[RouteConfig]: ...


@dataclass(frozen=True)
class Route:
    """One node with every field resolved; ``path`` (``0``, ``0.1``...) identifies it in group keys."""

    path: str
    receiver: str
    group_by: tuple[str, ...] | None
    group_wait: float
    group_interval: float
    repeat_interval: float
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[Route, ...] = ()

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The nodes (usually one) that take an alert with ``labels``."""
        if not all(m.matches(labels) for m in self.matchers):
            return []
        found: list[Route] = []
        for child in self.routes:
            hits = child.match(labels)
            if hits:
                found.extend(hits)
                if not child.continue_:
                    break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> Labels:
        """The labels that form the alert's group under this node."""
        if self.group_by is None:
            return Labels(labels)
        return Labels({name: labels[name] for name in self.group_by if name in labels})

    def group_key(self, labels: Mapping[str, str]) -> str:
        return f"{self.receiver}/{self.path}/{self.group_labels(labels).fingerprint}"

    def receivers(self) -> set[str]:
        """Every receiver the tree can route to, for validating that each is defined."""
        return {self.receiver}.union(*(child.receivers() for child in self.routes))


def build(config: RouteConfig, *, known_receivers: Sequence[str] | None = None) -> Route:
    """Resolve a config tree (inheritance, defaults); ValueError if a receiver is missing or unknown."""
    root = _node(config, None, "0")
    if known_receivers is not None:
        missing = sorted(root.receivers() - set(known_receivers))
        if missing:
            raise ValueError(f"route refers to undefined receiver(s): {', '.join(missing)}")
    return root


def _node(config: RouteConfig, parent: Route | None, path: str) -> Route:
    receiver = config.receiver or (parent.receiver if parent else None)
    if not receiver:
        raise ValueError(f"route {path}: no receiver (the root route must name one)")
    if config.group_by is not None:
        group_by: tuple[str, ...] | None = None if "..." in config.group_by else tuple(config.group_by)
    else:
        group_by = parent.group_by if parent else ()
    node = Route(
        path=path,
        receiver=receiver,
        group_by=group_by,
        group_wait=_pick(config.group_wait, parent.group_wait if parent else DEFAULT_GROUP_WAIT),
        group_interval=_pick(
            config.group_interval, parent.group_interval if parent else DEFAULT_GROUP_INTERVAL
        ),
        repeat_interval=_pick(
            config.repeat_interval, parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL
        ),
        matchers=tuple(config.matchers),
        continue_=config.continue_,
    )
    children = tuple(_node(child, node, f"{path}.{i}") for i, child in enumerate(config.routes))
    return Route(**{**node.__dict__, "routes": children})


def _pick(value: float | None, inherited: float) -> float:
    return inherited if value is None else value
