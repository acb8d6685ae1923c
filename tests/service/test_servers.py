"""The test servers are real: data written is read back over a network connection."""

from __future__ import annotations

import psycopg
import redis


def test_redis_round_trip_and_geo(redis_client: redis.Redis) -> None:
    redis_client.geoadd("amb", (109.30587, 1.36791, "a1"))
    redis_client.geoadd("amb", (108.97931, 1.17353, "a2"))
    near = redis_client.geosearch("amb", longitude=109.3, latitude=1.36, radius=5, unit="km")
    assert near == ["a1"]
    assert redis_client.info("server")["redis_version"]


def test_redis_is_flushed_between_tests(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0


def test_postgres_round_trip(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS probe (id serial PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO probe (name) VALUES (%s)", ("RSUD Sambas",))
        row = conn.execute("SELECT name, current_database() FROM probe ORDER BY id DESC LIMIT 1").fetchone()
    assert row is not None
    assert row[0] == "RSUD Sambas"
    assert row[1].startswith("rujuk_test_")
