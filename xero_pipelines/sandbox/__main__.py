"""`python -m xero_pipelines.sandbox`: the sandbox without the CLI group (benchmarks, scripts)."""

from __future__ import annotations

import argparse

from .server import serve


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m xero_pipelines.sandbox",
        description="Run the offline Xero sandbox on loopback.",
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5050)
    ap.add_argument("--contacts", type=int, default=0)
    ap.add_argument("--invoices", type=int, default=0)
    ap.add_argument("--quotes", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-rate-limits", action="store_true")
    ap.add_argument("--client-id", default="sandbox")
    ap.add_argument("--client-secret", default="sandbox")
    a = ap.parse_args()
    serve(
        host=a.host,
        port=a.port,
        contacts=a.contacts,
        invoices=a.invoices,
        seed=a.seed,
        rate_limits=not a.no_rate_limits,
        client_id=a.client_id,
        client_secret=a.client_secret,
        quotes=a.quotes,
    )


if __name__ == "__main__":
    main()
