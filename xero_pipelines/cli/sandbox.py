"""`xero-pipelines sandbox`: run the offline Xero sandbox in the foreground (contract section 5)."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option("--port", default=5050, show_default=True, type=int, help="TCP port.")
@click.option(
    "--contacts",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Contacts to generate into the demo organisation.",
)
@click.option(
    "--invoices",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Invoices to generate.",
)
@click.option(
    "--quotes", default=0, show_default=True, type=click.IntRange(min=0), help="Quotes to generate."
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of the deterministic data generator.",
)
@click.option("--no-rate-limits", is_flag=True, help="Disable Xero's rate limits (benchmarks).")
@click.option("--client-id", default="sandbox", show_default=True, help="OAuth2 client id.")
@click.option("--client-secret", default="sandbox", show_default=True, help="OAuth2 client secret.")
def sandbox(
    host: str,
    port: int,
    contacts: int,
    invoices: int,
    quotes: int,
    seed: int,
    no_rate_limits: bool,
    client_id: str,
    client_secret: str,
) -> None:
    """Run an offline Xero (identity + accounting APIs at Xero's paths) on HOST:PORT."""
    from xero_pipelines.sandbox.server import serve

    url = f"http://{host}:{port}"
    click.echo(f"Xero sandbox on {url}  (admin API under {url}/_sandbox/)")
    click.echo("Point the pipeline at it with:")
    for name in ("XERO_API_URL", "XERO_IDENTITY_URL", "XERO_LOGIN_URL"):
        click.echo(f"  export {name}={url}")
    click.echo(f"  export XERO_CLIENT_ID={client_id}")
    click.echo(f"  export XERO_CLIENT_SECRET={client_secret}")
    if contacts or invoices or quotes:
        click.echo(
            f"Generating {contacts} contacts, {invoices} invoices, {quotes} quotes (seed {seed})..."
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
    )
