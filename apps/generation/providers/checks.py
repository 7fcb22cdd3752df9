"""Endpoint parameter checks shared by the adapters: :func:`check_params` and the
small validator factories that build its field table. No HTTP here: a bad value is
a :class:`ParamError` naming the field, raised before anything is sent."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .base import ParamError

Check = Callable[[str, Any], Any]


def check_params(
    params: Mapping[str, Any], fields: Mapping[str, Check], *, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate ``params`` against ``fields`` (name -> check), fill in ``defaults``.
    An unknown name raises ParamError naming it and the accepted ones."""
    checked = dict(defaults)
    for name, value in params.items():
        check = fields.get(name)
        if check is None:
            known = ", ".join(sorted(fields)) or "none"
            raise ParamError(name, f"unknown parameter (accepted: {known})")
        checked[name] = check(name, value)
    return checked


def one_of(*choices: Any) -> Check:
    def check(name: str, value: Any) -> Any:
        if value not in choices:
            raise ParamError(name, f"must be one of {', '.join(map(repr, choices))}, not {value!r}")
        return value

    return check


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParamError(name, f"must be true or false, not {value!r}")
    return value


def integer(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ParamError(name, f"must be an integer from {low} to {high}, not {value!r}")
        return value

    return check


def number(low: float, high: float) -> Check:
    def check(name: str, value: Any) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not low <= value <= high:
            raise ParamError(name, f"must be a number from {low} to {high}, not {value!r}")
        return value

    return check


def text(max_chars: int) -> Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or len(value) > max_chars:
            raise ParamError(name, f"must be a text of at most {max_chars} characters")
        return value

    return check


def pattern(regex: str, example: str) -> Check:
    compiled = re.compile(regex)

    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ParamError(name, f"must look like {example}, not {value!r}")
        return value

    return check


def forced(required: Any) -> Check:
    """A parameter that may only have one value (``n`` must be 1: one generation is
    one output, replicates are separate generations)."""

    def check(name: str, value: Any) -> Any:
        if value != required or isinstance(value, bool):
            raise ParamError(name, f"must be {required!r}; each generation makes one output")
        return required

    return check
