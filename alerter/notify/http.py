"""One HTTP POST with the error mapping every plain-HTTP receiver shares.

Used by ``alertmanager.py`` and ``webhook.py``: connection problems, timeouts, 429 and 5xx are
retryable (429's ``Retry-After`` is passed on), other 4xx are permanent and quote the server's
answer. An error status raises ``HTTPStatusError``, which keeps the status and the body for a
receiver that reads them (Alertmanager lists the alerts it refused in a 400). The URL may be a
``Secret`` (webhook URLs often embed a token) and then never appears in an error. ``bearer``,
``basic`` and ``client_context`` turn a receiver's credentials and TLS files into what a
request carries.
"""

from __future__ import annotations

import base64
import ssl
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.error import HTTPError, URLError

from alerter.core.errors import ConfigError, Location, NotifyError
from alerter.notify.secret import Secret

QUOTED = 500
"""Characters of an error body quoted in the message: enough for a reason, not a whole page."""

KEPT = 64 * 1024
"""Bytes of an error body kept on the error for the receiver to read (a list of refused alerts)."""


class HTTPStatusError(NotifyError):
    """The server answered with an error status; ``body`` is its answer (up to ``KEPT`` bytes)."""

    def __init__(
        self, message: str, *, status: int, body: str, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after)
        self.status = status
        self.body = body


def post_json(
    url: str | Secret,
    body: bytes,
    *,
    what: str,
    timeout: float,
    headers: Mapping[str, str],
    context: ssl.SSLContext | None = None,
) -> int:
    """POST ``body`` as JSON; return the status; raise ``NotifyError`` on failure.

    ``context`` carries the receiver's TLS settings (CA, client certificate); None uses the
    system's trust store.
    """
    target = url.reveal() if isinstance(url, Secret) else url
    shown = "the configured URL" if isinstance(url, Secret) else target
    request = urllib.request.Request(
        target, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return int(response.status)
    except HTTPError as err:
        status, text = err.code, err.read(KEPT).decode(errors="replace").strip()
        if isinstance(url, Secret):
            text = url.redact(text)
        if status == 429:
            raise HTTPStatusError(
                f"{what}: rate limited by {shown}",
                status=status,
                body=text,
                retryable=True,
                retry_after=_seconds(err.headers.get("Retry-After")),
            ) from None
        raise HTTPStatusError(
            f"{what}: {shown} answered HTTP {status}: {text[:QUOTED]}",
            status=status,
            body=text,
            retryable=status >= 500 or status == 408,
        ) from None
    except (URLError, OSError) as err:
        reason = getattr(err, "reason", None) or type(err).__name__
        raise NotifyError(f"{what}: cannot reach {shown}: {reason}", retryable=True) from None


def bearer(token: Secret) -> Secret:
    """The ``Authorization`` value for a bearer token (RFC 6750), itself a secret."""
    return Secret(f"Bearer {token.reveal()}")


def basic(username: str, password: Secret) -> Secret:
    """The ``Authorization`` value for basic auth (RFC 7617, UTF-8), itself a secret."""
    pair = f"{username}:{password.reveal()}".encode()
    return Secret(f"Basic {base64.b64encode(pair).decode()}")


def client_context(
    where: str,
    *,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    insecure_skip_verify: bool = False,
) -> ssl.SSLContext | None:
    """The TLS settings of a receiver (None: the defaults, verified against the system's CAs).

    Files are read here, once, when the receiver is built, so a missing or broken one fails the
    start with the field ``where``.ca_file (…) named instead of every delivery.
    """
    if ca_file is None and cert_file is None and not insecure_skip_verify:
        return None
    for field, path in (("ca_file", ca_file), ("cert_file", cert_file), ("key_file", key_file)):
        if path is not None:
            try:
                Path(path).read_bytes()
            except OSError as err:
                raise ConfigError(
                    Location(path), f"{where}.{field}", f"cannot read: {err.strerror}"
                ) from None
    context = ssl.create_default_context()
    if insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except ssl.SSLError as err:
            raise _pem_error(where, "ca_file", ca_file, err, "PEM CA certificates") from None
    if cert_file is not None:
        try:
            context.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as err:
            wanted = "a PEM certificate, with its key in key_file"
            raise _pem_error(where, "cert_file", cert_file, err, wanted) from None
    return context


def _pem_error(where: str, field: str, path: str, err: ssl.SSLError, wanted: str) -> ConfigError:
    reason = err.reason or str(err)
    return ConfigError(Location(path), f"{where}.{field}", f"not usable: {reason}", f"it must hold {wanted}")


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
