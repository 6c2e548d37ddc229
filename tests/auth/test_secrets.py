"""Secrets at rest: sealed with a key file of mode 0600 (or the environment's key), kept when left out, masked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tagpipe.auth.redact import MASK, change, redact
from tagpipe.auth.secrets import (
    KEY_FILE,
    SecretBox,
    is_sealed,
    masked,
    seal_settings,
    secret_fields,
    unsealed,
    with_kept_secrets,
)
from tagpipe.drivers.opcua import OpcUaSettings
from tagpipe.settings import Settings


def test_a_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    box = SecretBox(Settings(data_dir=tmp_path))
    sealed = box.seal("s3cret")
    assert is_sealed(sealed) and "s3cret" not in sealed
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert SecretBox(Settings(data_dir=tmp_path)).unseal(sealed) == "s3cret"  # the same key, read back


def test_a_key_from_the_environment_is_used_instead_of_a_file(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    sealed = SecretBox(Settings(data_dir=tmp_path, secret_key=key)).seal("pw")
    assert not (tmp_path / KEY_FILE).exists()
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(Settings(data_dir=tmp_path)).unseal(sealed)  # another key


def test_settings_marked_secret_are_sealed_kept_cleared_and_masked(tmp_path: Path) -> None:
    box = SecretBox(Settings(data_dir=tmp_path))
    fields = secret_fields(OpcUaSettings)
    assert fields == {"password"}
    given = {"endpoint_url": "opc.tcp://plc:4840/", "username": "op", "password": "pw"}
    stored = seal_settings(box, fields, given, given, None)
    assert is_sealed(stored["password"]) and unsealed(box, stored)["password"] == "pw"
    assert masked(stored, fields)["password"] == MASK
    for edit in ({"endpoint_url": "opc.tcp://plc:4841/", "username": "op"},
                 {"endpoint_url": "opc.tcp://plc:4841/", "username": "op", "password": MASK}):
        kept = seal_settings(box, fields, edit, with_kept_secrets(box, fields, edit, stored), stored)
        assert kept["password"] == stored["password"] and kept["endpoint_url"].endswith("4841/")
    cleared = {"endpoint_url": "opc.tcp://plc:4840/", "username": "op", "password": ""}
    sealed = seal_settings(box, fields, cleared, with_kept_secrets(box, fields, cleared, stored), stored)
    assert sealed["password"] is None


def test_the_audit_log_masks_secrets_and_shows_a_diff_of_code() -> None:
    assert redact({"username": "op", "password": "pw", "settings": {"password": "enc:v1:x", "host": "h"}}) == \
        {"username": "op", "password": MASK, "settings": {"password": MASK, "host": "h"}}
    diff = change("code", "def f():\n    return 1\n", "def f():\n    return 2\n")["diff"]
    assert "-    return 1" in diff and "+    return 2" in diff
    assert change("settings", {"host": "a", "password": "enc:v1:1"}, {"host": "a", "password": "enc:v1:2"}) == \
        {"password": MASK}
