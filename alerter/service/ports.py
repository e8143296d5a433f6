"""What the HTTP endpoints need from a running engine, as a few narrow Protocols.

``routes.install`` is typed against ``Service``; the composition root (``app.App``) satisfies it
structurally, and route tests hand in a small fake instead of building a whole engine. Each
handler in ``routes`` asks only for the narrowest Protocol it uses, so what an endpoint can touch
shows in its signature. Members are read-only properties: an implementation may hold plain
attributes, and may hold a narrower type (``App.runner`` is the concrete remediation runner).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from alerter.engine.engine import Engine
    from alerter.engine.metrics import EngineMetrics
    from alerter.notify import Pipeline, Secret, Silences
    from alerter.notify.slack.actions import AlertActions
    from alerter.remediate.audit import Database
    from alerter.remediate.contracts import Event
    from alerter.service.auth import Auth

__all__ = [
    "AlertButtons",
    "Approvals",
    "Clocked",
    "Guarded",
    "Notifications",
    "Remediation",
    "Service",
    "SlackCallbacks",
    "Views",
]


class Approvals(Protocol):
    """The remediation runner as the Approve / Reject buttons of a proposal see it."""

    def approve(self, action_id: int, by: str, now: float) -> list[Event]: ...

    def reject(self, action_id: int, by: str, now: float) -> list[Event]: ...


class Clocked(Protocol):
    """Handlers take ``now`` from the engine's clock, so tests can fix the time."""

    @property
    def clock(self) -> Callable[[], float]: ...


class Guarded(Protocol):
    """Who may call which endpoint; read on every request, so a reload's new tokens apply at once."""

    @property
    def auth(self) -> Auth: ...


class Views(Clocked, Protocol):
    """Probes, ``/metrics``, the read-only JSON views of the engine, and reloading."""

    @property
    def metrics(self) -> EngineMetrics: ...

    @property
    def ready(self) -> bool: ...

    @property
    def engine(self) -> Engine: ...

    def status(self) -> dict[str, object]: ...

    def reload(self, now: float) -> bool:
        """Load the configuration again; False (the old one keeps running) when it is invalid."""
        ...


class Notifications(Clocked, Protocol):
    """Silences and the notification log."""

    @property
    def silences(self) -> Silences: ...

    @property
    def pipeline(self) -> Pipeline | None:
        """None when no receiver is configured."""
        ...


class Remediation(Clocked, Protocol):
    """The remediation log and the Slack callbacks that approve or reject proposed actions."""

    @property
    def store(self) -> Database: ...

    @property
    def runner(self) -> Approvals | None:
        """None when no policy is configured or remediation is disabled (``remediation_error``)."""
        ...

    @property
    def remediation_error(self) -> str: ...

    @property
    def signing_secrets(self) -> Mapping[str, Secret]:
        """Slack signing secrets by receiver name; a callback must be signed by one of them."""
        ...

    def post_events(self, events: Sequence[Event], now: float) -> None:
        """Remediation decisions into the alert's notification thread."""
        ...

    def defer(self, job: Callable[[], None]) -> None:
        """Run ``job`` off the request's thread: Slack wants its answer before the decision is made."""
        ...

    def reply_privately(self, response_url: str, text: str) -> None:
        """Tell the person who pressed a Slack button something only they see (a refused decision)."""
        ...


class AlertButtons(Notifications, Protocol):
    """The Silence and Acknowledge buttons of alert messages: decided here, told in the alert's thread."""

    @property
    def alert_actions(self) -> AlertActions: ...


class SlackCallbacks(Remediation, AlertButtons, Protocol):
    """Everything a Slack button press may reach: remediation approvals and alert buttons."""


class Service(Guarded, Views, SlackCallbacks, Protocol):
    """Everything ``routes.install`` registers endpoints over."""
