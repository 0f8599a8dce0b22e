"""`xero-pipelines sandbox`: run the offline Xero sandbox in the foreground (contract section 5).

The sandbox is a distribution of its own (xero_sandbox/), absent from the production image, so
this command and `demo` import it only when they run, and say how to get it when it is missing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import click

from xero_pipelines.cli.console import console
from xero_pipelines.cli.errors import CliError
from xero_pipelines.cli.seed_progress import SeedBars, worth_showing

NOT_INSTALLED = (
    "the sandbox is not installed: pip install -e ./xero_sandbox "
    "(from the repository; `make install` does it)"
)
# The sandbox's own flag, spelled here so the option exists without importing the sandbox
# (tests/sandbox/test_server.py holds the two equal).
UNSAFE_FLAG = "--unsafe-expose-admin-api"
COUNT = click.IntRange(min=0)  # capped in the command, like the admin API's /_sandbox/seed
# Missing any of these means the sandbox distribution is not (fully) installed.
_SANDBOX_MODULES = {"xero_sandbox", "starlette", "uvicorn"}


def load_sandbox() -> ModuleType:
    """`xero_sandbox`, or a one-line `CliError` saying how to install it. A missing module
    of the sandbox's own (a bug, not an install) still raises as it is."""
    try:
        return importlib.import_module("xero_sandbox")
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _SANDBOX_MODULES:
            raise
        raise CliError(NOT_INSTALLED) from None


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help=f"Loopback address to bind (others are refused without {UNSAFE_FLAG}).",
)
@click.option(
    "--port", default=5050, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.option(
    "--contacts",
    default=0,
    show_default=True,
    type=COUNT,
    help="Contacts to generate into the demo organisation.",
)
@click.option("--invoices", default=0, show_default=True, type=COUNT, help="Invoices to generate.")
@click.option("--quotes", default=0, show_default=True, type=COUNT, help="Quotes to generate.")
@click.option(
    "--credit-notes", default=0, show_default=True, type=COUNT, help="Credit notes to generate."
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(0, 2**63 - 1),
    help="Seed of the deterministic data generator.",
)
@click.option("--no-rate-limits", is_flag=True, help="Disable Xero's rate limits (benchmarks).")
@click.option("--client-id", default="sandbox", show_default=True, help="OAuth2 client id.")
@click.option("--client-secret", default="sandbox", show_default=True, help="OAuth2 client secret.")
@click.option(
    UNSAFE_FLAG,
    "expose_admin_api",
    is_flag=True,
    help="Allow a non-loopback --host. UNSAFE: anyone who can reach the port can reset, seed "
    "and read the sandbox through its unauthenticated admin API.",
)
def sandbox(
    host: str,
    port: int,
    contacts: int,
    invoices: int,
    quotes: int,
    credit_notes: int,
    seed: int,
    no_rate_limits: bool,
    client_id: str,
    client_secret: str,
    expose_admin_api: bool,
) -> None:
    """Run an offline Xero (identity + accounting APIs at Xero's paths) on HOST:PORT."""
    load_sandbox()
    from xero_sandbox.config import MAX_GENERATED
    from xero_sandbox.server import check_host, serve

    counts = {"--contacts": contacts, "--invoices": invoices, "--quotes": quotes}
    for name, value in {**counts, "--credit-notes": credit_notes}.items():
        if value > MAX_GENERATED:
            raise click.BadParameter(
                f"{value} is above the sandbox's cap of {MAX_GENERATED:,}", param_hint=f"'{name}'"
            )
    try:
        check_host(host, expose_admin_api)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    url = f"http://{host}:{port}"
    click.echo(f"Xero sandbox on {url}  (admin API under {url}/_sandbox/)")
    if expose_admin_api:
        click.echo(f"WARNING: {UNSAFE_FLAG}: the unauthenticated admin API is reachable on {host}")
    click.echo("Point the pipeline at it with:")
    for name in ("XERO_API_URL", "XERO_IDENTITY_URL", "XERO_LOGIN_URL"):
        click.echo(f"  export {name}={url}")
    click.echo(f"  export XERO_CLIENT_ID={client_id}")
    click.echo(f"  export XERO_CLIENT_SECRET={client_secret}")
    if contacts or invoices or quotes or credit_notes:
        click.echo(
            f"Generating {contacts} contacts, {invoices} invoices, {quotes} quotes, "
            f"{credit_notes} credit notes (seed {seed})..."
        )
    click.echo("Press Ctrl+C to stop.")
    serve(
        host=host,
        port=port,
        contacts=contacts,
        invoices=invoices,
        seed=seed,
        rate_limits=not no_rate_limits,
        client_id=client_id,
        client_secret=client_secret,
        quotes=quotes,
        expose_admin_api=expose_admin_api,
        credit_notes=credit_notes,
        # bars while a large seed is generated (it is over before the server starts)
        seed_progress=SeedBars(console())
        if worth_showing(contacts, invoices, quotes, credit_notes)
        else None,
    )
