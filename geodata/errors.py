"""Errors raised by the geodata layer.

Every error subclasses :class:`GeodataError` and a built-in, so callers can catch either.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input file: where it is and what is wrong."""

    file: str
    message: str
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{': '.join(where)}: {self.message}"


class GeodataError(Exception):
    """Base class of every geodata error."""


class DatasetError(GeodataError, ValueError):
    """A file (or a dataset directory) was rejected whole; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        head = f"{len(self.problems)} problem(s)"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class RoadGraphError(GeodataError, ValueError):
    """A road-graph file or array set is malformed."""


class OsmImportError(GeodataError, ValueError):
    """An OpenStreetMap file could not be turned into a road graph."""
