"""The ``rujuk`` command: data checks, OpenStreetMap import, and serving the API."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from geodata.dataset import bundled_dataset_path, check_dataset
from geodata.errors import OsmImportError, Problem
from geodata.models import BedType, Service
from geodata.roadgraph import load_road_graph
from rules.model import FacilityStatus, ServiceType, Sex
from service.planning.cli import plan

if TYPE_CHECKING:
    from service.settings import Settings

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


@data.command("import-fhir")
def data_import_fhir(
    bundle: Annotated[
        Path, typer.Argument(help="a FHIR R4 Bundle (JSON): Organization, Location, HealthcareService")
    ],
    directory: Annotated[Path, typer.Argument(help="the dataset directory whose facilities.csv it writes")],
) -> None:
    """Import a facility registry from a FHIR Bundle into a dataset directory (docs/fhir.md)."""
    from service.fhir.registry import read_registry, write_registry  # noqa: PLC0415

    rows, problems = read_registry(bundle)
    target = directory / "facilities.csv"
    if not problems:
        if not directory.is_dir():
            problems = [Problem(str(directory), "not a directory")]
        else:
            target, problems = write_registry(rows, directory)
    if problems:
        typer.echo(f"{bundle}: {len(problems)} problem(s); nothing written", err=True)
        for p in problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"wrote {target}: {len(rows)} facilities; check the dataset with: rujuk data check {directory}"
    )


@data.command("import-osm")
def data_import_osm(
    source: Annotated[Path, typer.Argument(help=".osm.pbf or OSMnx .graphml file")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="road-graph file (.npz)")] = None,
) -> None:
    """Import the drivable road network of an OSM file into rujuk's road-graph format."""
    out = output or source.with_name(source.name.split(".")[0] + ".roads.npz")
    from geodata.osm import import_road_file  # noqa: PLC0415  SciPy: not imported by `rujuk serve`

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


def _jurisdiction_problems(cfg: Settings) -> list[str]:
    """Every problem of the jurisdictions manifest and its packs (none without a manifest)."""
    from geodata.dataset import load_dataset  # noqa: PLC0415
    from rules.errors import JurisdictionError  # noqa: PLC0415
    from rules.jurisdiction import load_jurisdictions  # noqa: PLC0415

    if cfg.jurisdictions_path is None:
        return []
    try:
        load_jurisdictions(cfg.jurisdictions_path, facilities=load_dataset(cfg.dataset_path).facilities)
    except JurisdictionError as exc:
        return [str(p) for p in exc.problems]
    return []


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (RUJUK_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (RUJUK_PORT)")] = None,
    dataset: Annotated[Path | None, typer.Option(help="dataset directory (RUJUK_DATASET_PATH)")] = None,
    jurisdictions: Annotated[
        Path | None, typer.Option(help="jurisdictions manifest (RUJUK_JURISDICTIONS_PATH)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="worker processes (RUJUK_WORKERS)")
    ] = None,
) -> None:
    """Start the HTTP API on the bundled Sambas data (or the given dataset).

    The database (RUJUK_DATABASE_URL, default SQLite under RUJUK_DATA_DIR) is migrated first, once,
    then the workers start; each loads the dataset and the road engine.
    """
    import gc  # noqa: PLC0415
    import os  # noqa: PLC0415

    from service import GC_OFF_UNTIL_STARTED  # noqa: PLC0415

    gc.disable()  # until the app has started (service.app turns it on): see GC_OFF_UNTIL_STARTED
    os.environ[GC_OFF_UNTIL_STARTED] = "1"  # the same in the worker processes
    import uvicorn  # noqa: PLC0415

    from service.database import make_engine  # noqa: PLC0415
    from service.migrate import upgrade  # noqa: PLC0415
    from service.sealing import KeyringError  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415

    for key, value in (
        ("RUJUK_HOST", host),
        ("RUJUK_PORT", port),
        ("RUJUK_DATASET_PATH", dataset),
        ("RUJUK_JURISDICTIONS_PATH", jurisdictions),
        ("RUJUK_WORKERS", workers),
    ):
        if value is not None:
            os.environ[key] = str(value)  # the worker processes read the same settings
    cfg = Settings()
    problems = [str(p) for p in check_dataset(cfg.dataset_path)] or _jurisdiction_problems(cfg)
    if problems:
        for p in problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(1)
    try:
        keyring = cfg.keyring()  # the key file is made once here, not raced by the workers
    except KeyringError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    engine = make_engine(cfg.resolved_database_url(), keyring=keyring)
    upgrade(engine)
    engine.dispose()
    cfg.resolved_secret_key()  # created once here, not raced by the workers
    embedded = None
    if not cfg.redis_url:
        from service.tracking.embedded_redis import EmbeddedRedis, EmbeddedRedisError  # noqa: PLC0415

        embedded = EmbeddedRedis(cfg.data_dir)
        try:
            os.environ["RUJUK_REDIS_URL"] = embedded.start()
        except EmbeddedRedisError as exc:
            typer.echo(f"warning: ambulance positions unavailable: {exc}", err=True)
            embedded = None
        else:
            typer.echo(f"ambulance positions: private redis-server at {embedded.url}", err=True)
    if cfg.workers > 1:
        gc.enable()  # this process only supervises the workers; it starts no app
    try:
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            host=cfg.host,
            port=cfg.port,
            workers=cfg.workers,
            proxy_headers=True,
            log_level="info",
            log_config=log_config(),
        )
    finally:
        if embedded is not None:
            embedded.stop()


