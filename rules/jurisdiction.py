"""Jurisdictions: which rule pack governs which referral, in a deployment of several regencies.

A deployment declares its jurisdictions in a YAML manifest::

    province: {code: "61", name: Kalimantan Barat, pack: kalbar-synthetic.yaml}
    regencies:
      - {code: "6101", name: Sambas, pack: bundled:sambas}
      - {code: "6198", name: Contoh Sintetis, pack: contoh-synthetic.yaml}

The rule (``docs/rules.md``, "Jurisdictions"): one pack governs a whole suggestion, the pack of
the **origin's** regency (a facility's ``regency``; a position's, from the regions layer); an
origin in a regency without a pack of its own falls under the **province** pack. The origin's
pack ranks every capable candidate of the deployment, in any regency (Perbup Sambas 49/2025
Pasal 4 ayat (4): the shortest travel time from the referring facility, with no border), but its
regionalisation covers only origins of its own regency (checked when loading), so it can never
designate a hospital for another regency's Puskesmas.

Loading is strict, like a pack's: every problem is collected and reported with the file and field.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rules.errors import JurisdictionError, PackProblem, RulePackError
from rules.pack import bundled_pack_path, load_rule_pack

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from geodata.models import Facility
    from rules.pack import RulePack

BUNDLED = "bundled:"
_PROVINCE_CODE = re.compile(r"^\d{2}$")
_REGENCY_CODE = re.compile(r"^\d{2}\.?\d{2}$")


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A regency (or the province) and the pack that governs referrals from it."""

    code: str
    name: str
    pack: RulePack


@dataclass(frozen=True)
class Jurisdictions:
    """The packs of a deployment and the rule that picks one (see the module docstring)."""

    #: the province pack: origins of a regency without a pack of its own (None: single pack)
    province: Jurisdiction | None
    regencies: tuple[Jurisdiction, ...]
    #: the pack of an origin in no listed regency: the province pack, or the only pack
    fallback: RulePack
    file: str = ""
    _by_name: Mapping[str, RulePack] = field(default_factory=dict, repr=False)
    _by_code: Mapping[str, RulePack] = field(default_factory=dict, repr=False)

    @classmethod
    def single(cls, pack: RulePack) -> Jurisdictions:
        """One pack for every origin (a deployment without a manifest, as before jurisdictions)."""
        return cls(province=None, regencies=(), fallback=pack)

    @property
    def packs(self) -> tuple[RulePack, ...]:
        """Every pack, the regencies' first, the province's last."""
        out = [j.pack for j in self.regencies]
        return (*out, self.province.pack) if self.province is not None else (*out, self.fallback)

    def for_regency(self, regency: str) -> RulePack:
        """The pack of an origin in this regency (by name, any case), else the province pack."""
        return self._by_name.get(regency.casefold(), self.fallback)

    def for_code(self, code: str | None) -> RulePack:
        """The pack of a regency by its Kemendagri code (``6101`` or ``61.01``), else the province's."""
        if code is None:
            return self.fallback
        return self._by_code.get(code.replace(".", ""), self.fallback)

    def replacing(self, old: RulePack, new: RulePack) -> Jurisdictions:
        """The same jurisdictions with ``new`` wherever ``old`` governed (a planning scenario's pack)."""
        if self.province is None and not self.regencies:
            return Jurisdictions.single(new)

        def swap(p: RulePack) -> RulePack:
            return new if p is old else p

        regencies = tuple(dataclasses.replace(j, pack=swap(j.pack)) for j in self.regencies)
        province = (
            None
            if self.province is None
            else dataclasses.replace(self.province, pack=swap(self.province.pack))
        )
        return Jurisdictions(
            province=province,
            regencies=regencies,
            fallback=swap(self.fallback),
            file=self.file,
            _by_name={k: swap(v) for k, v in self._by_name.items()},
            _by_code={k: swap(v) for k, v in self._by_code.items()},
        )


def _resolve(ref: str, base: Path) -> Path:
    if ref.startswith(BUNDLED):
        return bundled_pack_path(ref[len(BUNDLED) :])
    p = Path(ref)
    return p if p.is_absolute() else base / p


