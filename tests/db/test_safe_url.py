"""`safe_url` and `redact`: the one way a database URL or its error is shown."""

from __future__ import annotations

import pytest

from xero_pipelines.db.engine import DatabaseUrlError, create_db_engine, redact, safe_url

SECRET = "hunter2-in-the-query"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:pw-1234@db/crm", "postgresql+psycopg://u:***@db/crm"),
        (
            f"postgresql+psycopg://u@db/crm?password={SECRET}&sslmode=require",
            "postgresql+psycopg://u@db/crm?password=***&sslmode=require",
        ),
        (
            f"postgresql+psycopg://u@db/crm?sslpassword={SECRET}&password=a&password=b",
            "postgresql+psycopg://u@db/crm?sslpassword=***&password=***&password=***",
        ),
        (
            f"mysql+pymysql://u@db/crm?passwd={SECRET}&charset=utf8mb4",
            "mysql+pymysql://u@db/crm?passwd=***&charset=utf8mb4",
        ),
        (  # a connection string inside a parameter (ODBC, libpq)
            f"mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BX%7D%3BPWD%3D{SECRET}",
            "mssql+pyodbc:///?odbc_connect=***",
        ),
        (  # an unescaped @ in the password: SQLAlchemy puts its tail in the host
            f"postgresql://u:p@{SECRET}@db/crm",
            "postgresql://u:***@***@db/crm",
        ),
        ("sqlite:////tmp/crm.sqlite", "sqlite:////tmp/crm.sqlite"),
        (  # not a URL SQLAlchemy parses: masked all the same
            f"postgresql://u:{SECRET}@db:port/crm?password={SECRET}",
            "postgresql://u:***@db:port/crm?password=***",
        ),
        (f"host=db user=u password={SECRET}", "host=db user=u password=***"),
    ],
)
def test_safe_url_masks_every_credential(url, shown):
    assert safe_url(url) == shown
    assert SECRET not in safe_url(url)


def test_redact_removes_the_url_secrets_from_any_text():
    url = f"postgresql+psycopg://u:pw-1234@db/crm?sslpassword={SECRET}&sslmode=require"
    text = f"failed: pw-1234 / {SECRET} / hunter2-in-the-query%20 / require"
    assert redact(text, url) == "failed: *** / *** / ***%20 / require"
    assert redact("nothing to hide", None) == "nothing to hide"
    # Too short to search for in free text without blanking ordinary words.
    assert redact("a pw b", "postgresql://u:pw@db/crm") == "a pw b"


def test_unusable_url_error_masks_query_passwords():
    with pytest.raises(DatabaseUrlError) as info:
        create_db_engine(f"nosuchdb://u:pw-1234@h/x?password={SECRET}&sslpassword={SECRET}")
    message = str(info.value)
    assert message.startswith(
        "cannot use database URL nosuchdb://u:***@h/x?password=***&sslpassword=***: "
    )
    assert SECRET not in message and "pw-1234" not in message


def test_sqlite_uri_filename_creates_no_stray_folder(tmp_path, monkeypatch):
    """`sqlite:///file:...?uri=true` is a URI, not a path: no `file:` folder appears."""
    monkeypatch.chdir(tmp_path)
    engine = create_db_engine(f"sqlite:///file:{tmp_path / 'x.sqlite'}?mode=rwc&uri=true")
    with engine.connect():
        pass
    engine.dispose()
    assert (tmp_path / "x.sqlite").exists()
    assert not (tmp_path / "file:").exists()
