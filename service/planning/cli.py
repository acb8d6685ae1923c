"""``rujuk plan``: simulate, compare and optimise regionalisation on the bundled (or given) data."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd

    from service.matcher import Matcher
    from service.planning.demand import DemandRecord

plan = typer.Typer(
    help="Planners: scenarios, simulation, comparison, optimised regionalisation.", no_args_is_help=True
)

Referrals = Annotated[int, typer.Option(min=1, max=5_000_000, help="synthetic referrals to simulate")]
Seed = Annotated[int, typer.Option(help="random seed of the synthetic demand")]
Out = Annotated[Path | None, typer.Option(help="directory for the tables (CSV and one XLSX)")]
Occupancy = Annotated[
    bool, typer.Option("--occupancy", help="play stays against the registered beds (overflow, no bed)")
]


def _load() -> Matcher:
    from geodata.dataset import load_dataset  # noqa: PLC0415
    from service.matcher import Matcher  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415

    cfg = Settings()
    m = Matcher.load(load_dataset(cfg.dataset_path), jurisdictions_path=cfg.jurisdictions_path)
    typer.echo(f"rule pack: {m.pack.id} {m.pack.version} ({m.pack.regency}, the dataset's regency)", err=True)
    return m


def _scenario_matcher(base: Matcher, path: Path) -> Matcher:
    from service.planning.scenario import ScenarioError, apply, load_scenario  # noqa: PLC0415
    from service.planning.simulate import matcher_for  # noqa: PLC0415

    try:
        applied = apply(load_scenario(path), base.dataset, base.pack, source=path.name)
    except ScenarioError as exc:
        for p in exc.problems:
            typer.echo(f"error: {path.name}: {p}", err=True)
        raise typer.Exit(2) from exc
    return matcher_for(applied, base)


def _write(out: Path | None, tables: dict[str, pd.DataFrame], stem: str) -> None:
    if out is None:
        return
    import pandas as pd  # noqa: PLC0415

    from service.planning.simulate import rounded  # noqa: PLC0415

    tables = rounded(tables)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(out / f"{stem}_{name}.csv", index=False)
    with pd.ExcelWriter(out / f"{stem}.xlsx") as xl:
        for name, df in tables.items():
            df.to_excel(xl, sheet_name=name[:31], index=False)
    typer.echo(f"tables written to {out}/{stem}_*.csv and {out}/{stem}.xlsx")


def _demand(matcher: Matcher, referrals: int, seed: int, historic_days: int = 0) -> list[DemandRecord]:
    from service.planning.demand import synthetic  # noqa: PLC0415

    if historic_days:
        import datetime as dt  # noqa: PLC0415

        from service.database import make_engine, session_factory  # noqa: PLC0415
        from service.planning.historic import historic  # noqa: PLC0415
        from service.settings import Settings  # noqa: PLC0415

        cfg = Settings()
        engine = make_engine(cfg.resolved_database_url(), keyring=cfg.keyring())
        now = dt.datetime.now(dt.UTC)
        with session_factory(engine)() as s:
            rows = historic(s, matcher.dataset, since=now - dt.timedelta(days=historic_days), until=now)
        engine.dispose()
        typer.echo(f"historic demand: {len(rows)} referrals in the last {historic_days} days")
        return rows
    return synthetic(matcher.dataset, referrals=referrals, seed=seed)


def _summary(label: str, overall: pd.DataFrame) -> None:
    row = overall.iloc[0]
    typer.echo(
        f"{label}: {int(row['referred'])} referred of {int(row['demand'])}; travel mean {row['mean_min']:.2f} min, "
        f"p50 {row['p50_min']:.2f}, p90 {row['p90_min']:.2f}; beyond 60 min {100 * row['share_over_60_min']:.1f}%, "
        f"beyond 120 min {100 * row['share_over_120_min']:.1f}%; regionalisation waived "
        f"{int(row['regionalisation_waived'])}; leaving the regency {int(row['leaving_regency'])}; "
        f"overflow {int(row['overflow'])}, no bed {int(row['no_bed'])}"
    )


@plan.command("simulate")
def simulate_cmd(
    scenario: Annotated[Path | None, typer.Option(help="scenario file (YAML); none: the base")] = None,
    referrals: Referrals = 10_000,
    seed: Seed = 1,
    out: Out = None,
    occupancy: Occupancy = False,
    historic_days: Annotated[
        int,
        typer.Option(min=0, max=3660, help="use the referrals of the last N days in the database instead"),
    ] = 0,
) -> None:
    """Send demand (synthetic, or historic) through the matching engine; metrics per kecamatan, Puskesmas, hospital."""
    import pandas as pd  # noqa: PLC0415

    from service.planning.simulate import metrics, simulate  # noqa: PLC0415

    base = _load()
    matcher = _scenario_matcher(base, scenario) if scenario else base
    demand = _demand(matcher, referrals, seed, historic_days)
    if not demand:
        typer.echo("no demand to simulate", err=True)
        raise typer.Exit(1)
    t0 = time.perf_counter()
    outcomes = simulate(matcher, demand, occupancy=occupancy)
    elapsed = time.perf_counter() - t0
    tables = metrics(outcomes, demand, matcher)
    _summary(scenario.name if scenario else "base", tables["overall"])
    typer.echo(
        f"{len(demand)} referrals simulated in {elapsed:.2f} s (modelled road network: travel times are estimates)"
    )
    tables["outcomes"] = pd.DataFrame([asdict(o) for o in outcomes])
    _write(out, tables, "simulation")


@plan.command("compare")
def compare_cmd(
    scenario: Annotated[Path, typer.Argument(help="scenario file (YAML)")],
    referrals: Referrals = 10_000,
    seed: Seed = 1,
    out: Out = None,
    occupancy: Occupancy = False,
) -> None:
    """The base and a scenario on the same demand, side by side with the differences."""
    from service.planning.changes import changes  # noqa: PLC0415
    from service.planning.simulate import compare, metrics, simulate  # noqa: PLC0415

    base = _load()
    scen = _scenario_matcher(base, scenario)
    demand = _demand(base, referrals, seed)
    b_out = simulate(base, demand, occupancy=occupancy)
    s_out = simulate(scen, demand, occupancy=occupancy)
    b, s = metrics(b_out, demand, base), metrics(s_out, demand, scen)
    _summary("base", b["overall"])
    _summary(scenario.name, s["overall"])
    moved = changes(demand, b_out, s_out, scen.dataset)
    typer.echo(f"{moved['referrals']} of {len(demand)} referrals change destination")
    if moved["mean_min_diff"] is not None:
        typer.echo(
            f"  their travel time: {moved['mean_min_base']:.2f} min today, {moved['mean_min_scenario']:.2f} "
            f"in the scenario ({moved['mean_min_diff']:+.2f} min each)"
        )
    _write(out, compare(b, s), "comparison")
    if out is not None:
        from service.planning.plots import travel_time_png  # noqa: PLC0415

        travel_time_png({"base": b_out, scenario.name: s_out}, out / "comparison_travel_time.png")
        typer.echo(f"plot written to {out}/comparison_travel_time.png")


@plan.command("coverage")
def coverage_cmd(
    scenario: Annotated[Path | None, typer.Option(help="scenario file (YAML); none: the base")] = None,
    out: Out = None,
) -> None:
    """Population within 30 / 60 / 120 minutes by road of each kind of care, per view and per desa."""
    from service.planning.coverage import coverage  # noqa: PLC0415

    base = _load()
    matcher = _scenario_matcher(base, scenario) if scenario else base
    tables = coverage(matcher)
    for _, row in tables["summary"].iterrows():
        typer.echo(
            f"{row['view']}: {row['facilities']} facilities; within 30 / 60 / 120 min: "
            f"{100 * row['share_within_30_min']:.1f}% / {100 * row['share_within_60_min']:.1f}% / "
            f"{100 * row['share_within_120_min']:.1f}% of the population"
        )
    _write(out, tables, "coverage")


@plan.command("map")
def map_cmd(
    out: Annotated[Path, typer.Option(help="the HTML file to write")],
    scenario: Annotated[Path | None, typer.Option(help="scenario file (YAML); none: the base")] = None,
    referrals: Referrals = 10_000,
    seed: Seed = 1,
    png: Annotated[Path | None, typer.Option(help="also the two maps as a PNG image")] = None,
) -> None:
    """One HTML page (offline): catchments by hospital and road time to the nearest hospital."""
    from service.planning.coverage import coverage  # noqa: PLC0415
    from service.planning.maps import catchment_html  # noqa: PLC0415
    from service.planning.simulate import simulate  # noqa: PLC0415

    base = _load()
    matcher = _scenario_matcher(base, scenario) if scenario else base
    demand = _demand(matcher, referrals, seed)
    outcomes = simulate(matcher, demand)
    by_desa = coverage(matcher)["by_desa"]
    title = f"Rujukan: {scenario.name if scenario else 'base'}"
    out.write_text(catchment_html(matcher, demand, outcomes, by_desa, title=title), encoding="utf-8")
    typer.echo(f"map written to {out}")
    if png is not None:
        from service.planning.plots import maps_png  # noqa: PLC0415

        maps_png(matcher, demand, outcomes, by_desa, png, title=title)
        typer.echo(f"maps written to {png}")


@plan.command("optimise")
def optimise_cmd(
    referrals: Referrals = 10_000,
    seed: Seed = 1,
    capacity_factor: Annotated[
        float, typer.Option(min=0.1, max=100.0, help="regional hospitals' capacity as a multiple of demand")
    ] = 1.2,
    time_limit: Annotated[float, typer.Option(min=0.1, max=3600.0, help="solver time limit, seconds")] = 30.0,
    out: Annotated[Path | None, typer.Option(help="write the scenario (YAML) here")] = None,
) -> None:
    """The regionalisation with the least demand-weighted travel time under hospital capacities."""
    from service.planning.optimise import optimise  # noqa: PLC0415
    from service.planning.scenario import dump  # noqa: PLC0415

    base = _load()
    demand = _demand(base, referrals, seed)
    plan_ = optimise(base, demand, capacity_factor=capacity_factor, time_limit_s=time_limit, seed=seed)
    sol = plan_.solution
    if sol.status == "infeasible":
        typer.echo(f"error: {sol.reason}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"{sol.status}: {sol.mean_time_s / 60:.1f} min per non-emergency referral "
        f"(regulation: {plan_.current_mean_s / 60:.1f}); gap {100 * sol.gap:.2f}%; {sol.solve_s:.2f} s; "
        f"{len(plan_.scenario.changes)} Puskesmas move"
    )
    for h, load in sol.load.items():
        typer.echo(
            f"  {h}: {load} referrals (capacity {plan_.problem.capacity[plan_.problem.hospital_ids.index(h)]})"
        )
    text = dump(plan_.scenario)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"scenario written to {out} (try: rujuk plan compare {out})")
