"""Shared request and answer shapes: the strict base of every request model, the error shape.

Validation errors name the field (pydantic's ``loc``); nothing here touches storage.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _no_nul(value: Any, path: str = "") -> None:  # noqa: ANN401  any JSON value
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            msg = f"{path or 'value'}: NUL characters and lone surrogates are not allowed"
            raise ValueError(msg)
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_nul(k, f"{path}.{k}" if path else str(k))
            _no_nul(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_nul(v, f"{path}[{i}]")


#: a month, YYYY-MM (years 1000-9999: a month the calendar and the databases can hold)
MONTH = r"^[1-9]\d{3}-(0[1-9]|1[0-2])$"

#: the largest id an integer column holds on every database (PostgreSQL INTEGER)
MAX_ROW_ID = 2**31 - 1


class Strict(BaseModel):
    """Base of every request body: unknown fields refused, frozen, text a database can store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _text_is_storable(cls, data: Any) -> Any:  # noqa: ANN401  raw input
        """Text that no database can store (NUL, lone surrogates) is refused, naming the field."""
        _no_nul(data)
        return data


class FieldError(BaseModel):
    """One problem of a request, by field (``body.patient.nik``, ``query.limit``)."""

    field: str
    message: str


class ErrorOut(BaseModel):
    """Every error answer (``service.errors``): its kind, a sentence, and for 422 every problem."""

    type: str = Field(description="validation_error, unauthorized, forbidden, not_found, conflict, ...")
    detail: str
    errors: list[FieldError] | None = None
