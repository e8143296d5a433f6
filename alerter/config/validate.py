"""Turning pydantic's validation errors into ConfigErrors a user can act on.

Pydantic reports a location as a tuple of keys; this module maps it to ``file:line:col``, writes
the field path the way users read YAML (``groups[0].rules[2].for``), and adds hints: "did you
mean" for unknown keys, ``*_env``/``*_file`` for inline secrets.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from alerter.config.engine import INLINE_SECRET_KEYS
from alerter.config.rules import RULE_KINDS
from alerter.config.yamlfile import Document, Loc
from alerter.core.errors import ConfigError


def field_path(loc: Loc) -> str:
    """``("groups", 0, "rules", 2, "for")`` -> ``groups[0].rules[2].for``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated/list/dict wrappers down to what a key or index leads to."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(members[0]) if len(members) == 1 else annotation
    return annotation


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class whose fields live at ``loc`` (for suggesting keys), if there is one."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(part, str) and part in RULE_KINDS:
            current = RULE_KINDS[part]  # the tag of a tagged union says which member it was
        elif isinstance(part, int) and origin is list:
            current = typing.get_args(current)[0]
        elif isinstance(part, str) and origin is dict:
            current = typing.get_args(current)[1]
        elif isinstance(part, str) and isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(f.alias or n): f for n, f in current.model_fields.items()}
            if part not in fields:
                return None
            current = fields[part].annotation
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _shown(loc: Loc) -> Loc:
    """``loc`` as it is in the file: without the tags pydantic adds for a tagged union's member."""
    return tuple(part for part in loc if not (isinstance(part, str) and part in RULE_KINDS))


def _unknown_key(doc: Document, root: type[BaseModel], loc: Loc, prefix: Loc) -> ConfigError:
    key = str(loc[-1])
    shown = (*prefix, *_shown(loc))
    where = doc.location(shown, at_key=True)
    path = field_path(shown)
    if key in INLINE_SECRET_KEYS:
        return ConfigError(
            where,
            path,
            "secrets must not be written inline",
            f"use {INLINE_SECRET_KEYS[key]} to name an environment variable or a mounted file",
        )
    model = _model_at(root, loc[:-1])
    keys = _keys_of(model) if model else []
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean `{close[0]}`?"
    elif keys:
        hint = f"known keys: {', '.join(keys)}"
    else:
        hint = "remove it"
    return ConfigError(where, path, f"unknown key `{key}`", hint)


def _message(error: Any) -> tuple[str, str]:
    """(message, hint) for one pydantic error dict."""
    kind = error["type"]
    msg = str(error["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    given = error.get("input")
    hint = ""
    if kind == "missing":
        return "required field is missing", "add it"
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "literal_error":
        shown = repr(given) if not isinstance(given, dict | list) else type(given).__name__
        msg = f"{msg[0].lower()}{msg[1:]}, got {shown}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        msg = f"{msg[0].lower()}{msg[1:]}, got {given!r}"
    if "(" in msg and msg.endswith(")"):
        msg, _, hint = msg[:-1].partition(" (")
    return msg, hint


def errors_from(
    exc: ValidationError, doc: Document, root: type[BaseModel], prefix: Loc = ()
) -> list[ConfigError]:
    """All errors of one ValidationError, located in ``doc``; ``prefix`` is where ``root`` sits."""
    out: list[ConfigError] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        full = (*prefix, *loc)
        if error["type"] == "extra_forbidden":
            out.append(_unknown_key(doc, root, loc, prefix))
            continue
        message, hint = _message(error)
        shown = _shown(full)
        out.append(ConfigError(doc.location(shown), field_path(shown), message, hint))
    return out
