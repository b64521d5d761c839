"""Config file and secrets: the fallback order and the clear errors."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring

from unibox_tui.config import load_config
from unibox_tui.core.errors import ConfigError, SecretError
from unibox_tui.secrets import resolve_secret, store_secret


def test_config_defaults_roundtrip_and_keeps_unknown_sections(isolated_home: Path) -> None:
    cfg = load_config()
    assert (cfg.agent, cfg.theme, cfg.bell) == (None, "textual-dark", False)
    cfg.path.write_text('[agent]\nhandle = "bo"\n[future]\nx = 1\n[keymap]\nreply = "R"\n')
    cfg = load_config()
    assert cfg.agent == "bo" and cfg.keymap == {"reply": "R"}
    cfg.theme = "nord"
    cfg.save()
    again = load_config()
    assert again.theme == "nord" and again.raw["future"] == {"x": 1} and again.agent == "bo"


def test_config_errors_are_one_line(isolated_home: Path) -> None:
    path = load_config().path
    path.write_text("[agent\nhandle=")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config()
    path.write_text('[channels.mail]\npassword = "hunter2"\n')
    with pytest.raises(ConfigError, match="looks like a secret"):
        load_config()


def test_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_PW", "from-env")
    assert resolve_secret("mail", "env:MAIL_PW") == "from-env"
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    assert resolve_secret("mail", f"file:{secret_file}") == "from-file"
    store_secret("mail", "from-keyring")
    assert resolve_secret("mail", "keyring") == "from-keyring"
    assert resolve_secret("other", "keyring", prompt=lambda _: "typed") == "typed"
    with pytest.raises(SecretError, match="MISSING is not set"):
        resolve_secret("mail", "env:MISSING")
    with pytest.raises(SecretError, match="cannot read secret file"):
        resolve_secret("mail", f"file:{tmp_path / 'nope'}")


def test_no_keyring_backend_names_the_alternatives() -> None:
    keyring.set_keyring(FailKeyring())
    with pytest.raises(SecretError, match="--password-env VAR or --password-file FILE"):
        store_secret("mail", "x")
    with pytest.raises(SecretError, match="no usable keyring"):
        resolve_secret("mail", "keyring")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('agent = "ana"\n', r"\[agent\] must be a table"),
        ('[ui]\nwatch = "unassigned"\n', "list of views"),
        ("[agent]\nhandle = 3\n", "agent.handle is a text"),
        ('[ui]\nundo_seconds = "5"\n', "ui.undo_seconds is a number of seconds"),
        ("[compose]\nundo_send_seconds = -1\n", "compose.undo_send_seconds is a number"),
        ("compose = 3\n", r"\[compose\] must be a table"),
        ('[ui]\nsort = "oldest"\n', "ui.sort is one of newest, waiting, customer, priority"),
    ],
)
def test_config_wrong_types_are_one_line(isolated_home: Path, text: str, message: str) -> None:
    load_config().path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config()


def test_undo_windows_come_from_the_config(isolated_home: Path) -> None:
    assert (load_config().undo_seconds, load_config().undo_send_seconds) == (5.0, 5.0)
    load_config().path.write_text("[ui]\nundo_seconds = 8\n[compose]\nundo_send_seconds = 0\n")
    config = load_config()
    assert (config.undo_seconds, config.undo_send_seconds) == (8.0, 0.0)
