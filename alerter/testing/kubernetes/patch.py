"""JSON Patch and JSON merge patch, applied the way kube-apiserver applies them.

``kubernetes.store`` calls ``decode_json_patch`` / ``json_patch`` / ``merge_patch`` for PATCH
requests. The API server applies JSON Patch with gopkg.in/evanphx/json-patch.v4 (imported by
kubernetes/kubernetes ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go``), whose
rules differ from a textbook RFC 6902 in ways a client can observe, so they are copied from
evanphx/json-patch ``patch.go``: ``replace`` of a missing object key adds it, ``copy`` of a
missing key adds ``null``, ``test`` of a missing or null value passes only for ``"value": null``,
array indices may be negative for ``add`` and ``remove``, and scalars compare by their JSON text
(``2`` and ``2.0`` differ). Any failure is a ``PatchError``; the store answers it with the generic
422 (``errors.generic``), which drops this message.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from alerter.testing.kubernetes.errors import ApiError, bad_request

MAX_OPERATIONS = 10000
"""``maxJSONPatchOperations`` of ``handlers/patch.go``."""

_INDEX = re.compile(r"^[+-]?[0-9]+$")  # what strconv.Atoi accepts


class PatchError(Exception):
    """A JSON Patch that does not apply to the document."""


def go_type(value: Any) -> str:
    """The JSON type name ``encoding/json`` uses in ``cannot unmarshal X into ...`` messages."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


def decode_json_patch(body: Any) -> list[dict[str, Any]]:
    """``jsonpatch.DecodePatch``: anything but an array of objects is a 400 with Go's message."""
    if not isinstance(body, list):
        raise bad_request(f"json: cannot unmarshal {go_type(body)} into Go value of type jsonpatch.Patch")
    ops: list[dict[str, Any]] = []
    for op in body:
        if op is not None and not isinstance(op, dict):
            raise bad_request(
                f"json: cannot unmarshal {go_type(op)} into Go value of type jsonpatch.Operation"
            )
        ops.append(op or {})
    if len(ops) > MAX_OPERATIONS:
        message = f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {len(ops)}"
        raise ApiError(413, "RequestEntityTooLarge", f"Request entity too large: {message}")
    return ops


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _index(key: str) -> int:
    if not _INDEX.match(key):
        raise PatchError(f"value was not a proper array index: '{key}'")
    return int(key)


def _get(node: Any, key: str) -> Any:
    """``container.get``: a missing object key is no error (it reads as null), an array index is."""
    if isinstance(node, dict):
        return node.get(key)
    index = _index(key)
    if not 0 <= index < len(node):
        raise PatchError(f"Unable to access invalid index: {index}")
    return node[index]


def _find(doc: Any, path: str) -> tuple[Any, str]:
    """``findObject``: the container of ``path``'s last token, or None when the way there is missing."""
    tokens = path.split("/")
    if len(tokens) < 2:
        return None, ""
    node = doc
    for token in tokens[1:-1]:
        try:
            node = _get(node, _unescape(token))
        except PatchError:
            return None, ""
        if not isinstance(node, dict | list):
            return None, ""
    return node, _unescape(tokens[-1])


def _add(node: Any, key: str, value: Any) -> None:
    if isinstance(node, dict):
        node[key] = value
        return
    if key == "-":
        node.append(value)
        return
    index, size = _index(key), len(node) + 1
    if index >= size or index < -size:
        raise PatchError(f"Unable to access invalid index: {index}")
    node.insert(index + size if index < 0 else index, value)


def _remove(node: Any, key: str) -> None:
    if isinstance(node, dict):
        if key not in node:
            raise PatchError(f"Unable to remove nonexistent key: {key}")
        del node[key]
        return
    index = _index(key)
    if index >= len(node) or index < -len(node):
        raise PatchError(f"Unable to access invalid index: {index}")
    del node[index]


def _equal(doc: Any, value: Any) -> bool:
    """``lazyNode.equal``: objects and arrays structurally, scalars by their JSON text."""
    if isinstance(doc, dict):
        return (
            isinstance(value, dict)
            and doc.keys() == value.keys()
            and all(
                (doc[k] is None and value[k] is None)
                or (doc[k] is not None and value[k] is not None and _equal(doc[k], value[k]))
                for k in doc
            )
        )
    if isinstance(doc, list):
        return (
            isinstance(value, list)
            and len(doc) == len(value)
            and all(_equal(a, b) for a, b in zip(doc, value, strict=True))
        )
    return not isinstance(value, dict | list) and json.dumps(doc) == json.dumps(value)


def _path(op: dict[str, Any], field: str = "path") -> str:
    value = op.get(field)
    if not isinstance(value, str):
        raise PatchError(f"operation missing {field} field")
    return value


def _apply(doc: Any, op: dict[str, Any]) -> None:
    kind = op.get("op") if isinstance(op.get("op"), str) else "unknown"
    if kind not in ("add", "remove", "replace", "move", "copy", "test"):
        raise PatchError(f"Unexpected kind: {kind}")
    if kind in ("move", "copy"):
        source = _path(op, "from")
        node, key = _find(doc, source)
        if node is None:
            raise PatchError(f"{kind} operation does not apply: doc is missing from path: {source}")
        value = copy.deepcopy(_get(node, key))
        if kind == "move":
            _remove(node, key)
    else:
        value = copy.deepcopy(op.get("value"))
    path = _path(op)
    node, key = _find(doc, path)
    if node is None:
        raise PatchError(f"{kind} operation does not apply: doc is missing path: {path}")
    if kind == "remove":
        _remove(node, key)
    elif kind == "replace":
        _get(node, key)  # only an array index can be missing here
        if isinstance(node, dict):
            node[key] = value
        else:
            node[_index(key)] = value
    elif kind == "test":
        current = _get(node, key)
        passed = ("value" in op and op["value"] is None) if current is None else _equal(current, value)
        if not passed or (current is not None and "value" not in op):
            raise PatchError(f"testing value {path} failed")
    else:
        _add(node, key, value)


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """Apply RFC 6902 operations to a copy of ``doc``, all or nothing; raises ``PatchError``."""
    out = copy.deepcopy(doc)
    for op in ops:
        _apply(out, op)
    return out


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: ``null`` deletes a key, objects merge, anything else replaces.

    The store also uses it for strategic merge patches of built-in kinds, which agrees with the
    API server for the maps remediation patches; lists with a patch merge key (containers by
    name, say) are replaced here where the API server would merge them.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