def log_config() -> dict[str, object]:
    """Uvicorn's logging, with query strings left out of the access log.

    A query string can carry a device token (the OsmAnd protocol sends its ``id`` there) or a
    search; paths are enough to follow what happened.
    """
    import copy  # noqa: PLC0415

    from uvicorn.config import LOGGING_CONFIG  # noqa: PLC0415

    cfg: dict[str, object] = copy.deepcopy(LOGGING_CONFIG)
    cfg["filters"] = {"no_query": {"()": "service.logs.NoQueryString"}}
    handlers = cfg["handlers"]
    assert isinstance(handlers, dict)
    handlers["access"]["filters"] = ["no_query"]
    return cfg


db = typer.Typer(help="The service database.", no_args_is_help=True)
app.add_typer(db, name="db")
users = typer.Typer(help="Accounts.", no_args_is_help=True)
app.add_typer(users, name="users")
ambulances_cli = typer.Typer(help="Ambulances and their tracking devices.", no_args_is_help=True)
app.add_typer(ambulances_cli, name="ambulances")
app.add_typer(plan, name="plan")
keys = typer.Typer(help="Keys of the patient data at rest (UU 27/2022).", no_args_is_help=True)
app.add_typer(keys, name="keys")


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema of RUJUK_DATABASE_URL (default: SQLite under RUJUK_DATA_DIR)."""
    from service.database import make_engine  # noqa: PLC0415
    from service.migrate import upgrade  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415

    cfg = Settings()
    engine = make_engine(cfg.resolved_database_url(), keyring=cfg.keyring())
    upgrade(engine)
    engine.dispose()
    typer.echo(f"schema at head on {engine.url.render_as_string(hide_password=True)}")


@contextlib.contextmanager
def _sealed_store() -> Iterator[Any]:
    """The migrated database's engine, with the keys of the settings (bad keys exit 2)."""
    from service.database import make_engine  # noqa: PLC0415
    from service.migrate import upgrade  # noqa: PLC0415
    from service.sealing import KeyringError  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415

    cfg = Settings()
    try:
        engine = make_engine(cfg.resolved_database_url(), keyring=cfg.keyring())
    except KeyringError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def _print_counts(engine: Any) -> None:  # noqa: ANN401  an Engine
    from service.rekey import key_counts  # noqa: PLC0415

    current = engine.dialect.rujuk_keyring.current
    typer.echo(f"current key: {current}")
    for column, counts in key_counts(engine).items():
        listed = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) or "none stored"
        typer.echo(f"{column}: {listed}")


@keys.command("status")
def keys_status() -> None:
    """Which key seals how many stored values."""
    with _sealed_store() as engine:
        _print_counts(engine)


