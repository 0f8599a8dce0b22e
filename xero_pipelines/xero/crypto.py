"""Encryption at rest for the stored token set (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from `XERO_TOKEN_KEY`, else from `$XERO_PIPELINES_HOME/token.key`, which is
generated once with mode 0600. Two processes starting at once must agree on one key, so
the file is written aside and hard-linked into place: the link either wins or finds the
other process's complete file, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from xero_pipelines.db.engine import pipelines_home
from xero_pipelines.xero.errors import XeroError

KEY_ENV = "XERO_TOKEN_KEY"
KEY_FILE = "token.key"


class TokenKeyError(XeroError):
    """The token key is missing, malformed, or not the one the tokens were stored with."""


class TokenKeyChangedError(TokenKeyError):
    """The stored tokens were encrypted with another key."""

    def __init__(self) -> None:
        super().__init__(
            "the token key changed: set XERO_TOKEN_KEY back or run `xero-pipelines reconnect`"
        )


def key_path(home: Path | None = None) -> Path:
    return (home or pipelines_home()) / KEY_FILE


def load_or_create_key(environ: Mapping[str, str] | None = None, home: Path | None = None) -> bytes:
    """The Fernet key: `$XERO_TOKEN_KEY`, else the key file, created once if absent."""
    env = os.environ if environ is None else environ
    configured = env.get(KEY_ENV, "").strip()
    if configured:
        return _checked(configured.encode(), f"{KEY_ENV} is not a Fernet key")
    path = key_path(home)
    if not path.exists():
        _create_key_file(path)
    return _checked(path.read_bytes().strip(), f"{path} does not hold a Fernet key")


def _checked(key: bytes, message: str) -> bytes:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise TokenKeyError(
            f"{message} (32 url-safe base64 bytes; make one with "
            "`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)"
        ) from None
    return key


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".token.key.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race
            os.link(tmp, path)  # atomic: the file appears complete or not at all
    finally:
        os.unlink(tmp)


class TokenCipher:
    """Encrypts and decrypts the token set's JSON; the key never appears in `repr`."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, home: Path | None = None
    ) -> TokenCipher:
        return cls(load_or_create_key(environ, home))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise TokenKeyChangedError() from None

    def __repr__(self) -> str:
        return "TokenCipher(<key hidden>)"
