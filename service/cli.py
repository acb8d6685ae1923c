"""The ``rujuk`` command: data checks, OpenStreetMap import, and serving the API."""

from __future__ import annotations

import time
from pathlib import Path  # noqa: TC003  typer reads annotations at run time
from typing import Annotated

import typer

from geodata.dataset import bundled_dataset_path, check_dataset
from geodata.errors import OsmImportError
from geodata.osm import import_road_file
from geodata.roadgraph import load_road_graph

app = typer.Typer(help="rujuk: referral matching and ambulance routing (SISRUTE).", no_args_is_help=True)
data = typer.Typer(help="Check and import geodata.", no_args_is_help=True)
app.add_typer(data, name="data")


@data.command("check")
def data_check(
    path: Annotated[Path | None, typer.Argument(help="dataset directory (default: bundled Sambas)")] = None,
) -> None:
    """List every problem of a dataset directory; exit code 1 when there is any."""
    target = path or bundled_dataset_path()
    problems = check_dataset(target)
    if problems:
        typer.echo(f"{target}: {len(problems)} problem(s)", err=True)
        for p in problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{target}: OK")


@data.command("import-osm")
def data_import_osm(
    source: Annotated[Path, typer.Argument(help=".osm.pbf or OSMnx .graphml file")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="road-graph file (.npz)")] = None,
) -> None:
    """Import the drivable road network of an OSM file into rujuk's road-graph format."""
    out = output or source.with_name(source.name.split(".")[0] + ".roads.npz")
    t0 = time.perf_counter()
    try:
        graph, report = import_road_file(source)
    except OsmImportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    graph.save(out)
    t1 = time.perf_counter()
    load_road_graph(out)
    t2 = time.perf_counter()
    typer.echo(
        f"{source.name}: kept {report.nodes_kept} nodes / {report.edges_kept} directed edges "
        f"(largest strongly connected of {report.components} components; dropped "
        f"{report.nodes_dropped} nodes, {report.edges_dropped} edges)\n"
        f"wrote {out} (version {graph.version}) in {t1 - t0:.2f} s; reloads in {t2 - t1:.3f} s"
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (RUJUK_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (RUJUK_PORT)")] = None,
    dataset: Annotated[Path | None, typer.Option(help="dataset directory (RUJUK_DATASET_PATH)")] = None,
) -> None:
    """Start the HTTP API on the bundled Sambas data (or the given dataset)."""
    import uvicorn  # noqa: PLC0415

    from service.app import create_app  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415

    cfg = Settings()
    overrides = {
        k: v for k, v in {"host": host, "port": port, "dataset_path": dataset}.items() if v is not None
    }
    cfg = cfg.model_copy(update=overrides)
    problems = check_dataset(cfg.dataset_path)
    if problems:
        for p in problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(1)
    uvicorn.run(create_app(cfg), host=cfg.host, port=cfg.port)


def main() -> None:
    """Entry point of the ``rujuk`` console script."""
    app()