@keys.command("rotate")
def keys_rotate(
    new: Annotated[
        bool, typer.Option(help="add a new key first (key file only); --no-new: re-seal only")
    ] = True,
) -> None:
    """Add a new key (it seals from now on) and re-seal every stored value with it.

    With RUJUK_PATIENT_KEYS, put the new key first there and restart the service, then run this
    with --no-new. Old keys stay in the key file: remove one once ``keys status`` shows it seals
    nothing (and no backup you may restore needs it).
    """
    from service.rekey import reseal  # noqa: PLC0415
    from service.sealing import KeyringError  # noqa: PLC0415

    with _sealed_store() as engine:
        ring = engine.dialect.rujuk_keyring
        if new:
            try:
                typer.echo(f"new key {ring.add_key()} added to {ring.path}")
            except KeyringError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from exc
        for column, n in reseal(engine).items():
            typer.echo(f"{column}: {n} re-sealed with {ring.current}")
        _print_counts(engine)


@keys.command("new")
def keys_new() -> None:
    """Print a fresh random key (base64, 32 bytes) for RUJUK_PATIENT_KEYS or RUJUK_LOOKUP_KEY."""
    from service.sealing import new_key  # noqa: PLC0415

    typer.echo(new_key())


def _read_password(password_stdin: bool) -> str:
    import getpass  # noqa: PLC0415
    import sys  # noqa: PLC0415

    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    pw = getpass.getpass("password: ")
    if pw != getpass.getpass("again: "):
        raise typer.BadParameter("the passwords differ")
    return pw


def _validated(model: Any, **fields: object) -> Any:  # noqa: ANN401  a pydantic model class and instance
    """The model, or exit 2 naming the first bad field."""
    from pydantic import ValidationError  # noqa: PLC0415

    try:
        return model(**fields)
    except ValidationError as exc:
        e = exc.errors()[0]
        typer.echo(f"error: field '{'.'.join(str(x) for x in e['loc'])}': {e['msg']}", err=True)
        raise typer.Exit(2) from exc


@contextlib.contextmanager
def _store() -> Iterator[tuple[Any, set[str]]]:
    """A session on the migrated database and the dataset's facility ids; input errors exit 2."""
    from geodata.dataset import load_dataset  # noqa: PLC0415
    from service.database import make_engine, session_factory  # noqa: PLC0415
    from service.errors import ConflictError, InputError  # noqa: PLC0415
    from service.migrate import upgrade  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415

    cfg = Settings()
    known = {f.id for f in load_dataset(cfg.dataset_path).facilities}
    engine = make_engine(cfg.resolved_database_url(), keyring=cfg.keyring())
    upgrade(engine)
    try:
        with session_factory(engine)() as s:
            try:
                yield s, known
            except (InputError, ConflictError) as exc:
                field = f"field '{exc.field}': " if isinstance(exc, InputError) else ""
                typer.echo(f"error: {field}{exc}", err=True)
                raise typer.Exit(2) from exc
            s.commit()
    finally:
        engine.dispose()


@users.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="login name (lower case)")],
    role: Annotated[
        list[str],
        typer.Option(
            "--role", help="referrer, receiver, dispatcher, planner, admin, peer (another rujuk deployment)"
        ),
    ],
    facility: Annotated[str | None, typer.Option(help="facility id (needed for referrer/receiver)")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    full_name: Annotated[str, typer.Option(help="the person, as their letters name them")] = "",
    profession: Annotated[str, typer.Option(help="e.g. Bidan, Perawat, Dokter umum")] = "",
) -> None:
    """Create an account (the first admin is made this way: there is no default password)."""
    from service.accounts import store  # noqa: PLC0415
    from service.accounts.schemas import UserIn  # noqa: PLC0415
    from service.runtime import utc_now  # noqa: PLC0415

    password = _read_password(password_stdin)
    body = _validated(UserIn, username=username, password=password, roles=role, facility_id=facility,
                      full_name=full_name, profession=profession)  # fmt: skip
    with _store() as (s, known):
        u = store.create_user(
            s,
            username=body.username,
            password=body.password,
            roles=body.roles,
            facility_id=body.facility_id,
            known_facilities=known,
            actor=None,
            now=utc_now(),
        )
        store.set_profile(
            s, u, full_name=body.full_name, profession=body.profession, actor=None, now=utc_now()
        )
    typer.echo(
        f"created user {u.username} (id {u.id}) roles {','.join(u.roles)} facility {u.facility_id or '-'}"
    )


