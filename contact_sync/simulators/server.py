"""Serving a simulator: an ASGI app under uvicorn on 127.0.0.1, in a background thread, optionally over TLS.

Simulators bind to the loopback address only. Port 0 picks a free port; the bound port is known once `start()`
returns. TLS certificates come from a throw-away local CA (`trustme`) written to a folder, whose CA bundle a client
trusts (simple-salesforce only speaks https).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class TLSFiles:
    """Paths of a local CA bundle and of a server certificate and key it signed (for 127.0.0.1 and localhost)."""

    ca_bundle: Path
    cert_file: Path
    key_file: Path


def make_local_tls(folder: Path) -> TLSFiles:
    """Create (or reuse, if already there) a throw-away CA and a server certificate for the loopback address."""
    folder.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(folder / "ca.pem", folder / "server-cert.pem", folder / "server-key.pem")
    if files.ca_bundle.exists() and files.cert_file.exists() and files.key_file.exists():
        return files
    import trustme

    ca = trustme.CA(organization_name="contact-sync simulators (throw-away local CA)")
    server_cert = ca.issue_cert(LOOPBACK, "localhost")
    ca.cert_pem.write_to_path(str(files.ca_bundle))
    server_cert.private_key_pem.write_to_path(str(files.key_file))
    # The chain (leaf first) goes in one file, as uvicorn expects.
    with files.cert_file.open("wb") as out:
        for blob in server_cert.cert_chain_pems:
            out.write(blob.bytes())
    return files


class ServedApp:
    """One ASGI app served by uvicorn on 127.0.0.1 in a daemon thread until `stop()`."""

    def __init__(self, app: Any, port: int = 0, tls: TLSFiles | None = None, name: str = "simulator") -> None:
        self.app = app
        self.requested_port = port
        self.tls = tls
        self.name = name
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{self.name} is not started")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 15.0) -> ServedApp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, self.requested_port))
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        config_kwargs: dict[str, Any] = {
            "app": self.app,
            "host": LOOPBACK,
            "port": self.port,
            "log_level": "warning",
            "access_log": False,
            "lifespan": "off",
            "timeout_keep_alive": 30,
            "backlog": 2048,
            # A client that keeps a (TLS) keep-alive connection open must not hold a shutdown for long.
            "timeout_graceful_shutdown": 1,
        }
        if self.tls:
            config_kwargs["ssl_certfile"] = str(self.tls.cert_file)
            config_kwargs["ssl_keyfile"] = str(self.tls.key_file)
        server = uvicorn.Server(uvicorn.Config(**config_kwargs))
        # uvicorn installs signal handlers only in the main thread; in a background thread it must not try.
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start on {LOOPBACK}:{self.port}")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(min(timeout, 2.0))
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
