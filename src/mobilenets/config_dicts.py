"""One rule for turning a config dataclass into JSON and back, for every config in the package.

``to_dict`` gives plain JSON types (tuples become lists). ``from_dict`` refuses keys the class
does not have, naming them and the known ones, rather than dropping them: a misspelt or stale
setting must never vanish silently. JSON lists become tuples where the field's default is one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

Config = TypeVar("Config")


def config_to_dict(config: Any) -> dict[str, Any]:
    """The fields of a config dataclass as JSON-ready values (tuples as lists)."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(config).items()
    }


def config_from_dict(cls: type[Config], data: dict[str, Any]) -> Config:
    """``cls(**data)``, with unknown keys refused and JSON lists made tuples where the field is one.

    Raises:
        ValueError: ``data`` has keys that ``cls`` does not; the message lists both.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {sorted(unknown)}; known keys are {sorted(fields)}")
    values = dict(data)
    for name, value in values.items():
        if isinstance(value, list) and isinstance(fields[name].default, tuple):
            values[name] = tuple(value)
    return cls(**values)