@users.command("profile")
def users_profile(
    username: Annotated[str, typer.Argument(help="login name")],
    full_name: Annotated[str, typer.Option(help="the person, as their letters name them")],
    profession: Annotated[str, typer.Option(help="e.g. Bidan, Perawat, Dokter umum")] = "",
) -> None:
    """Record who is behind an account: the letters they write carry this name and profession."""
    from sqlalchemy import select  # noqa: PLC0415

    from service.accounts import store  # noqa: PLC0415
    from service.database import User  # noqa: PLC0415
    from service.runtime import utc_now  # noqa: PLC0415

    if len(full_name) > 200 or len(profession) > 100:
        typer.echo("error: field 'full_name': at most 200 characters; 'profession': at most 100", err=True)
        raise typer.Exit(2)
    with _store() as (s, _known):
        u = s.scalar(select(User).where(User.username == username))
        if u is None:
            typer.echo(f"error: no user {username!r}", err=True)
            raise typer.Exit(2)
        store.set_profile(s, u, full_name=full_name, profession=profession, actor=None, now=utc_now())
    typer.echo(f"user {username}: {u.full_name}" + (f", {u.profession}" if u.profession else ""))


@ambulances_cli.command("register")
def ambulances_register(
    ambulance_id: Annotated[str, typer.Argument(help="the ambulance's id, e.g. AMB-SAMBAS-1")],
    home: Annotated[str, typer.Option("--home", help="home facility id")],
    kind: Annotated[str, typer.Option("--kind", help="emergency or transport")] = "emergency",
    plate: Annotated[str, typer.Option(help="number plate")] = "",
    crew: Annotated[list[str] | None, typer.Option("--crew", help="a crew role or name (repeatable)")] = None,
) -> None:
    """Register an ambulance and print its device token (shown this once only)."""
    from service.runtime import utc_now  # noqa: PLC0415
    from service.tracking import ambulances  # noqa: PLC0415
    from service.tracking.schemas import AmbulanceIn  # noqa: PLC0415

    body = _validated(
        AmbulanceIn, id=ambulance_id, home_facility_id=home, kind=kind, plate=plate, crew=crew or []
    )
    with _store() as (s, known):
        a, token = ambulances.register(s, body, known_facilities=known, actor=None, now=utc_now())
    typer.echo(f"registered ambulance {a.id} ({a.kind}) at {a.home_facility_id}")
    typer.echo(f"device token (shown once; set it in the tracking app): {token}")


class Lang(StrEnum):
    """Output language."""

    ID = "id"
    EN = "en"


def _load_statuses(path: Path | None) -> dict[str, FacilityStatus]:
    """Statuses from a JSON file ``{facility_id: {updated_at, beds_available, ...}}``."""
    if path is None:
        return {}
    from pydantic import ValidationError  # noqa: PLC0415

    from service.facilities.schemas import FacilityStatusIn  # noqa: PLC0415

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--status-file") from exc
    if not isinstance(raw, dict):
        raise typer.BadParameter(
            f"{path}: expected an object keyed by facility id", param_hint="--status-file"
        )
    out: dict[str, FacilityStatus] = {}
    for fid, body in raw.items():
        try:
            out[fid] = FacilityStatusIn.model_validate(body).to_domain(fid)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in (fid, *first["loc"]))
            raise typer.BadParameter(
                f"{path}: field '{where}': {first['msg']}", param_hint="--status-file"
            ) from exc
    return out


