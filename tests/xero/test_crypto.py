"""The token cipher and its key: env var, generated file (0600, race-safe), changed key."""

from __future__ import annotations

import multiprocessing
import stat

import pytest
from cryptography.fernet import Fernet

from xero_pipelines.xero.crypto import (
    TokenCipher,
    TokenKeyChangedError,
    TokenKeyError,
    key_path,
    load_or_create_key,
)


def test_key_from_env_is_used_and_no_file_is_written(tmp_path):
    key = Fernet.generate_key()
    assert load_or_create_key({"XERO_TOKEN_KEY": key.decode()}, tmp_path) == key
    assert not key_path(tmp_path).exists()


def test_malformed_env_key_is_refused_with_a_hint(tmp_path):
    with pytest.raises(TokenKeyError, match="XERO_TOKEN_KEY is not a Fernet key"):
        load_or_create_key({"XERO_TOKEN_KEY": "hunter2"}, tmp_path)


def test_key_file_is_generated_once_with_mode_0600(tmp_path):
    home = tmp_path / "home"
    first = load_or_create_key({}, home)
    mode = stat.S_IMODE(key_path(home).stat().st_mode)
    assert mode == 0o600
    assert load_or_create_key({}, home) == first
    assert [p.name for p in home.iterdir()] == ["token.key"]  # no temp files left


def test_default_home_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XERO_PIPELINES_HOME", str(tmp_path / "h"))
    TokenCipher.from_env({}).encrypt("x")
    assert (tmp_path / "h" / "token.key").exists()


def test_a_deleted_key_file_is_never_replaced_to_decrypt(tmp_path):
    """A new key cannot read what the old one encrypted: say the file is missing."""
    home = tmp_path / "home"
    ciphertext = TokenCipher.from_env({}, home).encrypt("tokens")
    key_path(home).unlink()
    with pytest.raises(TokenKeyError) as info:
        TokenCipher.from_env({}, home).decrypt(ciphertext)
    assert str(info.value) == (
        f"the token key file {key_path(home)} is missing but the stored tokens were "
        "encrypted with it: restore the file or set XERO_TOKEN_KEY to that key, or run "
        "`xero-pipelines reconnect`"
    )
    assert not key_path(home).exists()
    # Encrypting new tokens (connect, reconnect) still makes a key, once.
    cipher = TokenCipher.from_env({}, home)
    assert cipher.decrypt(cipher.encrypt("new")) == "new"
    assert stat.S_IMODE(key_path(home).stat().st_mode) == 0o600


def test_a_malformed_key_file_is_reported_at_once(tmp_path):
    key_path(tmp_path).write_text("hunter2")
    with pytest.raises(TokenKeyError, match="does not hold a Fernet key"):
        TokenCipher.from_env({}, tmp_path)


def _load(home: str, queue) -> None:
    from pathlib import Path

    queue.put(load_or_create_key({}, Path(home)))


def test_processes_racing_to_create_the_key_agree_on_one(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_load, args=(str(tmp_path), queue)) for _ in range(6)]
    for p in procs:
        p.start()
    keys = {queue.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert len(keys) == 1
    assert keys == {key_path(tmp_path).read_bytes().strip()}


def test_round_trip_and_changed_key_message():
    cipher = TokenCipher(Fernet.generate_key())
    secret = '{"refresh_token": "r-123"}'
    ciphertext = cipher.encrypt(secret)
    assert "r-123" not in ciphertext
    assert cipher.decrypt(ciphertext) == secret
    with pytest.raises(TokenKeyChangedError) as info:
        TokenCipher(Fernet.generate_key()).decrypt(ciphertext)
    assert str(info.value) == (
        "the token key changed: set XERO_TOKEN_KEY back or run `xero-pipelines reconnect`"
    )
    assert "key" not in repr(cipher).lower().replace("key hidden", "")
