"""The population registry (Dukcapil) asked whether a letter's patient is a registered resident.

rujuk ships no Dukcapil client: access to the registry's data (hak akses pemanfaatan data
kependudukan) comes with an agreement between the district and Ditjen Dukcapil, and each agreement
has its own service. rujuk asks through one small contract (``PopulationRegistry``), and the one
implementation it ships (``HttpRegistry``) speaks that contract over HTTP to the operator's
bridge, which holds the agreement and asks Dukcapil (docs/identity.md has the contract).

The contract: ``lookup(query)`` is asked a NIK with the name, date of birth and sex the letter
gives, and answers ``found`` (a resident with this NIK whose date of birth and sex agree),
``not_found`` (no such resident, or one whose date of birth or sex differ) or ``unavailable``
(no answer in time, or an answer outside the contract). It blocks for at most its timeout, never
raises, and never logs the NIK nor any other part of the query.

With no registry configured (the default) there is no lookup: the letter says the identity was
checked for structure only.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import orjson

from service.errors import InputError
from service.referrals import identity

if TYPE_CHECKING:
    import datetime as dt

    from rules.model import Sex
    from service.referrals.schemas import PatientIn
    from service.settings import Settings

log = logging.getLogger("rujuk")

#: seconds the registry has to answer (a patient is waiting: beyond it the answer is "unavailable")
TIMEOUT_S = 3.0
#: the largest answer read (the contract's answer is a few dozen bytes)
MAX_ANSWER_BYTES = 4096


class Answer(StrEnum):
    """What the registry says of a query."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Query:
    """What the registry is asked: the letter's identity of the patient (personal data: never logged)."""

    nik: str
    name: str
    date_of_birth: dt.date
    sex: Sex

    def __repr__(self) -> str:
        return "Query(<patient identity>)"


class PopulationRegistry(Protocol):
    """A population registry: ``found``, ``not_found`` or ``unavailable`` in its timeout, never raising."""

    #: a name for the operator (what the letter says was asked), e.g. "dukcapil"
    name: str

    def lookup(self, query: Query) -> Answer:
        """Ask once (blocking: call from a worker thread); never log the query."""
        ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer outside the contract, not somewhere else to send a NIK."""

    def redirect_request(self, *_: object, **__: object) -> None:
        return None


class HttpRegistry:
    """The contract over HTTP: ``POST url`` with the query as JSON and ``Authorization: Bearer``.

    The bridge answers ``200`` with ``{"result": "found"}`` or ``{"result": "not_found"}``;
    anything else (another status or body, a refused connection, no answer within ``timeout_s``)
    is ``unavailable``.
    """

    name = "dukcapil"

    def __init__(self, url: str, token: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self._url = url
        self._token = token
        self._timeout_s = timeout_s
        self._opener = urllib.request.build_opener(_NoRedirect)

    def lookup(self, query: Query) -> Answer:
        """Ask the bridge once."""
        body = orjson.dumps(
            {
                "nik": query.nik,
                "name": query.name,
                "date_of_birth": query.date_of_birth.isoformat(),
                "sex": query.sex.value,
            }
        )
        req = urllib.request.Request(  # noqa: S310  the operator's own https URL (checked in Settings)
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self._token}",
            },
        )
        try:
            with self._opener.open(req, timeout=self._timeout_s) as resp:
                status = resp.status
                raw = resp.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            log.warning("population registry: answered HTTP %s", exc.code)
            return Answer.UNAVAILABLE
        except (OSError, ValueError) as exc:  # refused, unreachable, timed out, a malformed answer
            log.warning("population registry: no answer (%s)", type(exc).__name__)
            return Answer.UNAVAILABLE
        return _answer_of(status, raw)


def _answer_of(status: int, raw: bytes) -> Answer:
    """The contract's answer, or ``unavailable`` for anything outside it."""
    if status != 200 or len(raw) > MAX_ANSWER_BYTES:
        log.warning("population registry: answer outside the contract (HTTP %s)", status)
        return Answer.UNAVAILABLE
    try:
        result = orjson.loads(raw).get("result")
    except (orjson.JSONDecodeError, AttributeError):
        result = None
    if result in (Answer.FOUND.value, Answer.NOT_FOUND.value):
        return Answer(result)
    log.warning("population registry: answer outside the contract (no known result)")
    return Answer.UNAVAILABLE


def identity_check(registry: PopulationRegistry | None, patient: PatientIn) -> dict[str, str]:
    """What was checked of the letter's patient, kept with the letter (``patient.identity``).

    ``structure``: ``checked`` (the NIK agrees with the region list, the date of birth and sex) or
    ``confirmed_as_printed`` (staff confirmed what the check could not accept); ``registry``:
    ``not_configured`` or the registry's answer. A NIK the registry does not know is refused
    (422, ``nik_not_registered``) unless staff confirmed it as printed; an unavailable registry
    never holds a letter back.
    """
    overridden = bool(
        identity.nik_problems(patient.nik, date_of_birth=patient.date_of_birth, sex=patient.sex)
    )
    out = {
        "structure": "confirmed_as_printed" if overridden else "checked",
        "regions": identity.REGION_SOURCE,
        "registry": "not_configured",
    }
    if registry is None:
        return out
    answer = registry.lookup(
        Query(nik=patient.nik, name=patient.name, date_of_birth=patient.date_of_birth, sex=patient.sex)
    )
    if answer is Answer.NOT_FOUND and not patient.nik_confirmed:
        raise InputError(
            "patient.nik",
            "the population registry has no resident with this NIK, date of birth and sex: check them "
            "against the KTP or KK, and confirm the NIK as printed if they agree",
            code="nik_not_registered",
            params={"confirmable": True},
        )
    out["registry"] = answer.value
    out["registry_by"] = registry.name
    return out


def population_registry(cfg: Settings) -> PopulationRegistry | None:
    """The registry the settings configure (``RUJUK_DUKCAPIL_URL``), or None: structure only."""
    if not cfg.dukcapil_url:
        return None
    return HttpRegistry(cfg.dukcapil_url, cfg.dukcapil_token, timeout_s=cfg.dukcapil_timeout_s)