@app.command("suggest")
def suggest_cmd(  # noqa: PLR0913  one parameter per command-line option (typer)
    origin: Annotated[str, typer.Option("--from", help="referring facility: id or (part of the) name")],
    icd: Annotated[list[str] | None, typer.Option("--icd", help="ICD-10 code (repeatable)")] = None,
    emergency: Annotated[bool, typer.Option("--emergency", help="emergency (Pasal 6, 12(4))")] = False,
    disaster: Annotated[bool, typer.Option("--disaster", help="disaster/outbreak status (Pasal 6)")] = False,
    service_type: Annotated[
        ServiceType | None, typer.Option(help="default: gawat_darurat for an emergency, else rawat_jalan")
    ] = None,
    age: Annotated[
        float | None, typer.Option(help="patient age in years (default 30, shown as assumed)")
    ] = None,
    sex: Annotated[Sex | None, typer.Option(help="patient sex (default female, shown as assumed)")] = None,
    specialty: Annotated[
        Service | None, typer.Option(help="needed specialty (overrides the ICD mapping)")
    ] = None,
    bed: Annotated[list[BedType] | None, typer.Option(help="needed bed type (repeatable)")] = None,
    not_transportable: Annotated[bool, typer.Option("--not-transportable")] = False,
    no_consent: Annotated[
        bool, typer.Option("--no-consent", help="patient/family refused (Pasal 14)")
    ] = False,
    tacc: Annotated[str, typer.Option(help="TACC justification for a non-specialist diagnosis")] = "",
    status_file: Annotated[
        Path | None, typer.Option(help="live statuses as JSON, keyed by facility id")
    ] = None,
    dataset: Annotated[Path | None, typer.Option(help="dataset directory (default: bundled Sambas)")] = None,
    jurisdictions: Annotated[
        Path | None, typer.Option(help="jurisdictions manifest (default: the bundled Sambas pack for all)")
    ] = None,
    lang: Annotated[Lang, typer.Option(help="labels: id (Bahasa Indonesia) or en")] = Lang.ID,
    top: Annotated[int | None, typer.Option(min=1, help="show only the first N candidates")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the suggestion as JSON")] = False,
) -> None:
    """Rank receiving facilities for a patient, with the reasons (Perbup Sambas 49/2025)."""
    from geodata.dataset import load_dataset  # noqa: PLC0415
    from rules.errors import RulesError  # noqa: PLC0415
    from rules.model import ReferralRequest  # noqa: PLC0415
    from service.matcher import FacilityLookupError, Matcher  # noqa: PLC0415
    from service.referrals.render import render_suggestion  # noqa: PLC0415
    from service.referrals.suggestions import suggestion_json  # noqa: PLC0415

    statuses = _load_statuses(status_file)
    try:
        matcher = Matcher.load(
            load_dataset(dataset or bundled_dataset_path()), jurisdictions_path=jurisdictions
        )
    except RulesError as exc:
        raise typer.BadParameter(str(exc), param_hint="--jurisdictions") from exc
    try:
        src = matcher.find_facility(origin)
    except FacilityLookupError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from") from exc
    request = ReferralRequest(
        origin_id=src.id,
        age_years=30.0 if age is None else age,
        sex=Sex.FEMALE if sex is None else sex,
        icd10=tuple(c.strip().upper() for c in icd or ()),
        service_type=service_type or (ServiceType.GAWAT_DARURAT if emergency else ServiceType.RAWAT_JALAN),
        emergency=emergency,
        disaster=disaster,
        transportable=not not_transportable,
        consent=not no_consent,
        specialty=specialty,
        beds=tuple(bed or ()),
        tacc=tacc,
    )
    now = datetime.now(UTC)
    try:
        result = matcher.suggest(request, statuses=statuses, now=now)
    except RulesError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(suggestion_json(result, now=now), ensure_ascii=False, indent=2))
        return
    typer.echo(
        render_suggestion(
            result,
            request,
            src,
            {f.id: f for f in matcher.dataset.facilities},
            lang=lang.value,
            modelled=matcher.dataset.roads.modelled,
            assumed_patient=age is None or sex is None,
            top=top,
        )
    )


def main() -> None:
    """Entry point of the ``rujuk`` console script."""
    app()
