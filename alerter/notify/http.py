"""One HTTP POST with the error mapping every plain-HTTP receiver shares.

Used by ``alertmanager.py`` and ``webhook.py``: connection problems, timeouts, 429 and 5xx are
retryable (429's ``Retry-After`` is passed on), other 4xx are permanent and quote the server's
answer. The URL may be a ``Secret`` (webhook URLs often embed a token) and then never appears
in an error.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from urllib.error import HTTPError, URLError

from alerter.core.errors import NotifyError
from alerter.notify.secret import Secret


def post_json(
    url: str | Secret, body: bytes, *, what: str, timeout: float, headers: Mapping[str, str]
) -> int:
    """POST ``body`` as JSON; return the status; raise ``NotifyError`` on failure."""
    target = url.reveal() if isinstance(url, Secret) else url
    shown = "the configured URL" if isinstance(url, Secret) else target
    request = urllib.request.Request(
        target, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except HTTPError as err:
        status, text = err.code, err.read(500).decode(errors="replace").strip()
        if isinstance(url, Secret):
            text = url.redact(text)
        if status == 429:
            raise NotifyError(
                f"{what}: rate limited by {shown}",
                retryable=True,
                retry_after=_seconds(err.headers.get("Retry-After")),
            ) from None
        retryable = status >= 500 or status == 408
        raise NotifyError(f"{what}: {shown} answered HTTP {status}: {text}", retryable=retryable) from None
    except (URLError, OSError) as err:
        reason = getattr(err, "reason", None) or type(err).__name__
        raise NotifyError(f"{what}: cannot reach {shown}: {reason}", retryable=True) from None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
