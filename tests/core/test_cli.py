"""The CLI's JSON contract and its errors, through the real `unibox` command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import T0
from unibox_tui.core.demo import build_demo


def unibox(
    *args: str, stdin: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "unibox_tui", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def ok_json(*args: str) -> dict:
    result = unibox(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "demo.db"
    build_demo(path, conversations=120, seed=5, now=T0)
    return str(path)


def test_list_contract_and_pagination(demo_db: str) -> None:
    data = ok_json("conversations", "list", "--db", demo_db, "--view", "all", "--limit", "50")
    assert data["total"] == 120 and len(data["conversations"]) == 50
    first = data["conversations"][0]
    for key in (
        "id",
        "inbox",
        "channel",
        "status",
        "subject",
        "contact",
        "assignee",
        "last_message_at",
        "unread",
        "message_count",
    ):
        assert key in first
    assert set(first["contact"]) >= {"name", "identity"}
    seen = {c["id"] for c in data["conversations"]}
    cursor = data["next_cursor"]
    while cursor:
        page = ok_json(
            "conversations",
            "list",
            "--db",
            demo_db,
            "--view",
            "all",
            "--limit",
            "50",
            "--after",
            cursor,
        )
        seen |= {c["id"] for c in page["conversations"]}
        cursor = page["next_cursor"]
    assert len(seen) == 120


def test_list_views_and_inbox_filter(demo_db: str) -> None:
    sales = ok_json(
        "conversations",
        "list",
        "--db",
        demo_db,
        "--view",
        "all",
        "--inbox",
        "Sales",
        "--limit",
        "500",
    )
    assert sales["conversations"] and {c["inbox"] for c in sales["conversations"]} == {"Sales"}
    mine = ok_json("conversations", "list", "--db", demo_db, "--view", "mine", "--as", "bo")
    assert all(c["assignee"] == "bo" and c["status"] == "open" for c in mine["conversations"])


def test_show_reply_comment_assign_close_reopen_snooze(tmp_path: Path, demo_db: str) -> None:
    db = str(tmp_path / "w.db")
    Path(db).write_bytes(Path(demo_db).read_bytes())
    listed = ok_json("conversations", "list", "--db", db, "--view", "open", "--limit", "50")
    # one bo may see (Support) and is not his yet: he is mentioned, then assigned
    rows = listed["conversations"]
    cid = next(c["id"] for c in rows if c["inbox"] == "Support" and c["assignee"] != "bo")
    reply = ok_json(
        "conversations", "reply", cid, "--text", "On its way!", "--db", db, "--as", "ana"
    )
    assert reply["delivery_state"] == "queued"
    comment = ok_json("conversations", "comment", cid, "--text", "@bo and @ghost look", "--db", db)
    assert comment["mentioned"] == ["bo"] and comment["unknown"] == ["ghost"]
    assigned = ok_json("conversations", "assign", cid, "--to", "bo", "--db", db)
    assert assigned["changed"] and assigned["conversation"]["assignee"] == "bo"
    assert not ok_json("conversations", "assign", cid, "--to", "bo", "--db", db)["changed"]
    closed = ok_json("conversations", "close", cid, "--db", db)
    assert closed["conversation"]["status"] == "closed"
    assert ok_json("conversations", "reopen", cid, "--db", db)["conversation"]["status"] == "open"
    snoozed = ok_json("conversations", "snooze", cid, "--until", "3d", "--db", db)
    assert (
        snoozed["conversation"]["status"] == "snoozed" and snoozed["conversation"]["snoozed_until"]
    )
    shown = ok_json("conversations", "show", cid, "--db", db)
    bodies = [(m["kind"], m["body"]) for m in shown["messages"]]
    assert ("outgoing", "On its way!") in bodies and ("comment", "@bo and @ghost look") in bodies
    assert shown["messages"][-1]["body"].startswith("Ana Lima snoozed this until")
    out = next(m for m in shown["messages"] if m["body"] == "On its way!")
    assert (out["author"], out["delivery_state"]) == ("Ana Lima", "queued")
    times = [m["created_at"] for m in shown["messages"]]
    assert times == sorted(times)


def test_snooze_until_reads_times_in_the_configured_zone(
    tmp_path: Path, demo_db: str, isolated_home: Path
) -> None:
    """`tomorrow 9:00` is 9:00 in config [agent] timezone (the picker reads it the same way:
    core.when); an unknown zone is one line, nothing changed."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    db = str(tmp_path / "w.db")
    Path(db).write_bytes(Path(demo_db).read_bytes())
    cid = ok_json("conversations", "list", "--db", db, "--view", "open", "--limit", "1")[
        "conversations"
    ][0]["id"]
    config = isolated_home / "config.toml"
    config.write_text('[agent]\nhandle = "ana"\ntimezone = "Pacific/Auckland"\n', "utf-8")
    zone = ZoneInfo("Pacific/Auckland")
    before = datetime.now(UTC).astimezone(zone).date()
    data = ok_json("conversations", "snooze", cid, "--until", "tomorrow 9:00", "--db", db)
    until = datetime.fromisoformat(data["conversation"]["snoozed_until"]).astimezone(zone)
    after = datetime.now(UTC).astimezone(zone).date()
    assert (until.hour, until.minute) == (9, 0)
    assert until.date() in (before + timedelta(days=1), after + timedelta(days=1))
    config.write_text('[agent]\nhandle = "ana"\ntimezone = "Nowhere/Land"\n', "utf-8")
    result = unibox("conversations", "snooze", cid, "--until", "3h", "--db", db)
    assert result.returncode == 1 and "agent.timezone is a zone name" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_search_json(demo_db: str) -> None:
    data = ok_json("search", "refund", "--db", demo_db)
    assert data["results"]
    hit = data["results"][0]
    s, e = hit["highlights"][0]
    assert hit["snippet"][s:e].lower().startswith("refund")


