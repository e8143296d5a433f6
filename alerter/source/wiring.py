"""Builds the Prometheus client from the ``prometheus:`` config section: where config meets source.

Called by the engine's composition root (``alerter.service.app``) at start-up and by the
backtest tool (``alerter.backtest.replay``), which replays history from the same server. Both
need the same client with the same credentials, and neither should depend on the other, so the
conversion lives next to the client. Credentials are read from their environment variable or
file here, when the client is built, so they never sit in the config text.
"""

from __future__ import annotations

from alerter.config.engine import PrometheusConfig
from alerter.core.errors import AlerterError
from alerter.source.prometheus import PrometheusSource

__all__ = ["build_source"]


def build_source(cfg: PrometheusConfig) -> PrometheusSource:
    """The Prometheus client with credentials resolved from env/files (never from the config text)."""
    try:
        token = cfg.bearer_token.resolve()
        basic = (cfg.basic_auth.username, cfg.basic_auth.password.resolve() or "") if cfg.basic_auth else None
    except KeyError as exc:
        raise AlerterError(f"prometheus credentials: environment variable {exc} is not set") from None
    except OSError as exc:
        raise AlerterError(f"prometheus credentials: cannot read {exc.filename}: {exc.strerror}") from None
    return PrometheusSource(
        cfg.url,
        timeout=cfg.timeout,
        bearer_token=token,
        basic_auth=basic,
        headers=cfg.headers,
        ca_file=cfg.ca_file,
        tls_verify=cfg.tls_verify,
        compression=cfg.compression,
    )
