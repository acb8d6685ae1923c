"""Real parts for the notification tests: a push service and a gateway on 127.0.0.1, and a browser's keys."""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

#: everything of the patient the conftest's letter holds (none may leave in a notice)
PATIENT_STRINGS = ("Siti", "6101014107980001", "RM-000123", "1998-07-01", "Segarau Parit", "081234567890",
                   "0001234567890", "Perdarahan", "suami", "Bidan Ani")  # fmt: skip


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    """One request as the server read it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """An HTTP server on 127.0.0.1 that keeps every POST and answers what it is told, per path."""

    received: list[Received] = field(default_factory=list)
    #: path -> statuses to answer in turn (the last one repeats); default 201
    answers: dict[str, list[int]] = field(default_factory=dict)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def _answer(self, path: str) -> int:
        with self.lock:
            todo = self.answers.get(path)
            if not todo:
                return 201
            return todo.pop(0) if len(todo) > 1 else todo[0]


@contextmanager
def recorder() -> Iterator[Recorder]:
    rec = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with rec.lock:
                rec.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            status = rec._answer(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Browser:
    """A push subscription made exactly as a browser makes one: its own P-256 key pair and auth secret."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @classmethod
    def at(cls, push: Recorder) -> Browser:
        return cls(push.url(f"/push/{uuid.uuid4().hex}"))

    @property
    def path(self) -> str:
        return urlsplit(self.endpoint).path

    def subscription(self) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives."""
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)}}  # fmt: skip

    def open(self, body: bytes) -> tuple[bytes, dict[str, Any]]:
        """Decrypt a push (aes128gcm, RFC 8291) as the browser does: the plaintext and its JSON."""
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        return plain, json.loads(plain)
