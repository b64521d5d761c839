"""The pieces under the webhooks, in process: signature and handshake rules, Meta's error
codes, echoes racing the send's answer, templates, and the CLI's one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from unibox_tui.backends import meta
from unibox_tui.backends.base import DeliveryResult
from unibox_tui.backends.meta import GraphError
from unibox_tui.backends.templates import fill, from_graph
from unibox_tui.core import commands as cmd
from unibox_tui.core.errors import InvalidRequest

from .conftest import PSID, SECRETS, cli, payload

# pywa's test vector (research §A.2): a revoked app secret and the raw body Meta signed.
PYWA_SECRET = "1234567890abcdef1234567890abcdef"


def test_signature_is_over_the_raw_bytes() -> None:
    body = payload("messenger_message", page_id="1", psid=PSID, time_ms=1)
    good = meta.sign("s3cret", body)
    assert meta.signature_ok("s3cret", body, good)
    assert not meta.signature_ok("s3cret", body, None)
    assert not meta.signature_ok("s3cret", body, good.replace("sha256=", "sha1="))
    assert not meta.signature_ok("other", body, good)
    assert not meta.signature_ok("s3cret", body + b" ", good)
    # Meta escapes non-ASCII as \uXXXX: the same JSON re-serialised is other bytes.
    raw = b'{"text":"caf\\u00e9"}'
    assert not meta.signature_ok(
        "s3cret", json.dumps(json.loads(raw)).encode(), meta.sign("s3cret", raw)
    )
    assert meta.signature_ok(
        "s3cret", raw, meta.sign("s3cret", raw).upper().replace("SHA256=", "sha256=")
    )


def test_handshake() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "42"}
    assert meta.handshake(params, "tok") == "42"
    assert meta.handshake({**params, "hub.mode": "unsubscribe"}, "tok") is None
    assert meta.handshake({**params, "hub.verify_token": "tok2"}, "tok") is None
    assert meta.handshake({**params, "hub.challenge": ""}, "tok") is None


@pytest.mark.parametrize(
    ("code", "subcode", "status", "outcome", "words"),
    [
        (10, 2018278, 400, "failed", "reply window closed"),
        (551, 1545041, 400, "failed", "isn't available"),
        (190, 463, 401, "retry", "re-authorising"),
        (4, None, 400, "retry", "rate limiting"),
        (613, None, 400, "retry", "rate limiting"),
        (80007, None, 400, "retry", "rate limiting"),
        (130429, None, 400, "retry", "rate limiting"),
        (2, None, 500, "retry", "temporary"),
        (1, None, 500, "retry", "temporary"),
        (131047, None, 400, "failed", "outside the 24-hour window"),
        (132001, None, 404, "failed", "no such template"),
        (100, None, 400, "failed", "Meta refused it"),
    ],
)
def test_error_codes_map_to_outcomes(code, subcode, status, outcome, words) -> None:  # type: ignore[no-untyped-def]
    result = meta.delivery_result(GraphError("boom", status=status, code=code, subcode=subcode))
    assert result.outcome == outcome
    assert words in (result.reason or "")
    if code == 190:
        assert result.channel_problem and result.after == meta.REAUTH_WAIT
    if code in (4, 613, 80007, 130429):
        assert result.after == meta.RATE_LIMIT_WAIT


def test_no_answer_after_sending_is_uncertain_not_resent() -> None:
    timed_out = meta.delivery_result(GraphError("did not answer in time", reached=True))
    assert timed_out.outcome == "uncertain"
    refused = meta.delivery_result(GraphError("cannot reach the Graph API", reached=False))
    assert refused == DeliveryResult.retry("cannot reach the Graph API")


def test_graph_down_is_a_retry(graph) -> None:  # type: ignore[no-untyped-def]
    from servers.hub import free_port

    client = meta.Graph(f"http://127.0.0.1:{free_port()}/v25.0", "t")
    with pytest.raises(GraphError) as caught:
        client.request("POST", "1/messages", body={})
    assert meta.delivery_result(caught.value).outcome == "retry"


def test_echo_before_the_sends_answer_is_matched_by_metadata(team) -> None:  # type: ignore[no-untyped-def]
    """Meta may echo our reply before its Send API answer is recorded: the echo carries our
    message id as metadata, so it is never stored as a second message."""
    conv = team.start("hi", channel=team.messenger, kind="messenger", who=PSID, name="Carla")
    reply = cmd.reply(team.ws, conv, "On it", actor="ana")
    now = datetime.now(UTC)
    assert (
        cmd.record_echo(
            team.ws, team.messenger, PSID, "m_1", "On it", now, metadata=f"unibox:{reply}"
        )
        is None
    )
    assert cmd.record_echo(team.ws, team.messenger, PSID, "m_1", "On it", now) is None  # again
    with team.ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, external_id FROM message WHERE kind = 'outgoing'"
        ).all()
    assert rows == [(reply, "m_1")]
    # One typed in Meta's inbox is imported, once; a read receipt marks it and ours.
    imported = cmd.record_echo(team.ws, team.messenger, PSID, "m_2", "From Meta", now)
    assert imported and cmd.record_echo(team.ws, team.messenger, PSID, "m_2", "x", now) is None
    with team.ws.write() as tx:  # ours went out (the engine's mark_sent)
        tx.session.connection().exec_driver_sql(
            "UPDATE message SET delivery_state = 'sent' WHERE id = ?", (reply,)
        )
    changed = cmd.apply_watermark(team.ws, team.messenger, PSID, "read", now + timedelta(seconds=5))
    assert changed == 2
    with team.ws.read() as conn:
        states = dict(
            conn.exec_driver_sql(
                "SELECT id, delivery_state FROM message WHERE kind = 'outgoing'"
            ).all()
        )
    assert states == {reply: "read", imported: "read"}


def test_templates_from_graph_and_filled() -> None:
    kept = from_graph(json.loads(payload("whatsapp_templates"))["data"])
    assert [(t["name"], t["params"]) for t in kept] == [("hello_world", 0), ("ticket_update", 2)]
    settings = {"templates": kept}
    _template, text = fill(settings, "ticket_update", ["Sheena", "#9"])
    assert text == "Hi Sheena, your ticket #9 has an update. Reply to continue."
    with pytest.raises(InvalidRequest, match="takes 2 parameter"):
        fill(settings, "ticket_update", ["Sheena"])
    with pytest.raises(InvalidRequest, match="no approved template 'spring_sale'"):
        fill(settings, "spring_sale", ["x"])


def test_cli_bad_input_is_one_line_and_adds_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "ws.db"
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    base = ["channel", "add", "messenger", "--inbox", "Support"]
    secrets = ["--page-token-env", "MSG_PAGE_TOKEN", "--app-secret-env", "MSG_APP_SECRET",
               "--verify-token-env", "MSG_VERIFY"]  # fmt: skip
    bad = cli(db, *base, "--page-id", "my-page", *secrets)
    assert bad.returncode == 1
    assert bad.stderr == "unibox: error: --page-id must be the page's numeric id (got 'my-page')\n"
    missing = cli(db, *base, "--page-id", "123", "--page-token-env", "MSG_PAGE_TOKEN")
    assert missing.returncode == 1 and missing.stderr.startswith(
        "unibox: error: no app secret given"
    )
    url = cli(db, *base, "--page-id", "123", *secrets, "--graph-url", "ftp://x")
    assert url.returncode == 1 and "is not an http(s) URL" in url.stderr
    assert not db.exists() or json.loads(cli(db, "channel", "list", "--json").stdout) == []
    added = cli(db, *base, "--page-id", "123", *secrets, "--human-agent-tag")
    assert added.returncode == 0, added.stderr
    channel = added.stdout.strip()
    embed = cli(db, "channel", "embed", channel, "--hub-url", "https://hub.acme.test/", "--json")
    assert embed.returncode == 0, embed.stderr
    info = json.loads(embed.stdout)
    assert info["callback_url"] == f"https://hub.acme.test/webhooks/messenger/{channel}"
    assert info["verify_token"] == "env:MSG_VERIFY"
    stored = cli(db, "channel", "list", "--json")
    settings = json.loads(stored.stdout)[0]["settings"]
    assert settings["human_agent_tag"] is True
    assert all(SECRETS[k] not in stored.stdout for k in SECRETS), "no secret in the database"


def test_an_upload_that_may_have_arrived_is_retried_not_uncertain() -> None:
    """Nothing reaches the customer before the send: an upload without an answer is tried
    again, where a send without an answer is uncertain."""
    timed_out = GraphError("did not answer in time", reached=True)
    assert meta.delivery_result(timed_out).outcome == "uncertain"
    assert meta.upload_result(timed_out).outcome == "retry"
    refused = GraphError("This person isn't available right now.", code=551, subcode=1545041)
    assert meta.upload_result(refused).outcome == "failed"


def test_file_rules_of_meta_channels() -> None:
    from unibox_tui.backends import registry

    whatsapp, messenger = registry.rules("whatsapp"), registry.rules("messenger")
    assert whatsapp.file_problem("a.png", "image/png", 5 * 1024 * 1024) is None
    assert "at most 5.0 MB" in (
        whatsapp.file_problem("a.png", "image/png", 5 * 1024 * 1024 + 1) or ""
    )
    assert whatsapp.file_rule("application/pdf").sends_as == "document"  # type: ignore[union-attr]
    assert "does not send" in (whatsapp.file_problem("a.zip", "application/zip", 10) or "")
    assert messenger.file_rule("application/zip").sends_as == "file"  # type: ignore[union-attr]
    assert messenger.file_rule("image/webp").sends_as == "file"  # type: ignore[union-attr]
    assert messenger.file_rule("video/mp4").sends_as == "video"  # type: ignore[union-attr]
    assert "sends no files" in (registry.rules("chat").file_problem("a.png", "image/png", 1) or "")
