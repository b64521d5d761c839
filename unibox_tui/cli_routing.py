"""`unibox routing show|set INBOX` and `unibox inbox hours INBOX`: how new conversations are
assigned (core/routing.py) and when an inbox is open (core/hours.py).

Registered by cli.py. Like the other admin commands: --db, --json, --as; errors are one line
with exit status 1, and a refused command changes nothing.
"""

from __future__ import annotations

from typing import Any

import click

from .cli_admin import _common, _say, inbox_group
from .cli_common import admin_actor, db_option, emit, guarded, json_option, open_ws
from .core.commands.registry import call
from .core.hours import DAYS


def _lines(views: list[Any]) -> list[str]:
    from .core.text import one_line

    out = []
    for v in views:
        where = one_line(v.inbox, 40) if v.channel is None else f"  {one_line(v.channel, 40)}"
        how = v.summary if v.channel is None or v.own else f"as the inbox{_ticket(v)}"
        out.append(f"{where}: {how}")
        if v.channel is None:
            out.append(f"  hours: {v.hours_text}")
    return out


def _ticket(v: Any) -> str:
    return "; opens a ticket" if v.tickets else ""


@click.group("routing")
def routing_group() -> None:
    """How new conversations are assigned: per inbox, overridable per channel."""


@routing_group.command("show")
@click.argument("inbox")
@click.option("--channel", help="Only this channel of the inbox (name or id).")
@db_option
@json_option
@guarded
def routing_show(inbox: str, channel: str | None, db: str | None, as_json: bool) -> None:
    """The inbox's routing, hours and each channel's routing."""
    from .core.commands.routing import show_routing

    with open_ws(db, read_only=True) as ws:
        views = show_routing(ws, inbox, channel)
    if as_json:
        emit({"routing": [v.to_json() for v in views]})
    else:
        click.echo("\n".join(_lines(views)))


def _list(values: tuple[str, ...]) -> list[str] | None:
    """Repeatable or comma-separated; one empty value ('') clears the list."""
    if not values:
        return None
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


@routing_group.command("set")
@click.argument("inbox")
@click.option("--channel", help="Set this channel's own routing instead of the inbox's.")
@click.option(
    "--rule",
    "rules",
    metavar="RULES",
    help="off, or rules tried in order: owner,round-robin (contact owner, then the pool).",
)
@click.option(
    "--agents", multiple=True, metavar="HANDLES", help="Round robin's pool: agents ('' clears)."
)
@click.option(
    "--teams", multiple=True, metavar="TEAMS", help="Round robin's pool: teams ('' clears)."
)
@click.option("--cap", type=int, help="Most open conversations an agent may hold.")
@click.option("--no-cap", is_flag=True, help="Remove the cap.")
@click.option(
    "--only-available/--any-availability",
    default=None,
    help="Route only to agents who are available (the default) or to anyone.",
)
@click.option("--tickets/--no-tickets", default=None, help="Every new conversation opens a ticket.")
@click.option("--inherit", is_flag=True, help="The channel routes as its inbox again.")
@_common
def routing_set(
    inbox: str,
    channel: str | None,
    rules: str | None,
    agents: tuple[str, ...],
    teams: tuple[str, ...],
    cap: int | None,
    no_cap: bool,
    only_available: bool | None,
    tickets: bool | None,
    inherit: bool,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Change how INBOX (or --channel) routes new conversations (admins only)."""
    from .core.commands.routing import set_routing, show_routing

    with open_ws(db) as ws:
        changed = call(
            ws,
            set_routing,
            inbox,
            channel=channel,
            rules=rules,
            agents=_list(agents) if agents else None,
            teams=_list(teams) if teams else None,
            cap=cap,
            no_cap=no_cap,
            only_available=only_available,
            tickets=tickets,
            inherit=inherit,
            actor=admin_actor(ws, as_handle),
        )
        views = show_routing(ws, inbox, channel)
    _say(
        as_json,
        {"changed": changed, "routing": [v.to_json() for v in views]},
        f"{'updated' if changed else 'no change'}: " + _lines(views)[0].strip(),
    )


def _day_option(day: str) -> Any:
    return click.option(
        f"--{day}",
        day,
        multiple=True,
        metavar="HH:MM-HH:MM",
        help=f"Open spans on {day} (repeatable; 'closed' for none)." if day == "mon" else None,
    )


@inbox_group.command("hours")
@click.argument("inbox")
@click.option("--tz", help="IANA time zone, e.g. Europe/Lisbon.")
@click.option("--weekdays", metavar="HH:MM-HH:MM", help="The same span Monday to Friday.")
@_day_option("mon")
@_day_option("tue")
@_day_option("wed")
@_day_option("thu")
@_day_option("fri")
@_day_option("sat")
@_day_option("sun")
@click.option("--holiday", "holidays", multiple=True, metavar="YYYY-MM-DD", help="Repeatable.")
@click.option("--clear", is_flag=True, help="Always open again (no hours).")
@_common
def inbox_hours(
    inbox: str,
    tz: str | None,
    weekdays: str | None,
    holidays: tuple[str, ...],
    clear: bool,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
    **days: tuple[str, ...],
) -> None:
    """Business hours: outside them routing leaves new conversations unassigned. Days given
    replace the whole week (days left out are closed); none given keeps the week."""
    from .core.commands.routing import set_inbox_hours, show_routing

    week: dict[str, list[str]] | None = None
    if weekdays or any(days.get(d) for d in DAYS):
        week = {d: [weekdays] for d in DAYS[:5]} if weekdays else {}
        for d in DAYS:
            spans = [s for s in days.get(d) or () if s.lower() != "closed"]
            if days.get(d):
                week[d] = spans
    with open_ws(db) as ws:
        changed = call(
            ws,
            set_inbox_hours,
            inbox,
            tz=tz,
            week=week,
            holidays=list(holidays) if holidays else None,
            clear=clear,
            actor=admin_actor(ws, as_handle),
        )
        view = show_routing(ws, inbox)[0]
    _say(
        as_json,
        {"changed": changed, "inbox": view.inbox, "hours": view.hours, "text": view.hours_text},
        f"{'updated' if changed else 'no change'}: {view.inbox} hours: {view.hours_text}",
    )


def register(main: click.Group) -> None:
    main.add_command(routing_group)


__all__ = ["register"]
