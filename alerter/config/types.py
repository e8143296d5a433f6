"""Field types shared by the config models: durations, label names, label matchers.

Kept apart from the models so that the rule-file and engine-config models read as plain
declarations; every type here turns a bad value into a ValueError whose text is the hint the
user sees next to the file position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, model_validator

from alerter.core.durations import check_bounded, format_duration, parse_duration

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class Model(BaseModel):
    """Base of every config model: frozen, unknown keys rejected, YAML names as aliases."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m or 1h, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value}")
        return check_bounded(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 30s, 5m or 1h, got {type(value).__name__}")
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)]
"""Seconds, written in YAML as a Prometheus duration (``30s``, ``1h30m``, ``21d``)."""


def _label_name(value: Any) -> str:
    if not isinstance(value, str) or not LABEL_NAME.match(value):
        raise ValueError(
            f"invalid label name {value!r} (use letters, digits and _, not starting with a digit)"
        )
    return value


LabelName = Annotated[str, BeforeValidator(_label_name)]


def _label_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping of label names to values, got {type(value).__name__}")
    out: dict[str, str] = {}
    for key, item in value.items():
        _label_name(key)
        if isinstance(item, Mapping | list):
            raise ValueError(f"label {key!r} must be a string, got {type(item).__name__}")
        out[str(key)] = "" if item is None else str(item)
    return out


LabelMap = Annotated[dict[str, str], BeforeValidator(_label_map)]


def _annotation_map(value: Any) -> Any:
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str) or not LABEL_NAME.match(k)]
        if bad:
            raise ValueError(
                f"invalid annotation name {bad[0]!r} (use letters, digits and _, not starting with a digit; "
                "e.g. runbook_url)"
            )
    return value


AnnotationMap = Annotated[dict[str, str], BeforeValidator(_annotation_map)]
"""Annotation names follow the label-name rule, as Prometheus' rulefmt checks them."""

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
"""An HTTP field name is a ``token`` (RFC 9110 section 5.1)."""

RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "host",
        "content-encoding",
        "content-length",
        "content-type",
        "user-agent",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "www-authenticate",
        "accept-encoding",
    }
)
"""Headers the client sets itself or that carry credentials: the same set Prometheus refuses in
``http_headers`` (prometheus/common ``config/headers.go``, ``reservedHeaders``). A credential goes
in ``bearer_token_env``/``basic_auth``, where it is read from a secret, not written in the file."""


def _header_map(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    for key, item in value.items():
        if not isinstance(key, str) or not HEADER_NAME.match(key):
            raise ValueError(f"invalid HTTP header name {key!r} (letters, digits and -, no spaces or colons)")
        if key.lower() in RESERVED_HEADERS:
            raise ValueError(
                f"setting header {key!r} is not allowed: the client sets it"
                + (", and credentials go in bearer_token_env or basic_auth" if "auth" in key.lower() else "")
            )
        if not isinstance(item, str):
            raise ValueError(f"header {key!r} must be a string, got {type(item).__name__}")
        if any((ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F for ch in item):
            raise ValueError(
                f"header {key!r} holds a line break or control character, which would let it add other "
                "headers; write the value on one line"
            )
        if len(item) > MAX_HEADER_CHARS:
            raise ValueError(f"header {key!r} is {len(item):,} characters long, above {MAX_HEADER_CHARS:,}")
    return value


MAX_HEADER_CHARS = 8192
"""Servers commonly refuse a request whose header block passes 8 KiB (nginx, Go's net/http 1 MiB in
total); a longer single value is a pasted file, not a header."""

HeaderMap = Annotated[dict[str, str], BeforeValidator(_header_map)]
"""Extra HTTP headers: valid names, no reserved or credential-bearing name, one line each."""


def _http(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {value!r}")
    return value


def _server_url(value: str) -> str:
    return _http(value).rstrip("/")


ServerUrl = Annotated[str, AfterValidator(_server_url)]
"""The base URL of a server alerter calls (Prometheus, Alertmanager), without a trailing slash."""


def _inline_url(value: Any) -> Any:
    """An inline webhook URL must not carry a credential: the file is committed and shown in review.

    Webhook services put their secret in the URL: as user:password, as a query parameter
    (``?token=``), or as a long random path segment (Slack ``/services/T../B../<secret>``,
    Discord ``/api/webhooks/<id>/<token>``). Such a URL belongs in ``url_env`` or ``url_file``.
    """
    if not isinstance(value, str):
        return value
    parts = urlsplit(_http(value))
    hint = "; put this URL in a secret and name it with url_env or url_file"
    if parts.username is not None or parts.password is not None:
        raise ValueError("an inline url must not hold user:password@" + hint)
    if parts.query or parts.fragment:
        raise ValueError("an inline url must not have a query string (it often holds a token)" + hint)
    for segment in parts.path.split("/"):
        if len(segment) >= 16 and any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment):
            raise ValueError(f"the path segment {segment[:4]}... looks like a token" + hint)
    return value


InlineUrl = Annotated[str, BeforeValidator(_inline_url)]
"""An http(s) URL written in the config file itself, refused when it looks like it holds a secret."""


_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*))\s*$')


class Matcher(Model):
    """One Alertmanager-style label matcher: ``severity="page"``, ``model_name=~"llama.*"``."""

    name: str
    op: str
    value: str

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _MATCHER.match(data)
        if not match:
            raise ValueError(f'invalid matcher {data!r} (write name="value"; operators are =, !=, =~, !~)')
        name, op, quoted, bare = match.groups()
        value = bytes(quoted, "utf-8").decode("unicode_escape") if quoted is not None else bare
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r} in matcher: {exc}") from None
        return {"name": name, "op": op, "value": value}

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Alertmanager semantics: a missing label matches as the empty string; regexes are anchored."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def matches_all(matchers: list[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)
