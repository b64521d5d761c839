"""`unibox channel ...` and `unibox sync` through click, against the real servers."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from servers.dovecot import Dovecot, free_port
from servers.fixtures import Mailbox
from servers.mail import make_mail
from servers.smtp import SmtpServer
from waiting import wait_for

from unibox_tui.cli_channels import channel_group, sync_command
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.db import open_workspace


@click.group()
def cli() -> None:
    """Stands in for unibox_tui.cli.main, which registers the two commands the same way."""


cli.add_command(channel_group, "channel")
cli.add_command(sync_command, "sync")


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
    return result


def add_args(db: Path, box: Mailbox, smtp: SmtpServer, *extra: str) -> list[str]:
    return [
        "channel", "add", "email", "--db", str(db), "--inbox", "Support",
        "--address", "support@example.com", "--imap-host", box.host,
        "--imap-port", str(box.port), "--smtp-host", smtp.host, "--smtp-port", str(smtp.port),
        "--security", "none", "--username", box.user, *extra,
    ]  # fmt: skip


def test_add_with_env_password_list_sync_disable_remove(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer
) -> None:
    db = tmp_path / "ws.db"
    env = {"SUPPORT_PW": mailbox.password}
    added = run(
        *add_args(db, mailbox, smtp_server, "--password-env", "SUPPORT_PW", "--company", "Acme"),
        env=env,
    )
    assert added.exit_code == 0, added.output
    channel_id = added.stdout.strip()

    listed = run("channel", "list", "--db", str(db), "--json")
    [row] = json.loads(listed.stdout)
    assert row["id"] == channel_id and row["status"] == "ok" and row["enabled"]
    assert row["settings"]["password_source"] == "env:SUPPORT_PW"
    assert mailbox.password not in db.read_bytes().decode("latin-1")  # never stored

    mailbox.append(make_mail(message_id="<cli1@customer.example>"))
    synced = run("sync", "--once", "--db", str(db), env=env)
    assert synced.exit_code == 0, synced.output
    assert "1/1 messages" in synced.stderr and "support@example.com: 1 new" in synced.stderr
    assert "outbox: 0 sent" in synced.stderr
    # Deleted and re-flagged on the server: said, and kept here as it arrived.
    mailbox.append(make_mail(message_id="<cli2@customer.example>"))
    assert run("sync", "--once", "--db", str(db), env=env).exit_code == 0
    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX")
        client.add_flags([2], [b"\\Flagged"])
        client.delete_messages([1])
        client.expunge()
    synced = run("sync", "--once", "--db", str(db), env=env)
    assert "support@example.com: 0 new, 1 re-flagged and 1 deleted on the server" in (synced.stderr)
    ws = open_workspace(db)
    assert q.stats(ws)["message"] == 2
    ws.close()

    assert run("channel", "disable", channel_id[:8], "--db", str(db)).exit_code == 0
    ws = open_workspace(db)
    assert not q.channels(ws)[0].enabled
    ws.close()
    assert run("channel", "enable", "support@example.com", "--db", str(db)).exit_code == 0

    refused = run("channel", "remove", channel_id, "--db", str(db))
    assert refused.exit_code == 1
    assert "has conversations" in refused.stderr and "Traceback" not in refused.output


def test_prompted_password_goes_to_the_keyring(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, memory_keyring
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "ws.db"
    added = run(*add_args(db, mailbox, smtp_server), input=mailbox.password + "\n")
    assert added.exit_code == 0, added.output
    assert memory_keyring.store == {("unibox", f"email:{mailbox.user}@127.0.0.1"): "secret-pass"}
    ws = open_workspace(db)
    assert q.channels(ws)[0].settings["password_source"] == "keyring"
    ws.close()
    mailbox.append(make_mail(message_id="<kr@customer.example>"))
    assert run("sync", "--once", "--db", str(db)).exit_code == 0

    channel_id = added.stdout.strip()
    removed = run("channel", "remove", channel_id, "--db", str(db))
    assert removed.exit_code == 1  # it has a conversation now: disable instead
    assert memory_keyring.store  # and the password stays with it


def test_remove_unused_channel_deletes_its_keyring_password(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, memory_keyring
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "ws.db"
    added = run(*add_args(db, mailbox, smtp_server), input=mailbox.password + "\n")
    removed = run("channel", "remove", added.stdout.strip(), "--db", str(db))
    assert removed.exit_code == 0, removed.output
    assert memory_keyring.store == {}
    assert json.loads(run("channel", "list", "--db", str(db), "--json").stdout) == []


def test_no_password_and_no_terminal_is_one_clear_line(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer
) -> None:
    result = run(*add_args(tmp_path / "ws.db", mailbox, smtp_server), input="")
    assert result.exit_code == 1
    assert "--password-env" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong password", "refused the login"),
        ("unreachable", "refused the connection"),
        ("certificate", "not trusted"),
        ("missing env", "environment variable NOPE_PW is not set"),
    ],
)
def test_add_errors_are_one_line_and_add_nothing(
    case: str, expected: str, tmp_path: Path, fresh_dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    box = Mailbox(fresh_dovecot, fresh_dovecot.add_user())
    db = tmp_path / "ws.db"
    args = add_args(db, box, smtp_server, "--password-env", "PW")
    env = {"PW": box.password}
    if case == "wrong password":
        env = {"PW": "wrong-password"}
    elif case == "unreachable":
        args[args.index("--imap-port") + 1] = str(free_port())
    elif case == "certificate":
        args[args.index("--imap-port") + 1] = str(fresh_dovecot.tls_port)
        args[args.index("--security") + 1] = "tls"
    elif case == "missing env":
        args[args.index("--password-env") + 1] = "NOPE_PW"
    result = run(*args, env=env)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unibox: error: ")
    assert expected in lines[0]
    assert "wrong-password" not in result.output and "Traceback" not in result.output
    assert not db.exists() or q.channels(open_workspace(db)) == []


def test_smtp_problem_is_reported_at_add_time(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer
) -> None:
    smtp_server.stop()
    result = run(
        *add_args(tmp_path / "ws.db", mailbox, smtp_server, "--password-env", "PW"),
        env={"PW": mailbox.password},
    )
    assert result.exit_code == 1
    assert "SMTP server" in result.stderr and "refused the connection" in result.stderr


def test_sync_once_with_a_broken_channel_exits_1_with_the_reason(
    tmp_path: Path, fresh_dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    box = Mailbox(fresh_dovecot, fresh_dovecot.add_user())
    db = tmp_path / "ws.db"
    env = {"PW": box.password}
    assert run(*add_args(db, box, smtp_server, "--password-env", "PW"), env=env).exit_code == 0
    fresh_dovecot.kill()
    result = run("sync", "--once", "--db", str(db), env=env)
    assert result.exit_code == 1
    assert "unibox: error: support@example.com: " in result.stderr
    assert "Traceback" not in result.output


def test_set_sender_settings_and_filters(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer
) -> None:
    db = tmp_path / "ws.db"
    env = {"PW": mailbox.password}
    channel_id = run(
        *add_args(db, mailbox, smtp_server, "--password-env", "PW"), env=env
    ).stdout.strip()
    result = run(
        "channel", "set", channel_id, "--db", str(db), "--sender-name", "company",
        "--company", "Acme", "--signature", "Cheers, {{agent.first_name}}",
        "--reply-from", "Help@Example.com", "--deny", "spam.example", "--deny", "x@y.example",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ws = open_workspace(db)
    settings = q.channels(ws)[0].settings
    assert settings["sender_name"] == "company" and settings["reply_from"] == "help@example.com"
    assert settings["deny"] == ["spam.example", "x@y.example"]
    assert settings["password_source"] == "env:PW"  # untouched

    # A reply goes out from the reply-from address with the company name and signature.
    mailbox.append(make_mail(message_id="<set1@customer.example>"))
    assert run("sync", "--once", "--db", str(db), env=env).exit_code == 0
    agent = cmd.create_agent(ws, "Ana Lima", "ana")
    with ws.read() as conn:
        conv_id = conn.exec_driver_sql("SELECT id FROM conversation").scalar_one()
    cmd.reply(ws, conv_id, "Done.", actor=agent)
    ws.close()
    assert run("sync", "--once", "--db", str(db), env=env).exit_code == 0
    [sent] = smtp_server.messages
    assert sent.message["From"] == "Acme <help@example.com>"
    assert sent.mail_from == "help@example.com"
    assert "Cheers, Ana" in sent.message.get_body(("plain",)).get_content()


def test_commands_refuse_an_unknown_channel(tmp_path: Path) -> None:
    db = tmp_path / "ws.db"
    open_workspace(db).close()
    result = run("channel", "disable", "nope", "--db", str(db))
    assert result.exit_code == 1 and "no channel 'nope'" in result.stderr


def test_unibox_sync_runs_until_interrupted(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer
) -> None:
    """The real `unibox sync` process: IDLE push into the cache, then a clean Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys

    db = tmp_path / "ws.db"
    env = {**os.environ, "PW": mailbox.password}
    assert run(*add_args(db, mailbox, smtp_server, "--password-env", "PW"), env=env).exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "unibox_tui", "sync", "--db", str(db)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def holds(sql: str) -> bool:
        ws = open_workspace(db)
        try:
            with ws.read() as conn:
                return conn.exec_driver_sql(sql).first() is not None
        finally:
            ws.close()

    try:
        # Started and caught up (the mailbox's state is saved); IDLE follows the catch-up
        # and reports anything that arrived in between.
        wait_for(lambda: holds("SELECT 1 FROM sync_state"), what="the first catch-up")
        mailbox.append(make_mail(message_id="<live-cli@customer.example>"))
        wait_for(
            lambda: holds("SELECT 1 FROM message WHERE external_id = 'live-cli@customer.example'"),
            what="the running sync stored the new mail",
        )
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err


def test_sync_once_after_a_uidvalidity_reset_counts_what_was_stored(
    tmp_path: Path, fresh_dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    box = Mailbox(fresh_dovecot, fresh_dovecot.add_user())
    fresh_dovecot.seed_maildir(
        box.user, [make_mail(message_id=f"<r{i}@customer.example>") for i in range(3)]
    )
    db = tmp_path / "ws.db"
    env = {"SUPPORT_PW": box.password}
    assert (
        run(*add_args(db, box, smtp_server, "--password-env", "SUPPORT_PW"), env=env).exit_code == 0
    )
    first = run("sync", "--once", "--db", str(db), env=env)
    assert "support@example.com: 3 new" in first.stderr, first.output
    fresh_dovecot.stop()
    fresh_dovecot.reset_uidvalidity(box.user)
    fresh_dovecot.start()
    again = run("sync", "--once", "--db", str(db), env=env)
    assert again.exit_code == 0, again.output
    assert "3/3 messages" in again.stderr  # all fetched again ...
    assert "support@example.com: 0 new" in again.stderr  # ... and all recognised
