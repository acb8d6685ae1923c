"""Maps for planners as one self-contained HTML file (inline SVG: no tiles, no scripts, offline).

Two maps of the same desa: coloured by the hospital their referrals go to (the catchments of
the simulation), and by road time to the nearest hospital. Roads, hospitals and Puskesmas are
drawn from rujuk's own data; the road network is labelled modelled when it is.
"""

from __future__ import annotations

import html
import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from service.matcher import Matcher
    from service.planning.demand import DemandRecord
    from service.planning.simulate import Outcome

PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4", "#b2df8a",
           "#fb9a99", "#cab2d6", "#666666")  # fmt: skip
TIME_BANDS = ((30, "#1a9850", "≤ 30 min"), (60, "#a6d96a", "30-60 min"), (120, "#fdae61", "60-120 min"),
              (math.inf, "#d73027", "> 120 min"))  # fmt: skip
W, H = 560, 640


def catchments(
    demand: Sequence[DemandRecord], outcomes: Sequence[Outcome]
) -> tuple[dict[str, Counter[str]], list[str], dict[str, str]]:
    """Per desa, where its referrals go; the hospitals by referrals received; a colour each."""
    dest_of: dict[str, Counter[str]] = defaultdict(Counter)
    for rec, out in zip(demand, outcomes, strict=True):
        if rec.settlement_id and out.destination_id:
            dest_of[rec.settlement_id][out.destination_id] += 1
    received = Counter(h for c in dest_of.values() for h in c.elements())
    hospitals = [h for h, _ in received.most_common()]
    return dest_of, hospitals, {h: PALETTE[i % len(PALETTE)] for i, h in enumerate(hospitals)}


def _projector(matcher: Matcher) -> tuple[float, float, float, float, float]:
    # the frame is the regency's desa (roads to hospitals far outside run off the edge)
    lons = [s.centroid.lon for s in matcher.dataset.settlements]
    lats = [s.centroid.lat for s in matcher.dataset.settlements]
    lon0, lon1 = min(lons) - 0.05, max(lons) + 0.05
    lat0, lat1 = min(lats) - 0.05, max(lats) + 0.05
    kx = math.cos(math.radians((lat0 + lat1) / 2))
    scale = min((W - 40) / max((lon1 - lon0) * kx, 1e-9), (H - 40) / max(lat1 - lat0, 1e-9))
    return lon0, lat1, kx, scale, 20.0


def _svg(
    matcher: Matcher,
    dots: list[tuple[float, float, float, str, str]],
    legend: list[tuple[str, str]],
    title: str,
) -> str:
    lon0, lat1, kx, scale, pad = _projector(matcher)

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return pad + (lon - lon0) * kx * scale, pad + (lat1 - lat) * scale

    g = matcher.dataset.roads
    parts = [f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{html.escape(title)}" overflow="hidden">',
             '<rect width="100%" height="100%" fill="#f7f7f2"/>']  # fmt: skip
    for u, v in zip(g.edge_u.tolist(), g.edge_v.tolist(), strict=True):
        if u < v:
            (x1, y1), (x2, y2) = xy(float(g.lon[u]), float(g.lat[u])), xy(float(g.lon[v]), float(g.lat[v]))
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#c8c8c0" stroke-width="1"/>'
            )
    for lon, lat, r, colour, tip in dots:
        x, y = xy(lon, lat)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" fill-opacity="0.8" stroke="#333" '
                     f'stroke-width="0.3"><title>{html.escape(tip)}</title></circle>')  # fmt: skip
    for f in matcher.dataset.facilities:
        x, y = xy(f.location.lon, f.location.lat)
        if x < 0 or y < 0 or x > W or y > H:
            continue
        if f.is_hospital:
            parts.append(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="#fff" stroke="#000" stroke-width="1.5">'
                         f"<title>{html.escape(f.name)} ({f.id})</title></rect>")  # fmt: skip
        else:
            parts.append(f'<path d="M{x:.1f},{y - 4:.1f} l4,7 h-8 z" fill="#fff" stroke="#000" stroke-width="1">'
                         f"<title>{html.escape(f.name)}</title></path>")  # fmt: skip
    ly = H - 18 * len(legend) - 10
    for k, (colour, label) in enumerate(legend):
        parts.append(f'<rect x="{W - 200}" y="{ly + 18 * k}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{W - 182}" y="{ly + 18 * k + 10}" font-size="11">{html.escape(label)}</text>')  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts)


def catchment_html(
    matcher: Matcher,
    demand: Sequence[DemandRecord],
    outcomes: Sequence[Outcome],
    by_desa: pd.DataFrame,
    *,
    title: str = "Rujukan: catchments and travel time",
) -> str:
    """The two maps in one page, with a note on the road network's provenance."""
    dest_of, hospitals, colour = catchments(demand, outcomes)
    names = {f.id: f.name for f in matcher.dataset.facilities}
    top = by_desa["population"].max() or 1
    catch, timed = [], []
    for _, row in by_desa.iterrows():
        r = 2 + 7 * math.sqrt(row["population"] / top)
        counts = dest_of.get(row["desa_id"])
        if counts:
            h = counts.most_common(1)[0][0]
            catch.append(
                (
                    row["lon"],
                    row["lat"],
                    r,
                    colour[h],
                    f"{row['name']}: {names.get(h, h)} ({counts[h]} of {sum(counts.values())})",
                )
            )
        raw = row.get("any-hospital_min")
        t = float(raw) if raw is not None and math.isfinite(float(raw)) else math.inf  # NaN: no road
        band = next(b for b in TIME_BANDS if t <= b[0])
        timed.append((row["lon"], row["lat"], r, band[1], f"{row['name']}: {t} min to the nearest hospital"))
    legend_c = [(colour[h], names.get(h, h)) for h in hospitals[:10]]
    legend_t = [(c, label) for _, c, label in TIME_BANDS]
    note = ("Road travel times come from a MODELLED road network (estimates)." if matcher.dataset.roads.modelled
            else "Road travel times from the imported road network.")  # fmt: skip
    return (
        f"<!doctype html><html lang='id'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<style>body{font-family:sans-serif;margin:1rem}figure{display:inline-block;margin:0 1rem 1rem 0}"
        "svg{max-width:100%;height:auto;border:1px solid #ccc}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(note)} Squares: hospitals; triangles: Puskesmas; "
        "circles: desa, by population.</p>"
        f"<figure><figcaption>Catchments: where each desa's referrals go</figcaption>"
        f"{_svg(matcher, catch, legend_c, 'catchments')}</figure>"
        f"<figure><figcaption>Road time to the nearest hospital</figcaption>"
        f"{_svg(matcher, timed, legend_t, 'travel time')}</figure></body></html>"
    )