def test_search_pages_with_after_and_reads_operators(demo_db: str) -> None:
    everything = ok_json("search", "refund", "--limit", "500", "--db", demo_db)
    assert everything["next_cursor"] is None and len(everything["results"]) > 6
    seen: list[str] = []
    cursor = None
    while True:
        extra = ["--after", cursor] if cursor else []
        page = ok_json("search", "refund", "--limit", "4", *extra, "--db", demo_db)
        seen += [r["conversation"]["id"] for r in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert set(seen) == {r["conversation"]["id"] for r in everything["results"]}
    # The human form says how to go on.
    result = unibox("search", "refund", "--limit", "2", "--db", demo_db)
    assert result.returncode == 0 and "more: --after '" in result.stdout
    # Operators, alone and with words.
    closed = ok_json("search", "status:closed", "channel:email", "--limit", "500", "--db", demo_db)
    assert closed["results"] and all(
        r["conversation"]["status"] == "closed" and r["conversation"]["channel"] == "email"
        for r in closed["results"]
    )
    # (the word last: a word being typed is a prefix, as in the search above, so "refund"
    # finds "refunded" in both)
    mixed = ok_json("search", "status:open refund", "--limit", "500", "--db", demo_db)
    assert {r["conversation"]["id"] for r in mixed["results"]} == {
        r["conversation"]["id"]
        for r in everything["results"]
        if r["conversation"]["status"] == "open"
    }


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["status:pending"], "unknown status 'pending'"),
        (["from:"], "from: needs a value"),
        (["in:Nowhere"], "no inbox 'Nowhere'"),
        (["refund", "--after", "m:oops"], "bad cursor"),
        (['"unbalanced AND OR ('], None),  # customer text: words, never an error
    ],
)
def test_search_errors_are_one_line(demo_db: str, args: list[str], says: str | None) -> None:
    result = unibox("search", *args, "--db", demo_db)
    if says is None:
        assert result.returncode == 0 and "Traceback" not in result.stderr
        return
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("unibox: error: ") and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_doctor(demo_db: str) -> None:
    data = ok_json("doctor", "--db", demo_db)
    assert data["db"]["revision"] == data["db"]["head_revision"]
    assert data["db"]["conversation"] == 120 and len(data["channels"]) == 8
    assert "keyring" in data


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["conversations", "show", "nope"], "no conversation nope (not found or no access)"),
        (
            ["conversations", "reply", "nope", "--text", "x"],
            "no conversation nope (not found or no access)",
        ),
        (["conversations", "list", "--view", "bogus"], "unknown view 'bogus'"),
        (["conversations", "assign", "CID", "--to", "zed"], "no agent 'zed'"),
        (["conversations", "snooze", "CID", "--until", "someday"], "cannot read the time"),
        (["conversations", "list", "--after", "x|y"], "bad cursor"),
    ],
)
def test_errors_are_one_line_and_change_nothing(
    tmp_path: Path, demo_db: str, args: list[str], message: str
) -> None:
    db = tmp_path / "w.db"
    db.write_bytes(Path(demo_db).read_bytes())
    cid = ok_json("conversations", "list", "--db", str(db), "--limit", "1")["conversations"][0][
        "id"
    ]
    before = ok_json("doctor", "--db", str(db))["db"]
    result = unibox(*[cid if a == "CID" else a for a in args], "--db", str(db))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert ok_json("doctor", "--db", str(db))["db"] == before


