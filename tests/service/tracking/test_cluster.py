"""Ambulance positions on a real Redis Cluster (three primaries, three replicas, on loopback).

Ingestion, reads, the live feed and the nearest query through the API; every key of a region
on one slot; a replica confirms each acknowledged fix; and the primary of the region killed
(SIGKILL) during ingestion: its replica takes over, the service carries on without a restart,
and no acknowledged fix is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import ValidationError

from geodata.dataset import Dataset
from service.app import create_app
from service.errors import PositionsUnavailableError
from service.settings import Settings
from service.tracking.feed import Feed
from service.tracking.redis_client import connect
from service.tracking.tracker import Tracker
from tests.servers import RedisClusterProcesses, RedisProcess
from tests.service.conftest import Clock, _seed
from tests.service.tracking.test_tracking import PEMANGKAT, SAMBAS, T0, Tr, facility_lonlat


def _cluster_or_skip() -> RedisClusterProcesses:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip(
            "no redis-server / redis-cli binary (apt-get install redis-server): no Redis Cluster to test on"
        )
    out = subprocess.run(["redis-server", "--version"], check=True, capture_output=True, text=True).stdout
    major = int(out.split("v=")[1].split(".")[0])
    if major < 7:
        pytest.skip(f"redis-server {major}.x: sharded pub/sub (SPUBLISH) needs Redis 7")
    return RedisClusterProcesses(masters=3, replicas=1, node_timeout_ms=1000)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterProcesses]:
    with _cluster_or_skip() as c:
        yield c


def _serve(url: str, tmp: Path, sambas: Dataset, clock: Clock, **extra: Any) -> TestClient:
    cfg = Settings(
        data_dir=tmp,
        database_url=f"sqlite:///{tmp / 'db.sqlite3'}",
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        escalation_interval_s=3600,
        redis_url=url,
        **extra,
    )
    return TestClient(create_app(cfg, dataset=sambas, clock=clock))


def _region() -> str:
    return f"rujuk:{{6101-{uuid.uuid4().hex[:6]}}}:"


@pytest.fixture(scope="module")
def ctr(
    cluster: RedisClusterProcesses, sambas: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tr]:
    clock = Clock(T0)
    prefix = _region()
    with _serve(cluster.url, tmp_path_factory.mktemp("c"), sambas, clock, redis_cluster=True,
                redis_prefix=prefix) as c:  # fmt: skip
        t = Tr(c, clock, "sqlite")
        t.prefix = prefix
        _seed(t.rt)
        yield t


def _node(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True)


def _replica_of(cluster: RedisClusterProcesses, primary: int) -> int:
    with _node(primary) as r:
        info = r.info("replication")
    return int(info["slave0"]["port"])


def test_ingest_read_nearest_and_feed_on_a_cluster(ctr: Tr, cluster: RedisClusterProcesses) -> None:
    assert ctr.rt.tracker is not None and ctr.rt.tracker.cluster
    lon, lat = facility_lonlat(ctr, PEMANGKAT)
    amb, tok = ctr.register(home=PEMANGKAT)
    far, tok_f = ctr.register(home=PEMANGKAT)
    fixes = [ctr.fix(lon + 0.001 * i, lat, ago_s=50 - 10 * i, speed=5.0, heading=90.0) for i in range(5)]
    r = ctr.send(amb, tok, {"positions": [fixes[2], fixes[0], fixes[4], fixes[1], fixes[3]]})
    assert r.status_code == 200, r.text
    assert r.json() == {"ambulance_id": amb, "stored": 5, "duplicates": 0, "latest_moved": True}
    assert ctr.send(amb, tok, {"positions": fixes[:2]}).json()["duplicates"] == 2
    assert ctr.send(far, tok_f, ctr.fix(lon + 0.08, lat + 0.05, ago_s=5)).status_code == 200
    # the latest position, the track, the nearest by road
    pos = ctr.board()[amb]["position"]
    assert pos["lon"] == pytest.approx(lon + 0.004) and pos["age_s"] == pytest.approx(10)
    track = ctr.get(f"/api/ambulances/{amb}/track", "dispatch").json()["positions"]
    assert [p["lon"] for p in track] == pytest.approx([lon + 0.001 * i for i in range(5)])
    got = ctr.get("/api/dispatch/nearest", "dispatch", params={"facility_id": PEMANGKAT, "k": 2}).json()
    assert [a["id"] for a in got["ambulances"] if a["id"] in (amb, far)] == [amb, far]
    # acknowledged means a replica has it: read the replica itself
    t = ctr.rt.tracker
    primary = cluster.primary_of_key(t.pos_key(amb))
    with _node(_replica_of(cluster, primary)) as replica:
        replica.execute_command("READONLY")
        assert replica.get(t.pos_key(amb)) is not None
        assert replica.zcard(t.seen_key(amb)) == 5

    # the live feed: sharded pub/sub on the region's slot
    def later() -> None:
        time.sleep(0.8)
        ctr.send(amb, tok, ctr.fix(lon + 0.01, lat))
        ctr.patch(
            f"/api/ambulances/{far}/status", "dispatch", json={"status": "out_of_service", "reason": "uji"}
        )

    th = threading.Thread(target=later)
    th.start()
    events: list[dict[str, Any]] = []
    want = {("position", amb), ("status", far)}
    with ctr.client.stream(
        "GET", "/api/dispatch/stream", headers=ctr.h("dispatch"), params={"timeout_s": 6}
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if want <= {(e["type"], e.get("ambulance_id")) for e in events}:
                    break
    th.join()
    assert want <= {(e["type"], e.get("ambulance_id")) for e in events}


def test_every_key_of_a_region_is_on_one_slot(ctr: Tr, cluster: RedisClusterProcesses) -> None:
    amb, tok = ctr.register(home=SAMBAS)
    lon, lat = facility_lonlat(ctr, SAMBAS)
    assert ctr.send(amb, tok, ctr.fix(lon, lat, ago_s=1)).status_code == 200
    keys: dict[str, int] = {}
    for port in cluster.alive():
        with _node(port) as r:
            if r.info("replication")["role"] != "master":
                continue
            for k in r.scan_iter(match=f"{ctr.prefix}*".replace("{", "\\{").replace("}", "\\}"), count=1000):
                keys[k] = port
    assert ctr.rt.tracker is not None
    assert ctr.rt.tracker.pos_key(amb) in keys and ctr.rt.tracker.geo in keys
    assert len(set(keys.values())) == 1  # one primary holds the region
    with _node(cluster.alive()[0]) as r:
        slots = {r.cluster("keyslot", k) for k in [*keys, ctr.rt.tracker.channel]}
    assert len(slots) == 1


def test_sign_in_limits_are_kept_on_the_cluster(ctr: Tr, cluster: RedisClusterProcesses) -> None:
    for i in range(10):  # the default: 10 failures per 15 minutes
        r = ctr.client.post("/api/token", data={"username": "tebas", "password": "bukan-sandinya"})
        assert r.status_code == 401, i
    r = ctr.client.post("/api/token", data={"username": "tebas", "password": "bukan-sandinya"})
    assert r.status_code == 429 and r.json()["type"] == "too_many_requests"
    found = 0
    for port in cluster.alive():
        with _node(port) as n:
            if n.info("replication")["role"] == "master":
                found += sum(1 for _ in n.scan_iter(match=f"*{ctr.prefix.strip(':')[6:-1]}*limits*"))
    assert found >= 1  # counted in the cluster, not in the worker's memory


def test_a_cluster_needs_a_hash_tag_in_the_prefix(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="hash tag"):
        Settings(
            data_dir=tmp_path, redis_url="redis://127.0.0.1:7000", redis_cluster=True, redis_prefix="rujuk:"
        )
    with pytest.raises(ValidationError, match="hash tag"):
        Settings(
            data_dir=tmp_path, redis_url="redis://127.0.0.1:7000", redis_cluster=True, redis_prefix="r:{}:"
        )
    ok = Settings(
        data_dir=tmp_path, redis_url="redis://127.0.0.1:7000", redis_cluster=True, redis_prefix="r:{6101}:"
    )
    assert ok.wait_replicas() == 1
    assert Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:7000").wait_replicas() == 0


def test_no_replica_to_confirm_is_a_503_not_an_acknowledgement(
    redis_url: str, sambas: Dataset, tmp_path: Path
) -> None:
    clock = Clock(T0)
    with _serve(redis_url, tmp_path, sambas, clock, redis_prefix=_region(), redis_wait_replicas=1,
                redis_wait_timeout_ms=50) as c:  # fmt: skip
        t = Tr(c, clock, "sqlite")
        _seed(t.rt)
        amb, tok = t.register()
        fix = t.fix(109.3, 1.2, ago_s=5)
        for _ in range(2):  # sent again: still no replica, still not acknowledged
            r = t.send(amb, tok, fix)
            assert r.status_code == 503 and r.json()["type"] == "positions_not_replicated", r.text
            assert r.headers["Retry-After"] == "5" and "0 of 1" in r.json()["detail"]
        # written on the primary all the same (a device sending it again stores it once)
        assert t.board()[amb]["position"]["lat"] == pytest.approx(1.2)


def test_a_single_redis_with_a_replica_confirms_each_fix(sambas: Dataset, tmp_path: Path) -> None:
    with RedisProcess() as primary, RedisProcess("--replicaof", "127.0.0.1", str(primary.port)) as replica:
        deadline = time.monotonic() + 20
        with _node(replica.port) as r:
            while r.info("replication").get("master_link_status") != "up":
                assert time.monotonic() < deadline, "the replica did not connect"
                time.sleep(0.05)
        clock = Clock(T0)
        with _serve(primary.url, tmp_path, sambas, clock, redis_prefix=_region(), redis_wait_replicas=1) as c:
            t = Tr(c, clock, "sqlite")
            _seed(t.rt)
            amb, tok = t.register()
            r = t.send(amb, tok, {"positions": [t.fix(109.3, 1.2, ago_s=5), t.fix(109.31, 1.2, ago_s=4)]})
            assert r.status_code == 200 and r.json()["stored"] == 2, r.text
            assert t.rt.tracker is not None and not t.rt.tracker.cluster
            with _node(replica.port) as rr:  # acknowledged: the replica has it
                assert rr.zcard(t.rt.tracker.seen_key(amb)) == 2
                assert rr.get(t.rt.tracker.pos_key(amb)) is not None


# ------------------------------------------------------------------------------------- failover


@pytest.fixture
def own_cluster() -> Iterator[RedisClusterProcesses]:
    with _cluster_or_skip() as c:
        yield c


def test_killing_the_regions_primary_during_ingestion_loses_no_acknowledged_fix(
    own_cluster: RedisClusterProcesses, sambas: Dataset, tmp_path: Path
) -> None:
    cluster = own_cluster
    clock = Clock(T0)
    prefix = _region()
    with _serve(cluster.url, tmp_path, sambas, clock, redis_cluster=True, redis_prefix=prefix) as c:
        t = Tr(c, clock, "sqlite")
        _seed(t.rt)
        fleet = [t.register(home=PEMANGKAT) for _ in range(4)]
        tracker = t.rt.tracker
        assert tracker is not None
        primary = cluster.primary_of_key(tracker.geo)
        replica = _replica_of(cluster, primary)
        lon, lat = facility_lonlat(t, PEMANGKAT)
        t0_ms = round(T0.timestamp() * 1000) - 3_600_000  # an hour of fixes, 100 ms apart
        acked: dict[str, list[int]] = {amb: [] for amb, _ in fleet}
        errors: list[tuple[float, int, str, float, float]] = []
        killed_at: list[float] = []
        promoted_at: list[float] = []
        back_at: list[float] = []

        def crash_and_restart() -> None:
            time.sleep(1.5)
            cluster.kill(primary)  # returns once the process is gone
            killed_at.append(time.monotonic())
            while cluster.role(replica) != "master":
                time.sleep(0.05)
            promoted_at.append(time.monotonic())
            # with one replica per primary the region has no replica left to confirm a fix until
            # the crashed node is back (as a supervisor restarts it), now as the new primary's replica
            time.sleep(1.0)
            cluster.restart(primary)
            back_at.append(time.monotonic())

        killer = threading.Thread(target=crash_and_restart, daemon=True)
        first_ack_after: float | None = None
        reads: list[tuple[float, int]] = []
        done = threading.Event()

        def read_on() -> None:  # the dispatchers meanwhile: an answer or a 503, never a 500
            while not done.is_set():
                for url, params in (("/api/dispatch/nearest", {"facility_id": PEMANGKAT, "k": 2}),
                                    ("/api/dispatch/ambulances", {})):  # fmt: skip
                    reads.append((time.monotonic(), t.get(url, "dispatch", params=params).status_code))
                time.sleep(0.05)

        t.h("dispatch")  # signed in before
        reader = threading.Thread(target=read_on, daemon=True)
        n, started = 0, time.monotonic()
        killer.start()
        reader.start()
        try:
            # each ambulance sends its next fix; a fix answered with an error is sent again (as
            # Traccar Client does) until acknowledged; on until 3 s of acknowledgements after the kill
            while time.monotonic() - started < 40:
                amb, tok = fleet[n % len(fleet)]
                ts = t0_ms + 100 * (len(acked[amb]) + 1)
                fix = {"lat": lat + 1e-5 * len(acked[amb]), "lon": lon, "timestamp": ts}
                sent = time.monotonic()
                r = t.send(amb, tok, fix)
                now = time.monotonic()
                if r.status_code == 200:
                    acked[amb].append(ts)
                    if killed_at and sent > killed_at[0] and first_ack_after is None:
                        first_ack_after = now
                    if first_ack_after is not None and now - first_ack_after > 3:
                        break
                else:
                    errors.append((now, r.status_code, r.json().get("type", ""), now - sent, sent))
                n += 1
        finally:
            done.set()
            killer.join(timeout=60)
            reader.join(timeout=30)
        assert killed_at and first_ack_after is not None, "the primary was not killed, or never came back"
        cluster.wait_ok(timeout_s=30)
        assert cluster.role(replica) == "master" and cluster.role(primary) == "slave"
        # the service carries on: every acknowledged fix is there, in the new primary's history
        total = sum(len(v) for v in acked.values())
        lost = 0
        for amb, _ in fleet:
            track = t.get(
                f"/api/ambulances/{amb}/track", "dispatch",
                params={"since": (T0 - dt.timedelta(hours=2)).isoformat(), "until": T0.isoformat()},
            )  # fmt: skip
            assert track.status_code == 200, track.text
            have = {
                round(dt.datetime.fromisoformat(p["at"]).timestamp() * 1000)
                for p in track.json()["positions"]
            }
            lost += len(set(acked[amb]) - have)
        during = [e for e in errors if e[0] >= killed_at[0]]
        print(  # the figures docs/tracking.md quotes (pytest -s)
            f"\nfailover: {total} fixes acknowledged, {n + 1} requests, {len(errors)} answered an error "
            f"({len(during)} after the kill: {sorted({(e[1], e[2]) for e in during})}; sent at / took "
            f"{', '.join(f'{e[4] - killed_at[0]:.2f}/{e[3]:.2f} s' for e in during)}), "
            f"replica promoted {promoted_at[0] - killed_at[0]:.2f} s after the kill, old primary back "
            f"{back_at[0] - killed_at[0]:.2f} s after, first acknowledgement "
            f"{first_ack_after - killed_at[0]:.2f} s after the kill, "
            f"acknowledged fixes lost: {lost}; reads meanwhile {len(reads)} "
            f"({sum(1 for at, _ in reads if at >= killed_at[0])} after the kill), "
            f"{sum(1 for _, code in reads if code == 503)} answered 503"
        )
        assert lost == 0
        assert all(e[1] == 503 for e in errors)  # never a 500: unavailable, send again
        codes = {code for _, code in reads}
        assert codes <= {200, 503} and 200 in codes, sorted(codes)
        assert total > 20 and errors  # it ran, and the kill was felt


def test_a_subscriber_hears_the_region_again_after_its_primary_crashed(
    own_cluster: RedisClusterProcesses,
) -> None:
    """The live feed's subscriber, as ``/api/dispatch/stream`` runs it: a lost connection means a
    fresh subscription, which finds the channel on the promoted replica."""
    cluster = own_cluster

    async def main() -> tuple[list[int], int, float]:
        client = connect(cluster.url, cluster=True)
        t = Tracker(client, prefix=_region(), retention_s=3600)
        feed = Feed(client, t.channel)
        heard: list[int] = []
        resubscribed = 0
        try:
            await feed.subscribe()
            await t.publish({"type": "probe", "n": 0})
            ev = await feed.next(2.0)
            heard += [] if ev is None else [ev["n"]]
            primary = cluster.primary_of_key(t.channel)
            cluster.kill(primary)
            killed = time.monotonic()
            n = 0
            while time.monotonic() - killed < 30 and (not heard or heard[-1] == 0):
                n += 1
                await t.publish({"type": "probe", "n": n})  # best effort: lost while the slot has no primary
                try:
                    ev = await feed.next(0.5)
                except PositionsUnavailableError:  # the route sends "positions_unavailable", then:
                    resubscribed += 1
                    await asyncio.sleep(0.5)
                    with contextlib.suppress(PositionsUnavailableError):
                        await feed.subscribe()
                    continue
                if ev is not None:
                    heard.append(ev["n"])
            return heard, resubscribed, time.monotonic() - killed
        finally:
            await feed.close()
            await client.aclose()

    heard, resubscribed, took = asyncio.run(main())
    print(f"\nfeed: heard {heard[:3]}... again {took:.2f} s after the kill, {resubscribed} resubscriptions")
    assert heard[0] == 0 and len(heard) > 1 and heard[-1] > 0
