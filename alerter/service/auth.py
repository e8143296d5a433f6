"""Who may call which HTTP endpoint: bearer tokens, and the identity of a client certificate.

Anyone who reaches the port could otherwise silence every alert or reload the engine, so
``server.auth`` names bearer tokens (read from ``*_env`` / ``*_file`` like every other secret)
and ``routes`` asks ``Auth.check`` before each guarded handler. Writes (silences, reload) need a
``write`` token; reads need a token only with ``protect_reads``; probes, ``/metrics`` and Slack's
signed callback never do. Tokens are compared as SHA-256 digests with ``hmac.compare_digest``
against every configured token, so neither the answer's timing nor a log line reveals one.

Answers follow RFC 6750 section 3 (https://www.rfc-editor.org/rfc/rfc6750#section-3): 401 with
``WWW-Authenticate: Bearer realm="alerter"`` and no error code when no token was sent,
``error="invalid_token"`` when a wrong one was, and 403 ``error="insufficient_scope"`` when a read
token tries to write.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from alerter.config.engine import ServerConfig
from alerter.core.errors import ConfigError, Location
from alerter.notify.secret import Secret, load_secret
from alerter.service.server import Request, Response

log = logging.getLogger(__name__)

REALM = "alerter"
MIN_TOKEN_LENGTH = 16
"""Shorter tokens can be guessed; ``openssl rand -hex 32`` makes a good one."""


class Access(enum.Enum):
    """What an endpoint needs from its caller."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class Token:
    """A configured token: who holds it and what it may do; the secret is kept only as a digest."""

    name: str
    scope: Access
    digest: bytes

    @classmethod
    def of(cls, name: str, scope: Access, secret: Secret) -> Token:
        return cls(name, scope, _digest(secret.reveal()))


@dataclass(frozen=True)
class Caller:
    """Who made an allowed request: a token's name, a client certificate's name, or nobody known.

    ``kind`` is ``token``, ``certificate`` or ``""`` (no authentication configured).
    """

    kind: str = ""
    name: str = ""

    def author(self, claimed: str) -> str:
        """What to record as the creator of something when the request says ``claimed``.

        Without authentication the request is all there is. With it, the verified name is always
        recorded, after the claimed one when they differ: a shared token ``oncall`` used by ann
        reads ``ann (token oncall)``, and nobody can write a silence in someone else's name alone.
        """
        if not self.kind:
            return claimed
        if not claimed or claimed == self.name:
            return self.name
        return f"{claimed} ({self.kind} {self.name})"


def _digest(value: str) -> bytes:
    """Equal-length values for ``compare_digest``, so even a token's length does not leak."""
    return hashlib.sha256(value.encode()).digest()


class Auth:
    """The bearer tokens of the HTTP API; an ``Auth()`` with no tokens lets every request through."""

    def __init__(
        self, tokens: Sequence[Token] = (), *, protect_reads: bool = False, client_certificates: bool = False
    ) -> None:
        self._tokens = tuple(tokens)
        self.protect_reads = protect_reads
        self.client_certificates = client_certificates

    @property
    def enabled(self) -> bool:
        """Whether callers are authenticated at all (by token or by client certificate)."""
        return bool(self._tokens) or self.client_certificates

    @classmethod
    def from_config(cls, server: ServerConfig, *, environ: Mapping[str, str] | None = None) -> Auth:
        """Read every token named by ``server.auth``; a missing, short or repeated one is a ConfigError."""
        certificates = server.tls is not None and server.tls.client_ca_file is not None
        if server.auth is None:
            return cls(client_certificates=certificates)
        tokens: list[Token] = []
        seen: dict[bytes, str] = {}
        for index, entry in enumerate(server.auth.tokens):
            where = f"server.auth.tokens[{index}].token"
            secret = load_secret(where, env=entry.token_env, file=entry.token_file, environ=environ)
            if len(secret.reveal()) < MIN_TOKEN_LENGTH:
                raise ConfigError(
                    Location(entry.token_file or "environment"),
                    where,
                    f"the token of `{entry.name}` is shorter than {MIN_TOKEN_LENGTH} characters",
                    "use a random one, e.g. `openssl rand -hex 32`",
                )
            token = Token.of(entry.name, Access(entry.scope), secret)
            if token.digest in seen:
                raise ConfigError(
                    Location(entry.token_file or "environment"),
                    where,
                    f"`{entry.name}` has the same token as `{seen[token.digest]}`",
                    "give each holder a token of its own, so the engine knows who called",
                )
            seen[token.digest] = entry.name
            tokens.append(token)
        return cls(tokens, protect_reads=server.auth.protect_reads, client_certificates=certificates)

    def check(self, request: Request, need: Access) -> Caller | Response:
        """The caller when ``request`` may use an endpoint needing ``need``; otherwise the refusal."""
        if not self._tokens or (need is Access.READ and not self.protect_reads):
            return Caller("certificate", request.peer) if request.peer else Caller()
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            return _refuse(
                request, 401, "", "this endpoint needs a token: send `Authorization: Bearer <token>`"
            )
        digest = _digest(presented)
        match: Token | None = None
        for token in self._tokens:  # no early exit: every request costs the same comparisons
            if hmac.compare_digest(digest, token.digest):
                match = token
        if match is None:
            return _refuse(request, 401, "invalid_token", "the bearer token is not valid")
        if need is Access.WRITE and match.scope is not Access.WRITE:
            return _refuse(
                request,
                403,
                "insufficient_scope",
                f"token `{match.name}` may only read; this endpoint needs a token with scope write",
            )
        return Caller("token", match.name)


def _refuse(request: Request, status: int, error: str, message: str) -> Response:
    challenge = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    # The method and path only: the Authorization header is never logged.
    log.info("http request refused", extra={"method": request.method, "path": request.path, "status": status})
    return replace(Response.json({"error": message}, status), headers={"WWW-Authenticate": challenge})
