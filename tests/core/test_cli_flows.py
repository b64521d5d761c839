"""`unibox chatflow`, `unibox kb` and `agent set --meeting-link` through the real command (a
subprocess): saved text is checked, refusals are one line naming the line, nothing changes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.core.test_cli import unibox
from tests.core.test_cli_admin import ok, refused, seq
from unibox_tui.core import commands as cmd
from unibox_tui.core.db import open_workspace

BOT = """\
type = "bot"
priority = 3

[target]
url_contains = "/help"

[[steps]]
type = "question"
text = "Your e-mail?"
validate = "email"
"""


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "ws.db")
    ok("init", "--db", path, "--name", "Ana Lima", "--handle", "ana", "--email", "ana@x.example")
    ok("agent", "add", "Bo Chen", "--db", path, "--handle", "bo")
    with open_workspace(path) as ws:  # `channel add chat` is the widget's work
        cmd.add_channel(ws, "Support", "chat", "Website")
    return path


def editor(tmp_path: Path, script: str) -> dict[str, str]:
    path = tmp_path / "editor.sh"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return {"EDITOR": str(path), "VISUAL": ""}


def test_chatflow_add_list_show_enable_disable(db: str, tmp_path: Path) -> None:
    source = tmp_path / "bot.toml"
    source.write_text(BOT)
    data = ok(
        "chatflow", "add", "Helper", "--channel", "website", "--file", str(source), "--db", db
    )
    assert data["chatflow"] | {"id": None, "channel_id": None} == {
        "id": None,
        "name": "Helper",
        "channel": "Website",
        "channel_id": None,
        "type": "bot",
        "enabled": True,
        "priority": 3,
        "target": {"url_contains": ["/help"]},
        "steps": 1,
    }
    # Without a file: the template, disabled until edited and enabled.
    data = ok("chatflow", "add", "Draft", "--channel", "Website", "--db", db)
    assert (data["chatflow"]["type"], data["chatflow"]["enabled"]) == ("bot", False)
    listed = ok("chatflow", "list", "--db", db)["chatflows"]
    assert [(c["name"], c["enabled"]) for c in listed] == [("Helper", True), ("Draft", False)]
    shown = unibox("chatflow", "show", "helper", "--db", db)
    assert shown.returncode == 0 and shown.stdout == BOT
    assert ok("chatflow", "show", "Helper", "--db", db)["stats"]["started"] == 0
    assert ok("chatflow", "disable", "Helper", "--db", db)["changed"] is True
    assert ok("chatflow", "disable", "Helper", "--db", db)["changed"] is False
    assert ok("chatflow", "enable", "Draft", "--db", db)["enabled"] is True
    # Only admins change chatflows.
    refused("chatflow", "enable", "Helper", "--db", db, "--as", "bo", match="only an admin")


def test_a_wrong_chatflow_is_refused_with_its_line_and_nothing_changes(
    db: str, tmp_path: Path
) -> None:
    source = tmp_path / "bad.toml"
    source.write_text(BOT.replace('validate = "email"', 'validate = "mail"'))
    before = seq(db)
    refused(
        "chatflow", "add", "Bad", "--channel", "Website", "--file", str(source), "--db", db,
        match="line 10: `validate` must be one of 'email', 'number', 'phone', not 'mail'",
    )  # fmt: skip
    source.write_text('type = "bot"\n[[steps]\n')
    refused(
        "chatflow", "add", "Bad", "--channel", "Website", "--file", str(source), "--db", db,
        match="line 2: ",
    )  # fmt: skip
    refused(
        "chatflow", "add", "Bad", "--channel", "Nope", "--file", str(source), "--db", db,
        match="line 2: ",  # the text is checked first, the channel next
    )  # fmt: skip
    assert seq(db) == before


def test_chatflow_edit_opens_the_editor_and_checks_before_saving(db: str, tmp_path: Path) -> None:
    source = tmp_path / "bot.toml"
    source.write_text(BOT)
    ok("chatflow", "add", "Helper", "--channel", "Website", "--file", str(source), "--db", db)
    env = editor(tmp_path, "sed -i 's/priority = 3/priority = 8/' \"$1\"")
    done = unibox("chatflow", "edit", "Helper", "--db", db, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["chatflow"]["priority"] == 8
    # An edit that breaks it is refused (not at a terminal: no second try) and not saved.
    before = seq(db)
    env = editor(tmp_path, 'sed -i \'s/type = "question"/type = "questio"/\' "$1"')
    done = unibox("chatflow", "edit", "Helper", "--db", db, env=env)
    assert done.returncode == 1 and done.stderr.startswith("unibox: error: line 8: `type`")
    assert seq(db) == before
    # No change made in the editor: nothing saved.
    done = unibox("chatflow", "edit", "Helper", "--db", db, env=editor(tmp_path, "true"))
    assert done.returncode == 0 and done.stdout.startswith("no change")
    assert seq(db) == before
    shown = unibox("chatflow", "show", "Helper", "--db", db).stdout
    assert "priority = 8" in shown and 'type = "question"' in shown


def test_kb_add_list_remove(db: str, tmp_path: Path) -> None:
    body = tmp_path / "article.md"
    body.write_text("Open settings, then Security.")
    data = ok(
        "kb", "add", "Reset your password", "--url", "https://help.example/reset",
        "--file", str(body), "--db", db,
    )  # fmt: skip
    assert data["article"]["body"] == "Open settings, then Security."
    ok("kb", "add", "Refunds", "--url", "https://x.example/r", "--body", "Money back", "--db", db)
    ok("kb", "add", "Refunds", "--url", "https://help.example/refunds", "--db", db, "--as", "bo")
    titles = [a["title"] for a in ok("kb", "list", "--db", db)["articles"]]
    assert titles == ["Refunds", "Reset your password"]
    found = ok("kb", "list", "--search", "security", "--db", db)["articles"]
    assert [a["title"] for a in found] == ["Reset your password"]
    before = seq(db)
    refused("kb", "add", "Bad", "--url", "ftp://x.example/", "--db", db, match="http(s) URL")
    refused("kb", "remove", "Nothing", "--db", db, match="no knowledge article 'Nothing'")
    assert seq(db) == before
    assert ok("kb", "remove", "refunds", "--db", db)["removed"] == "Refunds"
    assert [a["title"] for a in ok("kb", "list", "--db", db)["articles"]] == ["Reset your password"]


def test_agent_meeting_link(db: str) -> None:
    data = ok("agent", "set", "ana", "--meeting-link", "https://cal.example/ana", "--db", db)
    assert data["agent"]["meeting_link"] == "https://cal.example/ana"
    # An agent sets their own; another agent's needs an admin.
    ok("agent", "set", "bo", "--meeting-link", "https://cal.example/bo", "--db", db, "--as", "bo")
    refused(
        "agent", "set", "ana", "--meeting-link", "https://x.example", "--db", db, "--as", "bo",
        match="only an admin",
    )  # fmt: skip
    refused("agent", "set", "ana", "--meeting-link", "cal.example", "--db", db, match="http(s)")
    data = ok("agent", "set", "ana", "--meeting-link", "", "--db", db)
    assert data["agent"]["meeting_link"] is None
