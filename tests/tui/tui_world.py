"""The TUI tests' world: a small workspace built through the core commands at a frozen
time (so pilot tests and SVG snapshots are stable), hostile customer text, and a helper
that reads the screen as text.

Times are UTC and TZ is pinned to UTC for this process (the thread shows local times).
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from unibox_tui.app import UniboxApp
from unibox_tui.core import commands as cmd
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.commands import Incoming, IncomingAttachment
from unibox_tui.core.db import Workspace
from unibox_tui.widgets import textual_compat

os.environ["TZ"] = "UTC"
time.tzset()

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday

# Hostile customer text: markup, ANSI/OSC escapes, C1 controls, bidi overrides.
EVIL_NAME = "[bold red]Mallory[/bold red] \x1b]0;pwned\x07\x1b[31mX\x1b[0m \u202eevil\u202c"
EVIL_SUBJECT = "[link=https://evil.test]click me[/link] [blink]now[/blink]"
EVIL_BODY = (
    "Hello [bold]agent[/bold] \x1b[2J\x1b[H cleared? \x9b31m C1 \x85 \u202egnp.exe\u202c\n"
    "\x1b]8;;https://evil.test\x1b\\link\x1b]8;;\x1b\\ done\n" + "A" * 10_000
)


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


@dataclass
class Demo:
    """Ids of what the fixture built, for tests to refer to."""

    ws: Workspace
    path: Path
    agents: dict[str, str]
    channels: dict[str, str]
    conv: dict[str, str]
    contacts: dict[str, str]


def incoming(channel: str, kind: str, value: str, name: str, body: str, at: datetime, **kw):
    return Incoming(
        channel_id=channel,
        identity_kind=kind,
        identity_value=value,
        contact_name=name,
        body=body,
        created_at=at,
        **kw,
    )


def build(ws: Workspace) -> None:
    cmd.create_agent(ws, "Ana Lima", "ana", "ana@acme.test")
    cmd.create_agent(ws, "Bo Chen", "bo", "bo@acme.test")
    cmd.create_agent(ws, "Chiara Rossi", "chiara", availability="away")
    cmd.create_team(ws, "Billing", ["ana", "bo"])
    cmd.create_inbox(ws, "Support")
    cmd.create_inbox(ws, "Sales")
    cmd.create_pipeline(ws, "Billing", ["New", "Investigating", "Refund issued", "Resolved"])
    ch = {
        "email": cmd.add_channel(ws, "Support", "email", "Support mail", "support@acme.test"),
        "chat": cmd.add_channel(ws, "Support", "chat", "Website chat"),
        "messenger": cmd.add_channel(ws, "Support", "messenger", "Acme page"),
        "whatsapp": cmd.add_channel(ws, "Support", "whatsapp", "+351 210 000 000"),
        "form": cmd.add_channel(ws, "Support", "form", "Contact form"),
        "sales": cmd.add_channel(ws, "Sales", "email", "Sales mail", "sales@acme.test"),
    }
    conv: dict[str, str] = {}
    mail = cmd.ingest(
        ws,
        incoming(
            ch["email"],
            "email",
            "marta@example.com",
            "Marta Silva",
            "Hi,\nmy order #1042 still hasn't arrived. Can you check?\n\n"
            "On Fri, 27 Feb 2026 at 09:00, Acme <support@acme.test> wrote:\n"
            "> Your order has shipped.\n> Tracking: ZX-1",
            ago(hours=5),
            subject="Order #1042 hasn't arrived",
            body_html="<p>Hi,</p><p>my order <b>#1042</b> still hasn't arrived.</p>",
            external_id="<m1@example.com>",
            attachments=(
                IncomingAttachment("invoice-1042.pdf", "application/pdf", 5, b"%PDF-"),
                IncomingAttachment("huge.mov", "video/quicktime", 40 << 20, None, "over 25 MB"),
            ),
        ),
    )
    conv["mail"] = mail.conversation_id
    cmd.assign(ws, conv["mail"], "ana", actor="bo", now=ago(hours=4, minutes=50))
    cmd.reply(
        ws,
        conv["mail"],
        "Hi Marta, I've asked the courier. I'll write again today.",
        actor="ana",
        now=ago(hours=4),
    )
    cmd.comment(
        ws,
        conv["mail"],
        "@bo can you check the warehouse scan for #1042? cc @nobody",
        actor="ana",
        now=ago(hours=3),
    )
    cmd.ingest(
        ws,
        incoming(
            ch["email"],
            "email",
            "marta@example.com",
            "Marta Silva",
            "Thanks! Still nothing today.",
            ago(minutes=30),
            subject="Re: Order #1042 hasn't arrived",
            references=("<m1@example.com>",),
            external_id="<m2@example.com>",
        ),
    )
    conv["chat"] = cmd.ingest(
        ws,
        incoming(
            ch["chat"], "chat", "visitor-7f3a", "", "Hello? Is anyone there?", ago(minutes=12)
        ),
    ).conversation_id
    msgr = cmd.ingest(
        ws,
        incoming(
            ch["messenger"],
            "messenger",
            "psid-4411",
            "Kenji Tanaka",
            "Do you ship to Norway?",
            ago(hours=2),
        ),
    )
    conv["messenger"] = msgr.conversation_id
    cmd.add_identity(
        ws, queries_contact_id(ws, conv["messenger"]), "email", "kenji@example.jp", actor="ana"
    )
    conv["whatsapp"] = cmd.ingest(
        ws,
        incoming(
            ch["whatsapp"],
            "whatsapp",
            "+351 912 345 678",
            "Lucía Moreno",
            "¿Tienen la talla M?",
            ago(hours=26),
        ),
    ).conversation_id
    conv["form"] = cmd.ingest(
        ws,
        incoming(
            ch["form"],
            "email",
            "priya@example.in",
            "Priya Sharma",
            "Name: Priya\nMessage: I'd like a demo for my team of 12.",
            ago(days=3),
            subject="Demo request",
        ),
    ).conversation_id
    conv["sales"] = cmd.ingest(
        ws,
        incoming(
            ch["sales"],
            "email",
            "olga@lumen.test",
            "Olga Ivanova",
            "Is there a discount for 50 seats on annual billing?",
            ago(days=1),
            subject="Bulk discount for 50 seats?",
        ),
    ).conversation_id
    cmd.create_ticket(
        ws,
        actor="bo",
        conversation_id=conv["sales"],
        priority="high",
        owner="bo",
        now=ago(hours=20),  # the world's clock, not the wall's: a picture shows the line
    )
    conv["closed"] = cmd.ingest(
        ws,
        incoming(
            ch["email"],
            "email",
            "jonas@example.de",
            "Jonas Müller",
            "Danke!",
            ago(days=8),
            subject="Rechnung 2231 fehlt",
        ),
    ).conversation_id
    cmd.close(ws, conv["closed"], actor="ana", now=ago(days=7))
    conv["snoozed"] = cmd.ingest(
        ws,
        incoming(
            ch["email"],
            "email",
            "aiko@example.jp",
            "Aiko Suzuki",
            "Call me next week.",
            ago(days=2),
            subject="Follow-up next week",
        ),
    ).conversation_id
    cmd.snooze(ws, conv["snoozed"], NOW + timedelta(days=3), actor="bo", now=ago(days=1))
    conv["evil"] = cmd.ingest(
        ws,
        incoming(
            ch["email"],
            "email",
            "mallory@evil.test",
            "Mallory",
            EVIL_BODY,
            ago(days=4),
            subject=EVIL_SUBJECT,
        ),
    ).conversation_id
    # update_contact stores the name as given: the UI must make it safe on its own.
    cmd.update_contact(ws, queries_contact_id(ws, conv["evil"]), name=EVIL_NAME, actor="ana")
    cmd.save_snippet(
        ws, "thanks", "Hi {{contact.first_name}}, thanks for reaching out! — {{agent.first_name}}"
    )
    cmd.save_snippet(ws, "shipping", "We ship to all EU countries and Norway within 5 days.")
    ws.set_setting("default_agent", "ana")


def queries_contact_id(ws: Workspace, conversation_id: str) -> str:
    from unibox_tui.core import queries

    return queries.conversation(ws, conversation_id, access=EVERYTHING).contact_id


def ids_from(ws: Workspace, path: Path) -> Demo:
    """Ids are minted when the template is built; read them back from a copy."""
    from unibox_tui.core import queries

    agents = {a.handle: a.id for a in queries.agents(ws)}
    channels = {c.name: c.id for c in queries.channels(ws)}
    by_subject: dict[str, str] = {}
    with ws.read() as conn:
        for cid, kind, subject, name in conn.exec_driver_sql(
            "SELECT c.id, c.channel_kind, c.subject, ct.name FROM conversation c "
            "JOIN contact ct ON ct.id = c.contact_id"
        ):
            by_subject[subject or name or kind] = cid
            by_subject[f"kind:{kind}"] = cid
    conv = {
        "mail": by_subject["Order #1042 hasn't arrived"],
        "chat": by_subject["kind:chat"],
        "messenger": by_subject["kind:messenger"],
        "whatsapp": by_subject["kind:whatsapp"],
        "form": by_subject["Demo request"],
        "sales": by_subject["Bulk discount for 50 seats?"],
        "closed": by_subject["Rechnung 2231 fehlt"],
        "snoozed": by_subject["Follow-up next week"],
        "evil": by_subject[EVIL_SUBJECT],
    }
    contacts = {
        "kenji": queries.conversation(ws, conv["messenger"], access=EVERYTHING).contact_id,
        "evil": queries.conversation(ws, conv["evil"], access=EVERYTHING).contact_id,
    }
    channels = {
        "email": channels["Support mail"],
        "chat": channels["Website chat"],
        "messenger": channels["Acme page"],
        "whatsapp": channels["+351 210 000 000"],
        "form": channels["Contact form"],
        "sales": channels["Sales mail"],
    }
    return Demo(ws, path, agents, channels, conv, contacts)


def screen_text(app: UniboxApp, *, styles: bool = False) -> str:
    """What the terminal shows, as plain text (the same render the SVG screenshot uses);
    with `styles`, with its colours and attributes as ANSI codes."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(textual_compat.screen_strips(app))
    return console.export_text(styles=styles)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    """Let workers (view counts, search) finish and the screen repaint. A worker of an
    exclusive group that a newer one replaced ends cancelled: then wait for the newer one."""
    from textual.worker import WorkerCancelled

    await pilot.pause()
    for _ in range(50):
        try:
            await pilot.app.workers.wait_for_complete()
            break
        except WorkerCancelled:
            continue
    await pilot.pause()


def row_ids(app: UniboxApp) -> list[str]:
    """Conversation ids of the list, top to bottom."""
    lst = app.screen.conv_list  # type: ignore[attr-defined]
    return [lst.row_at(i).id for i in range(lst.total)]
