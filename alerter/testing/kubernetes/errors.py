"""The ``Status`` error bodies of the stand-in API server, built as kube-apiserver builds them.

``kubernetes.store`` raises these and ``kubernetes.server`` writes ``ApiError.status()`` as the
response body. Each constructor copies one of kubernetes/kubernetes
``staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go`` (published as kubernetes/apimachinery
``pkg/api/errors/errors.go``) down to the message format, the reason and which ``details`` are
set, because clients (and ``alerter.remediate.kubernetes``) tell errors apart by exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

OPTIMISTIC_LOCK = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
"""``OptimisticLockErrorMsg`` of ``staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go``."""


@dataclass(frozen=True)
class GroupResource:
    """``schema.GroupResource``: ``String()`` is ``resource.group``, or the bare resource for core."""

    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


@dataclass(frozen=True)
class GroupKind:
    """``schema.GroupKind``, which ``NewInvalid`` names the object by (``Kind.group``)."""

    group: str = ""
    kind: str = ""

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


@dataclass(frozen=True)
class FieldError:
    """One ``field.Error`` (``staging/src/k8s.io/apimachinery/pkg/util/validation/field/errors.go``).

    ``value`` is the bad value already formatted the way ``ErrorBody`` prints it (``%q`` for a
    string, ``%#v`` for a ``uint64``, so a missing resourceVersion reads ``0x0``); ``None`` for
    the types whose body carries no value (``Required``).
    """

    type: str  # FieldValueInvalid, FieldValueRequired, ...
    field: str
    value: str | None
    detail: str

    def body(self) -> str:
        label = {"FieldValueInvalid": "Invalid value", "FieldValueRequired": "Required value"}[self.type]
        text = label if self.value is None else f"{label}: {self.value}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def go_quote(text: str) -> str:
    """Go's ``%q`` for the ASCII text the stand-in quotes (names, JSON documents)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class ApiError(Exception):
    """A request the API server refuses: HTTP ``code`` and the ``metav1.Status`` it answers."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Obj:
        """``metav1.Status`` in its field order; ``message``, ``reason`` and ``details`` are ``omitempty``.

        ``metadata`` is a struct, which ``encoding/json`` never omits: it is always ``{}``.
        ``details`` is a pointer: present, even empty, whenever the constructor set it.
        """
        body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        if self.message:
            body["message"] = self.message
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(gr: GroupResource | None = None, name: str = "", causes: list[Obj] | None = None) -> Obj:
    """``metav1.StatusDetails``: name, group, kind (the resource), causes; each ``omitempty``."""
    details: Obj = {}
    if name:
        details["name"] = name
    if gr is not None and gr.group:
        details["group"] = gr.group
    if gr is not None and gr.resource:
        details["kind"] = gr.resource
    if causes:
        details["causes"] = causes
    return details


def not_found(gr: GroupResource, name: str) -> ApiError:
    """``NewNotFound``: ``deployments.apps "x" not found``."""
    return ApiError(404, "NotFound", f"{gr} {go_quote(name)} not found", _details(gr, name))


def already_exists(gr: GroupResource, name: str) -> ApiError:
    """``NewAlreadyExists``: a create of a name that is taken (409, reason AlreadyExists)."""
    return ApiError(409, "AlreadyExists", f"{gr} {go_quote(name)} already exists", _details(gr, name))


def conflict(gr: GroupResource, name: str, err: str = OPTIMISTIC_LOCK) -> ApiError:
    """``NewConflict``: a write carrying a resourceVersion that is no longer current (409)."""
    message = f"Operation cannot be fulfilled on {gr} {go_quote(name)}: {err}"
    return ApiError(409, "Conflict", message, _details(gr, name))


def forbidden(gr: GroupResource, name: str, err: str) -> ApiError:
    """``NewForbidden``; without a name the message has no quoted name at all."""
    message = f"{gr} {go_quote(name)} is forbidden: {err}" if name else f"{gr} is forbidden: {err}"
    return ApiError(403, "Forbidden", message, _details(gr, name))


def invalid(kind: GroupKind, name: str, errors: list[FieldError]) -> ApiError:
    """``NewInvalid`` (422): one cause per field error; several errors aggregate as ``[a, b]``.

    ``fmt.Sprintf("%s %q is invalid: %v", ...)`` of an empty ``GroupKind`` starts with a space.
    """
    causes = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]
    texts = list(dict.fromkeys(str(e) for e in errors))
    aggregate = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    message = f"{kind} {go_quote(name)} is invalid: {aggregate}"
    details: Obj = {}
    if name:
        details["name"] = name
    if kind.group:
        details["group"] = kind.group
    if kind.kind:
        details["kind"] = kind.kind
    details["causes"] = causes
    return ApiError(422, "Invalid", message, details)


def bad_request(message: str) -> ApiError:
    """``NewBadRequest``: 400 with the message as given and no details."""
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    """What ``filters.Unauthorized`` answers a bad credential: ``NewUnauthorized("Unauthorized")``.

    ``staging/src/k8s.io/apiserver/pkg/endpoints/filters/authentication.go``.
    """
    return ApiError(401, "Unauthorized", "Unauthorized")


_GENERIC = {
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
}


def generic(code: int) -> ApiError:
    """``NewGenericServerResponse(code, "", GroupResource{}, "", msg, 0, false)``.

    The server's own message is dropped for these codes and ``details`` is set but empty. The
    API server answers this way when a JSON Patch does not apply, a ``test`` op failing included
    (``applyJSPatch`` in ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go``), and
    when go-restful finds no route under a served group version (``serviceErrorHandler`` in
    ``staging/src/k8s.io/apiserver/pkg/server/handler.go``).
    """
    reason, message = _GENERIC[code]
    return ApiError(code, reason, message, {})


def path_not_found() -> ApiError:
    """The end of the delegation chain for a path nothing serves, e.g. a CRD that is not installed.

    ``staging/src/k8s.io/apiserver/pkg/util/notfoundhandler/not_found_handler.go``: 404, reason
    NotFound, the generic message and no details.
    """
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def unsupported_media_type(accepted: tuple[str, ...]) -> ApiError:
    """A PATCH content type the resource does not take (415, no details).

    ``errUnsupportedMediaType`` of ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/negotiation/errors.go``.
    """
    message = "the body of the request was in an unknown format - accepted media types include: " + ", ".join(
        accepted
    )
    return ApiError(415, "UnsupportedMediaType", message)


def storage_error(code: int, reason: str, message: str) -> ApiError:
    """An error that is no ``StatusError``, converted by ``convertStorageErrorOrNot``.

    ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/status.go``: the raw
    message, no details, and 500 with no reason unless the storage error is a known kind.
    """
    return ApiError(code, reason, message)


def timeout(message: str = "request did not complete within the allotted timeout") -> ApiError:
    """``NewTimeoutError(message, 0)``: 504, reason Timeout, ``details`` set but empty.

    The timeout filter answers this (``staging/src/k8s.io/apiserver/pkg/server/filters/timeout.go``)
    while the handler runs on, so, as ``errors.go`` says, the operation may still complete.
    """
    return ApiError(504, "Timeout", f"Timeout: {message}", {})
