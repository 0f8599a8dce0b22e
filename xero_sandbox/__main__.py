"""`python -m xero_sandbox`: the sandbox without the CLI group (benchmarks, scripts)."""

from __future__ import annotations

import argparse

from .config import MAX_GENERATED
from .server import UNSAFE_FLAG, check_host, serve


def _ranged(low: int, high: int) -> type[int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high:,}")
        return value

    return parse  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m xero_sandbox",
        description="Run the offline Xero sandbox on loopback.",
    )
    count = _ranged(0, MAX_GENERATED)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=_ranged(1, 65535), default=5050)
    ap.add_argument("--contacts", type=count, default=0)
    ap.add_argument("--invoices", type=count, default=0)
    ap.add_argument("--quotes", type=count, default=0)
    ap.add_argument("--credit-notes", type=count, default=0)
    ap.add_argument("--seed", type=_ranged(0, 2**63 - 1), default=0)
    ap.add_argument("--no-rate-limits", action="store_true")
    ap.add_argument("--client-id", default="sandbox")
    ap.add_argument("--client-secret", default="sandbox")
    ap.add_argument(UNSAFE_FLAG, dest="expose_admin_api", action="store_true")
    a = ap.parse_args()
    try:
        check_host(a.host, a.expose_admin_api)
    except ValueError as exc:
        ap.exit(2, f"{ap.prog}: error: {exc}\n")
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
        expose_admin_api=a.expose_admin_api,
        credit_notes=a.credit_notes,
    )


if __name__ == "__main__":
    main()
