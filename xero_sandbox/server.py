"""Public entry points: `create_app`, `serve` (blocking) and `SandboxServer` (background thread).

Typical use in tests::

    with SandboxServer() as sb:          # free loopback port
        requests.post(f"{sb.url}/_sandbox/seed", json={"contacts": 10, "invoices": 50})
        # point XERO_API_URL, XERO_IDENTITY_URL and XERO_LOGIN_URL at sb.url
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware

from . import admin, admin_records, api, generator
from .config import Limits, SandboxConfig
from .gateway import Gateway
from .state import Sandbox


def create_app(
    config: SandboxConfig | None = None, seed_progress: generator.SeedProgress | None = None
) -> Starlette:
    """A Starlette app speaking Xero's identity and accounting APIs plus `/_sandbox/` admin.

    The state is reachable as `app.state.sandbox` (a `Sandbox`). When the config asks for
    contacts/invoices/quotes/credit notes they are generated into the first organisation at
    once, reporting to `seed_progress` when given.
    """
    config = config or SandboxConfig()
    sandbox = Sandbox(config)
    app = Starlette(
        routes=[*admin.routes, *admin_records.routes, *api.routes],
        middleware=[Middleware(Gateway, sandbox=sandbox)],
    )
    app.state.sandbox = sandbox
    if config.contacts or config.invoices or config.quotes or config.credit_notes:
        generator.seed(
            sandbox.store,
            sandbox.store.first_tenant(),
            config.contacts,
            config.invoices,
            config.quotes,
            config.seed,
            config.credit_notes,
            progress=seed_progress,
        )
    return app


UNSAFE_FLAG = "--unsafe-expose-admin-api"


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


def check_host(host: str, expose_admin_api: bool = False) -> None:
    """Refuse a non-loopback host unless asked loudly: `/_sandbox/` has no authentication."""
    if not expose_admin_api and not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host}: the sandbox's admin API (/_sandbox/) has no "
            f"authentication, so it listens on loopback only (127.0.0.1, ::1, localhost); "
            f"pass {UNSAFE_FLAG} to expose it anyway"
        )


def _config(
    contacts: int,
    invoices: int,
    seed: int,
    rate_limits: bool,
    client_id: str,
    client_secret: str,
    quotes: int = 0,
    **extra: Any,
) -> SandboxConfig:
    return SandboxConfig(
        client_id=client_id,
        client_secret=client_secret,
        limits=Limits(enabled=rate_limits),
        contacts=contacts,
        invoices=invoices,
        quotes=quotes,
        seed=seed,
        **extra,
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 5050,
    contacts: int = 0,
    invoices: int = 0,
    seed: int = 0,
    rate_limits: bool = True,
    client_id: str = "sandbox",
    client_secret: str = "sandbox",
    quotes: int = 0,
    expose_admin_api: bool = False,
    credit_notes: int = 0,
    seed_progress: generator.SeedProgress | None = None,
) -> None:
    """Run the sandbox in the foreground until interrupted (loopback only unless
    `expose_admin_api`; ValueError otherwise); a seed asked for reports to `seed_progress`."""
    check_host(host, expose_admin_api)
    app = create_app(
        _config(
            contacts,
            invoices,
            seed,
            rate_limits,
            client_id,
            client_secret,
            quotes,
            credit_notes=credit_notes,
        ),
        seed_progress,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


class SandboxServer:
    """The sandbox on a loopback port in a background thread; `.url`, `.stop()`, context manager.

    `port=0` picks a free port. Extra keyword arguments go to `SandboxConfig`
    (e.g. `access_token_ttl=2`). The host must be a loopback address (see `check_host`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        contacts: int = 0,
        invoices: int = 0,
        seed: int = 0,
        rate_limits: bool = True,
        client_id: str = "sandbox",
        client_secret: str = "sandbox",
        quotes: int = 0,
        **config: Any,
    ) -> None:
        check_host(host)
        # Bind now and hand the socket to uvicorn: no window in which another process (e.g. a
        # parallel test worker) could take a port picked but not yet bound.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = host, self._socket.getsockname()[1]
        self.app = create_app(
            _config(
                contacts, invoices, seed, rate_limits, client_id, client_secret, quotes, **config
            )
        )
        self.sandbox: Sandbox = self.app.state.sandbox
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=host,
                port=self.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_keep_alive=30,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="xero-sandbox",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
