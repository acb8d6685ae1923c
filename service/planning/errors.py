"""The planner API's input errors: every problem of a request at once, each with its field and a
code a page can say in its own language (``unknown_facility``, ``unknown_column``...)."""  # noqa: D205, D209

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Sequence

#: one problem: (field, message for a person, code)
Problem = tuple[str, str, str]


class PlanInputError(InputError):
    """A 422 listing every problem (``errors``: field, message, code); ``detail`` names the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            msg = "PlanInputError needs at least one problem"
            raise ValueError(msg)
        field, message, code = problems[0]
        super().__init__(field, message)
        self.code = code
        self.problems = list(problems)

    @classmethod
    def one(cls, field: str, message: str, code: str) -> PlanInputError:
        """A single problem."""
        return cls([(field, message, code)])

    def body(self) -> dict[str, Any]:
        """``detail`` names the first field; ``errors`` lists every problem with its code."""
        return {
            "type": self.kind,
            "detail": f"field '{self.field}': {self}",
            "errors": [{"field": f, "message": m, "code": c} for f, m, c in self.problems],
        }
