"""Every benchmarked path by name: the peers' defaults and ours."""

from __future__ import annotations

from mobilenets.bench.backend import Backend
from mobilenets.bench.backends import OURS
from mobilenets.bench.peer_defaults import PEERS

BACKENDS: dict[str, type[Backend]] = {cls.name: cls for cls in PEERS + OURS}
PEER_NAMES: tuple[str, ...] = tuple(cls.name for cls in PEERS)
OUR_NAMES: tuple[str, ...] = tuple(cls.name for cls in OURS)


def get_backend(name: str) -> Backend:
    """A backend by name; unknown names raise a ValueError listing the known ones."""
    try:
        return BACKENDS[name]()
    except KeyError:
        raise ValueError(f"backend {name!r} is unknown; choose from {', '.join(BACKENDS)}") from None
