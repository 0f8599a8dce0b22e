"""`xero-pipelines sandbox`: run the offline Xero sandbox in the foreground (contract section 5)."""

from __future__ import annotations

import click

from xero_pipelines.sandbox.config import MAX_GENERATED
from xero_pipelines.sandbox.server import UNSAFE_FLAG, check_host

COUNT = click.IntRange(min=0, max=MAX_GENERATED)  # the admin API's /_sandbox/seed caps alike


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
    from xero_pipelines.sandbox.server import serve

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
    )