class _Reader:
    def __init__(self, path: Path, facilities: Sequence[Facility]) -> None:
        self.path = path
        self.file = path.name
        self.facilities = facilities
        self.problems: list[PackProblem] = []

    def add(self, where: str, fld: str, message: str) -> None:
        self.problems.append(PackProblem(self.file, where, fld, message))

    def text(self, raw: Mapping[str, Any], key: str, where: str) -> str:
        v = raw.get(key)
        if not isinstance(v, str) or not v.strip():
            self.add(where, key, 'missing or not a text (quote codes: "6101")')
            return ""
        return v.strip()

    def pack(self, raw: Mapping[str, Any], where: str, name: str) -> RulePack | None:
        ref = self.text(raw, "pack", where)
        if not ref:
            return None
        path = _resolve(ref, self.path.parent)
        try:
            pack = load_rule_pack(path, facilities=self.facilities)
        except RulePackError as exc:
            self.add(where, "pack", f"{ref}: the pack was rejected ({len(exc.problems)} problem(s) below)")
            self.problems.extend(exc.problems)
            return None
        if pack.regency.casefold() != name.casefold():
            self.add(where, "pack", f"{ref} is the pack of {pack.regency!r}, not of {name!r}")
        return pack

    def entry(self, raw: object, where: str, code_re: re.Pattern[str]) -> Jurisdiction | None:
        if not isinstance(raw, dict):
            self.add(where, "", "expected {code, name, pack}")
            return None
        for k in sorted(set(raw) - {"code", "name", "pack"}):
            self.add(where, k, "unknown field")
        code, name = self.text(raw, "code", where), self.text(raw, "name", where)
        if code and not code_re.match(code):
            self.add(where, "code", f"{code!r} is not a Kemendagri code ({code_re.pattern})")
        if not name:
            return None
        pack = self.pack(raw, where, name)
        return Jurisdiction(code.replace(".", ""), name, pack) if pack is not None and code else None


def _regionalisation_stays_home(r: _Reader, j: Jurisdiction, where: str) -> None:
    """A regency pack's regions list only origins of that regency (its regionalisation is its own)."""
    regency = {f.id: f.regency for f in r.facilities}
    for reg in j.pack.regions:
        for o in sorted(reg.origins):
            home = regency.get(o)
            if home is not None and home.casefold() != j.name.casefold():
                r.add(
                    where,
                    "pack",
                    f"{j.pack.file}: region '{reg.id}' lists {o!r} of {home!r}: a regency's "
                    f"regionalisation covers only its own origins",
                )


def _region_ids_unique(r: _Reader, listed: Sequence[Jurisdiction]) -> None:
    """A region id names one region in the whole deployment (the facility lists filter by it)."""
    owner: dict[str, str] = {}
    for j in listed:
        for reg in j.pack.regions:
            if reg.id in owner and owner[reg.id] != j.pack.file:
                r.add(j.name, "pack", f"{j.pack.file}: region id '{reg.id}' is also in {owner[reg.id]}")
            owner.setdefault(reg.id, j.pack.file)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise JurisdictionError([PackProblem(path.name, "file", "", f"unreadable: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise JurisdictionError([PackProblem(path.name, "file", "", "a manifest is a YAML mapping")])
    return raw


def load_jurisdictions(path: str | Path, *, facilities: Sequence[Facility]) -> Jurisdictions:
    """Load a manifest and every pack it names, each strictly against the deployment's facilities.

    Refused (every problem at once): an unreadable file or pack, unknown fields, a code that is
    not a Kemendagri code or outside the province, a regency listed twice (by code or name, e.g.
    with two packs), a pack whose ``regency`` is not the one it is listed for, a regency pack whose
    regions list another regency's origins; and every problem of every pack (its file and field).
    """
    p = Path(path)
    r = _Reader(p, facilities)
    raw = _read_manifest(p)
    for k in sorted(set(raw) - {"province", "regencies"}):
        r.add("manifest", k, "unknown field")
    province = r.entry(raw.get("province"), "province", _PROVINCE_CODE)
    items = raw.get("regencies")
    if not isinstance(items, list) or not items:
        r.add("manifest", "regencies", "expected a non-empty list of {code, name, pack}")
        items = []
    regencies: list[Jurisdiction] = []
    seen: dict[tuple[str, str], str] = {}
    for i, item in enumerate(items):
        where = f"regencies[{i}]"
        j = r.entry(item, where, _REGENCY_CODE)
        if j is None:
            continue
        for key in (("code", j.code), ("name", j.name.casefold())):
            if key in seen:
                msg = f"{j.name} ({j.code}) is already listed at {seen[key]}: one pack per regency"
                r.add(where, key[0], msg)
            seen.setdefault(key, where)
        if province is not None and not j.code.startswith(province.code):
            r.add(where, "code", f"{j.code} is not in province {province.code} ({province.name})")
        _regionalisation_stays_home(r, j, where)
        regencies.append(j)
    _region_ids_unique(r, [*regencies, *([province] if province else [])])
    if r.problems or province is None:
        raise JurisdictionError(r.problems)
    return Jurisdictions(
        province=province,
        regencies=tuple(regencies),
        fallback=province.pack,
        file=p.name,
        _by_name={j.name.casefold(): j.pack for j in regencies},
        _by_code={j.code: j.pack for j in regencies},
    )
