"""`unibox channel add form|fallback` and `unibox channel embed` as a user runs them (real
subprocesses): what they store, what they print, and one clear line for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from unibox_tui.core import queries as q
from unibox_tui.core.db import open_workspace

UNIBOX = [sys.executable, "-m", "unibox_tui"]


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UNIBOX_CONFIG": str(db.parent / "config.toml")}
    env.pop("UNIBOX_HUB", None)  # the hub URL comes from the test alone
    return subprocess.run(
        [*UNIBOX, *args, "--db", str(db)], capture_output=True, text=True, timeout=60, env=env
    )


def refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 1, result
    assert result.stderr.startswith("unibox: error: ") and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_form_with_allowed_origins_and_its_embed(tmp_path: Path) -> None:
    db = tmp_path / "ws.db"
    added = run(
        db, "channel", "add", "form", "--inbox", "Support", "--name", "Contact us",
        "--allowed-origin", "https://www.Example.com/", "--rate-limit", "30",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    form = added.stdout.strip()
    ws = open_workspace(db)
    try:
        [row] = [c for c in q.channels(ws) if c.id == form]
    finally:
        ws.close()
    assert row.settings["allowed_origins"] == ["https://www.example.com"]
    assert row.settings["rate_limit"] == 30

    shown = run(db, "channel", "embed", "Contact us", "--hub-url", "https://hub.acme.example/")
    assert shown.returncode == 0, shown.stderr
    assert f"Form page: https://hub.acme.example/forms/{form}" in shown.stdout
    assert f'action="https://hub.acme.example/forms/{form}"' in shown.stdout
    as_json = json.loads(
        run(db, "channel", "embed", form, "--json", "--hub-url", "https://h.example").stdout
    )
    assert as_json["url"] == f"https://h.example/forms/{form}"
    assert as_json["allowed_origins"] == ["https://www.example.com"]
    assert '<label for="unibox-email">' in as_json["html"]

    refused(run(db, "channel", "embed", form), "--hub-url")  # no hub URL known
    refused(run(db, "channel", "embed", form, "--hub-url", "hub.example"), "give a URL")
    before = db.stat().st_mtime_ns
    refused(
        run(db, "channel", "add", "form", "--inbox", "Support", "--name", "X",
            "--allowed-origin", "https://www.example.com/contact"),
        "no path",
    )  # fmt: skip
    refused(
        run(db, "channel", "add", "form", "--inbox", "Support", "--name", "X",
            "--allowed-origin", "javascript:alert(1)"),
        "allowed origin",
    )  # fmt: skip
    assert db.stat().st_mtime_ns == before


def test_a_fallback_address_and_its_embed(tmp_path: Path) -> None:
    db = tmp_path / "ws.db"
    added = run(
        db, "channel", "add", "fallback", "--inbox", "Support", "--address",
        "Support@Hub.example", "--smtp-host", "relay.example", "--smtp-username", "hub",
        "--password-env", "RELAY_PASSWORD",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    channel = added.stdout.strip()
    shown = run(db, "channel", "embed", channel)
    assert shown.returncode == 0, shown.stderr
    assert "Forward mail to: support@hub.example" in shown.stdout
    assert "0.0.0.0:2525" in shown.stdout
    listed = json.loads(run(db, "channel", "list", "--json").stdout)
    [row] = [c for c in listed if c["id"] == channel]
    assert row["kind"] == "fallback" and row["settings"]["password_source"] == "env:RELAY_PASSWORD"
    assert "password" not in json.dumps(row["settings"]).replace("password_source", "")

    base = ["channel", "add", "fallback", "--inbox", "Support", "--address", "a@hub.example"]
    refused(run(db, *base[:-2], "--address", "nope", "--smtp-host", "r"), "not an e-mail")
    refused(run(db, *base, "--smtp-host", "r", "--listen", "2525"), "HOST:PORT")
    refused(run(db, *base, "--smtp-host", "r", "--password-env", "X"), "--smtp-username")
    refused(run(db, "channel", "embed", "nope"), "no channel")
