"""`db upgrade|downgrade|current` never print a database password, wherever it is written
in the URL (`user:pw@`, `?password=`, `?sslpassword=`), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

SECRET = "hunter2-in-the-query"
SSL_SECRET = "ssl-key-passphrase-42"


def run_cli(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "CRM_"))}
    return subprocess.run(
        [sys.executable, "-m", "xero_pipelines.cli", *args],
        capture_output=True,
        text=True,
        env={**env, "CRM_DATABASE_URL": url},
        timeout=120,
    )


def test_db_commands_mask_query_passwords(empty_db_url):
    url = f"{empty_db_url}?password={SECRET}&sslpassword={SSL_SECRET}"
    up = run_cli("db", "upgrade", url=url)
    assert up.returncode == 0, up.stderr
    assert "?password=***&sslpassword=*** is at revision" in up.stdout
    current = run_cli("db", "current", url=url)
    assert current.returncode == 0, current.stderr
    down = run_cli("db", "downgrade", "base", url=url)
    assert down.returncode == 0, down.stderr
    assert "?password=***&sslpassword=*** is at revision base" in down.stdout
    for result in (up, current, down):
        assert SECRET not in result.stdout + result.stderr
        assert SSL_SECRET not in result.stdout + result.stderr


def test_unusable_url_error_masks_query_passwords():
    url = f"nosuchdb://u:pw-1234@127.0.0.1/x?password={SECRET}&sslpassword={SSL_SECRET}"
    for command in (("db", "upgrade"), ("db", "current"), ("db", "downgrade")):
        result = run_cli(*command, url=url)
        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(
            "Error: cannot use database URL "
            "nosuchdb://u:***@127.0.0.1/x?password=***&sslpassword=***: "
        )
        for secret in (SECRET, SSL_SECRET, "pw-1234"):
            assert secret not in result.stdout + result.stderr


def test_driver_errors_never_echo_the_password():
    """An unreachable server, with the password in the userinfo and in the query."""
    url = f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/x?sslpassword={SSL_SECRET}"
    result = run_cli("db", "current", url=url)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert SECRET not in result.stderr and SSL_SECRET not in result.stderr
