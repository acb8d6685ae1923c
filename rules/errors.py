"""Errors of rule packs and the matching engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PackProblem:
    """One thing wrong with a rule pack: the file, the rule (or section) and the field."""

    file: str
    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: field '{self.field}': {self.message}"


class RulesError(Exception):
    """Base class of every rules error."""


class RulePackError(RulesError, ValueError):
    """A rule pack was rejected; ``problems`` lists every reason."""

    def __init__(self, problems: list[PackProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))


class UnknownCodeError(RulesError, ValueError):
    """An ICD-10 code that WHO ICD-10 does not have."""


class RequestError(RulesError, ValueError):
    """A referral request the engine cannot work with (names the field)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"field '{field}': {message}")


class JurisdictionError(RulesError, ValueError):
    """A deployment's jurisdictions manifest was rejected; ``problems`` lists every reason
    (a pack's own problems included, each naming the pack's file and field)."""  # noqa: D205, D209

    def __init__(self, problems: list[PackProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))
