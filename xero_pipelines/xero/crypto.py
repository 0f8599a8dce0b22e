"""Encryption at rest for the stored token set (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from `XERO_TOKEN_KEY`, else from `$XERO_PIPELINES_HOME/token.key`, which is
generated once with mode 0600. Two processes starting at once must agree on one key, so
the file is written aside and hard-linked into place: the link either wins or finds the
other process's complete file, never a half-written one.

The file is generated only to encrypt, never to decrypt: a new key cannot read tokens
stored under the old one, so a deleted key file while tokens are stored is reported
(`TokenKeyMissingError`) instead of silently replaced.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
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


class TokenKeyMissingError(TokenKeyError):
    """Tokens are stored, but the key file they were encrypted with is gone."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the token key file {path} is missing but the stored tokens were encrypted "
            "with it: restore the file or set XERO_TOKEN_KEY to that key, or run "
            "`xero-pipelines reconnect`"
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
    return _read_key_file(path)


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


def _read_key_file(path: Path) -> bytes:
    return _checked(path.read_bytes().strip(), f"{path} does not hold a Fernet key")


class TokenCipher:
    """Encrypts and decrypts the token set's JSON; the key never appears in `repr`."""

    def __init__(self, key: bytes | None = None, *, key_file: Path | None = None) -> None:
        """With `key`, use it; with only `key_file`, read that file when first needed,
        generating it for `encrypt` but never for `decrypt`."""
        if key is None and key_file is None:
            raise TypeError("TokenCipher needs a key or a key file")
        self._fernet = Fernet(key) if key is not None else None
        self._key_file = key_file
        self._lock = threading.Lock()

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, home: Path | None = None
    ) -> TokenCipher:
        """`$XERO_TOKEN_KEY`, else the key file (read now if it exists, so a bad file is
        reported at once; generated at the first `encrypt` if it does not)."""
        env = os.environ if environ is None else environ
        configured = env.get(KEY_ENV, "").strip()
        if configured:
            return cls(_checked(configured.encode(), f"{KEY_ENV} is not a Fernet key"))
        path = key_path(home)
        if path.exists():
            return cls(_read_key_file(path))
        return cls(key_file=path)

    def _key(self, *, create: bool) -> Fernet:
        with self._lock:
            if self._fernet is None:
                assert self._key_file is not None
                if not self._key_file.exists():
                    if not create:  # a new key could never decrypt what is stored
                        raise TokenKeyMissingError(self._key_file)
                    _create_key_file(self._key_file)
                self._fernet = Fernet(_read_key_file(self._key_file))
            return self._fernet

    def encrypt(self, plaintext: str) -> str:
        return self._key(create=True).encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        fernet = self._key(create=False)
        try:
            return fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise TokenKeyChangedError() from None

    def __repr__(self) -> str:
        return "TokenCipher(<key hidden>)"