def test_usage_error_exits_2(demo_db: str) -> None:
    result = unibox("conversations", "assign", "x", "--db", demo_db)
    assert result.returncode == 2 and "exactly one of" in result.stderr


@pytest.mark.parametrize(
    "content", [b"garbage, not sqlite\n" * 50, b"SQLite format 3\x00" + b"\x00" * 200]
)
def test_corrupt_db_is_left_byte_for_byte(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "corrupt.db"
    db.write_bytes(content)
    for args in (
        ["conversations", "list"],
        ["conversations", "reply", "x", "--text", "hi"],
        ["search", "x"],
        ["demo", "--generate-only"],
    ):
        result = unibox(*args, "--db", str(db))
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr and result.stderr.startswith("unibox: error:")
        assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.db"]


def test_missing_db_is_not_created_by_read_commands(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    result = unibox("conversations", "list", "--db", str(db))
    assert result.returncode == 1 and "no workspace at" in result.stderr
    assert not db.exists()


def test_demo_generate_only_builds_once(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    first = ok_json("demo", "--generate-only", "--conversations", "30", "--db", str(db))
    assert first["conversations"] == 30 and first["reused"] is False and first["seconds"] > 0
    again = ok_json("demo", "--generate-only", "--db", str(db))
    assert again["reused"] is True
    # Said as it is: nothing is opened (it said "Opening the demo workspace" and exited).
    told = unibox("demo", "--generate-only", "--db", str(db))
    assert told.returncode == 0 and "is built already" in told.stdout
    assert "Opening" not in told.stdout
    result = unibox("demo", "--generate-only", "--conversations", "40", "--db", str(db))
    assert result.returncode == 1 and "--rebuild" in result.stderr
    rebuilt = ok_json(
        "demo", "--generate-only", "--conversations", "40", "--rebuild", "--db", str(db)
    )
    assert rebuilt["conversations"] == 40


def test_demo_of_another_size_is_built_beside_the_first(isolated_home: Path) -> None:
    thirty = ok_json("demo", "--generate-only", "--conversations", "30")
    forty = ok_json("demo", "--generate-only", "--conversations", "40")
    assert thirty["reused"] is False and forty["reused"] is False
    assert thirty["path"] != forty["path"] and forty["path"].endswith("demo-40.db")
    again = ok_json("demo", "--generate-only", "--conversations", "30")
    assert again["reused"] is True and again["path"] == thirty["path"]


def test_demo_refuses_a_real_workspace(tmp_path: Path) -> None:
    from unibox_tui.core import commands as cmd
    from unibox_tui.core.db import open_workspace

    db = tmp_path / "real.db"
    with open_workspace(db) as ws:
        cmd.create_agent(ws, "Ana", "ana")
    result = unibox("demo", "--generate-only", "--db", str(db))
    assert result.returncode == 1 and "real workspace" in result.stderr


def test_customer_text_is_cleaned_in_human_output(demo_db: str) -> None:
    result = unibox("search", "urgent refund", "--db", demo_db)
    assert result.returncode == 0 and "[bold red]URGENT[/]" in result.stdout
    assert "\x1b" not in result.stdout and "\x9b" not in result.stdout


def test_db_before_the_subcommand_counts(tmp_path: Path, demo_db: str) -> None:
    data = ok_json("--db", demo_db, "conversations", "list", "--view", "all")
    assert data["total"] == 120
    target = tmp_path / "demo-here.db"
    assert ok_json("--db", str(target), "demo", "--generate-only", "-n", "10")["path"] == str(
        target
    )
    assert target.exists()


READ_COMMANDS = [
    ["conversations", "list"],
    ["conversations", "show", "X"],
    ["search", "refund"],
    ["agents"],
    ["doctor", "--json"],
    ["channel", "list"],
]


@pytest.mark.parametrize("args", [*READ_COMMANDS, ["conversations", "reply", "X", "--text", "hi"]])
def test_an_empty_file_stays_empty(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "e.db"
    db.write_bytes(b"")
    result = unibox(*args, "--db", str(db))
    assert "Traceback" not in result.stderr
    if args[0] == "doctor":  # doctor reports problems instead of failing
        assert result.returncode == 0
        assert any("empty file" in p for p in json.loads(result.stdout)["problems"])
    else:
        assert result.returncode == 1 and "is an empty file, not a workspace" in result.stderr
    assert db.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.db"]


def _newer(path: Path, demo_db: str) -> None:
    import sqlite3

    path.write_bytes(Path(demo_db).read_bytes())
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num = '0099'")
    con.commit()
    con.close()


def _truncated(path: Path, demo_db: str) -> None:
    path.write_bytes(Path(demo_db).read_bytes()[:50_000])


@pytest.mark.parametrize("make", [_newer, _truncated])
def test_newer_and_corrupt_files_get_nothing_beside_them(
    tmp_path: Path, demo_db: str, make: Callable[[Path, str], None]
) -> None:
    db = tmp_path / "w.db"
    make(db, demo_db)
    assert db.read_bytes()[18:20] == b"\x02\x02"  # a WAL-mode file: SQLite would add -wal/-shm
    content = db.read_bytes()
    for args in [*READ_COMMANDS, ["conversations", "reply", "X", "--text", "hi"]]:
        result = unibox(*args, "--db", str(db))
        assert "Traceback" not in result.stderr
        assert result.returncode == (0 if args[0] == "doctor" else 1), result
        assert db.read_bytes() == content
        assert sorted(p.name for p in tmp_path.iterdir()) == ["w.db"], args


def _read_only_runner() -> list[str]:
    """Root may write any file: drop that power (CAP_DAC_OVERRIDE) for the command."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot make a file read-only to us")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def test_a_read_only_workspace_can_be_read(tmp_path: Path, demo_db: str) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "w.db"
    db.write_bytes(Path(demo_db).read_bytes())
    cid = ok_json("conversations", "list", "--db", str(db), "--limit", "1")["conversations"][0][
        "id"
    ]
    content = db.read_bytes()
    db.chmod(0o444)
    folder.chmod(0o555)  # not even a -shm can be created beside it
    runner = _read_only_runner()
    try:

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [*runner, sys.executable, "-m", "unibox_tui", *args, "--db", str(db)],
                capture_output=True,
                text=True,
                timeout=60,
            )

        for args in (
            ["conversations", "list", "--json"],
            ["conversations", "show", cid, "--json"],
            ["search", "refund", "--json"],
            ["agents", "--json"],
        ):
            result = run(*args)
            assert result.returncode == 0, result.stderr
            json.loads(result.stdout)
        doctor = json.loads(run("doctor", "--json").stdout)
        assert doctor["db"]["conversation"] == 120 and doctor["db"]["integrity"] == "ok"
        refused = run("conversations", "close", cid, "--as", "ana")
        assert refused.returncode == 1 and "not writable" in refused.stderr
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert db.read_bytes() == content
    assert sorted(p.name for p in folder.iterdir()) == ["w.db"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["conversations", "reply", "CID", "--text", b"caf\xe9", "--as", "ana"], "--text"),
        (["conversations", "comment", "CID", "--text", b"caf\xe9", "--as", "ana"], "--text"),
        (["conversations", "show", b"caf\xe9"], "CONVERSATION_ID"),
        (["conversations", "assign", "CID", "--to", b"caf\xe9", "--as", "ana"], "--to"),
        (["search", b"caf\xe9"], "QUERY"),
    ],
)
def test_arguments_that_are_not_utf8_are_refused_in_words(
    tmp_path: Path, demo_db: str, args: list, named: str
) -> None:
    db = tmp_path / "w.db"
    db.write_bytes(Path(demo_db).read_bytes())
    cid = ok_json("conversations", "list", "--db", str(db), "--limit", "1")["conversations"][0][
        "id"
    ]
    before = ok_json("doctor", "--db", str(db))["db"]
    result = unibox(*[cid if a == "CID" else a for a in args], "--db", str(db))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"unibox: error: the text given as {named} is not valid UTF-8; "
        "check the encoding of your terminal or script\n"
    )
    assert ok_json("doctor", "--db", str(db))["db"] == before


def test_a_reply_of_only_nul_bytes_is_refused_like_an_empty_one(
    tmp_path: Path, demo_db: str
) -> None:
    db = tmp_path / "w.db"
    db.write_bytes(Path(demo_db).read_bytes())
    cid = ok_json("conversations", "list", "--db", str(db), "--limit", "1")["conversations"][0][
        "id"
    ]
    before = ok_json("doctor", "--db", str(db))["db"]
    result = unibox(
        "conversations", "reply", cid, "--text", "-", "--as", "ana", "--db", str(db), stdin="\0\0"
    )
    assert result.returncode == 1
    assert result.stderr == "unibox: error: reply is empty; write something first\n"
    assert ok_json("doctor", "--db", str(db))["db"] == before


def test_forward_and_email_reply_options_and_their_errors(tmp_path: Path, demo_db: str) -> None:
    db = str(tmp_path / "w.db")
    Path(db).write_bytes(Path(demo_db).read_bytes())
    cid = ok_json("conversations", "list", "--db", db, "--view", "kind:email", "--limit", "1")[
        "conversations"
    ][0]["id"]
    first = ok_json("conversations", "show", cid, "--db", db)["messages"][0]["id"]
    fwd = ok_json(
        "conversations", "forward", cid, "--to", "tech@supplier.example",
        "--message", first, "--note", "Can you look?", "--db", db, "--as", "ana",
    )  # fmt: skip
    assert fwd["to"] == ["tech@supplier.example"]
    note = tmp_path / "note.txt"
    note.write_text("steps")
    reply = ok_json(
        "conversations", "reply", cid, "--text", "See the file.", "--cc", "boss@x.example",
        "--attach", str(note), "--quote", first, "--db", db, "--as", "ana",
    )  # fmt: skip
    shown = ok_json("conversations", "show", cid, "--db", db)
    bodies = {m["id"]: m["body"] for m in shown["messages"]}
    assert bodies[fwd["message_id"]].startswith("Can you look?\n\n---------- Forwarded message")
    assert bodies[reply["message_id"]].startswith("See the file.\n\nOn ")
    assert any(m["body"].endswith("forwarded a message to tech@supplier.example") for m in
               shown["messages"])  # fmt: skip

    before = ok_json("conversations", "show", cid, "--db", db)["messages"]
    for args, error in [
        (["forward", cid, "--to", "nobody"], "To: 'nobody' is not an e-mail address"),
        (["reply", cid, "--text", "x", "--bcc", "a@@b"], "Bcc: 'a@@b' is not an e-mail address"),
        (["reply", cid, "--text", "x", "--attach", str(tmp_path / "nope.pdf")], "no file "),
    ]:
        result = unibox("conversations", *args, "--db", db, "--as", "ana")
        assert result.returncode == 1
        assert result.stderr.startswith("unibox: error: ") and error in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert ok_json("conversations", "show", cid, "--db", db)["messages"] == before


def test_channel_signature_from_a_file(tmp_path: Path, demo_db: str) -> None:
    db = str(tmp_path / "w.db")
    Path(db).write_bytes(Path(demo_db).read_bytes())
    listed = unibox("channel", "list", "--db", db).stdout.splitlines()
    channel = next(line.split()[0] for line in listed if " email " in line)
    sig = tmp_path / "sig.txt"
    sig.write_text("Best regards,\n{{agent.name}}\n")
    result = unibox("channel", "set", channel, "--signature-file", str(sig), "--db", db)
    assert result.returncode == 0, result.stderr
    from unibox_tui.core.db import open_workspace

    with open_workspace(Path(db)) as ws, ws.read() as conn:
        settings = conn.exec_driver_sql(
            "SELECT settings FROM channel WHERE id = ?", (channel,)
        ).scalar_one()
    assert json.loads(settings)["signature"] == "Best regards,\n{{agent.name}}"
    missing = unibox("channel", "set", channel, "--signature-file", "nope.txt", "--db", db)
    assert missing.returncode == 1
    assert missing.stderr == "unibox: error: no signature file 'nope.txt'; check the path\n"
