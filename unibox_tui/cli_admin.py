"""Setting up and running a workspace from the shell: `unibox init`, `agent`, `team`,
`inbox`, `snippet`, `pipeline` and `notifications`.

Registered on the main group by cli.py (`register(main)`). Each command runs one core
command (commands/admin.py, setup.py, pipelines.py), which checks that the acting agent
(--as, else the config's [agent], else the workspace's default agent) may do it: only admins
change agents, teams, inboxes, access and pipelines. Every command takes --json; errors are
one line on stderr with exit status 1, and a refused command changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .cli_common import actor, as_option, db_option, emit, guarded, json_option, open_ws
from .core.commands.registry import call
from .core.errors import InvalidRequest, NotFound


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    """--db, --json and --as, then the one error rule."""
    return db_option(json_option(as_option(guarded(f))))


def _clean(text: str | None, limit: int = 60) -> str:
    from .core.text import one_line

    return one_line(text or "", limit)


def _agent(ws: Any, ref: str) -> Any:
    from .core import admin_queries as aq

    handle = ref.lstrip("@").lower()
    found = next((a for a in aq.agents(ws) if ref == a.id or a.handle == handle), None)
    if found is None:
        raise NotFound(f"no agent {ref!r}; `unibox agent list` lists handles")
    return found


def _named(rows: list[Any], ref: str, what: str, hint: str) -> Any:
    found = next((r for r in rows if r.id == ref or r.name.lower() == ref.lower()), None)
    if found is None:
        raise NotFound(f"no {what} {ref!r}; `{hint}` lists them")
    return found


def _team(ws: Any, ref: str) -> Any:
    from .core import admin_queries as aq

    return _named(aq.teams(ws), ref, "team", "unibox team list")


def _inbox(ws: Any, ref: str) -> Any:
    from .core import admin_queries as aq

    return _named(aq.inboxes(ws), ref, "inbox", "unibox inbox list")


def _pipeline(ws: Any, ref: str) -> Any:
    from .core import admin_queries as aq

    return _named(aq.pipelines(ws), ref, "pipeline", "unibox pipeline list")


def _say(as_json: bool, data: dict[str, Any], line: str) -> None:
    if as_json:
        emit(data)
    else:
        click.echo(line)


# ---------------------------------------------------------------------------------- init


@click.command("init")
@click.option("--name", help="Your name (the first agent, an admin).")
@click.option("--handle", help="Your handle for @mentions and --as (default: from the name).")
@click.option("--email", help="Your e-mail address.")
@click.option("--inbox", "inbox_name", default="Support", show_default=True, help="First inbox.")
@db_option
@json_option
@guarded
def init_command(
    name: str | None,
    handle: str | None,
    email: str | None,
    inbox_name: str,
    db: str | None,
    as_json: bool,
) -> None:
    """Set up a new workspace: you become its first agent (an admin) and its default agent,
    and a first inbox everyone may use is created. Asks for what is not given."""
    from .core import admin_queries as aq
    from .core import commands as cmd
    from .core.validate import suggest_handle

    with open_ws(db, create=True) as ws:
        if aq.workspace_has_agents(ws):
            raise InvalidRequest(
                "this workspace is set up already; an admin adds agents with `unibox agent add`"
            )
        if name is None:
            name = click.prompt("Your name", err=True)
        if handle is None:
            suggested = suggest_handle(name or "") or None
            handle = click.prompt("Your handle", default=suggested, err=True)
        if email is None:
            email = click.prompt("Your e-mail", default="", show_default=False, err=True)
        result = cmd.init_workspace(ws, name or "", handle or "", email, inbox=inbox_name)
        me = _agent(ws, result.agent_id)
        box = _inbox(ws, result.inbox_id)
    _say(
        as_json,
        {"agent": me.to_json(), "inbox": box.to_json(), "inbox_created": result.inbox_created},
        f"you are @{me.handle} (admin); inbox {_clean(box.name)} "
        f"{'created' if result.inbox_created else 'kept'}. Next: connect the team address with "
        "`unibox channel add email --inbox "
        f"{box.name!r} ...`, then run `unibox`",
    )


# ---------------------------------------------------------------------------------- agents


@click.group("agent")
def agent_group() -> None:
    """Agents: add, list, change, deactivate."""


def _agent_line(a: Any) -> str:
    state = "" if a.active else "  (deactivated)"
    teams = _clean(", ".join(a.teams))
    return (
        f"@{a.handle:<12} {_clean(a.name, 24):<24} {a.role:<6} {a.availability:<10} "
        f"{_clean(a.email, 30):<30} {teams}{state}"
    )


def _list_agents(db: str | None, as_json: bool) -> None:
    from .core import admin_queries as aq

    with open_ws(db, read_only=True) as ws:
        rows = aq.agents(ws)
    if as_json:
        emit({"agents": [a.to_json() for a in rows]})
        return
    if not rows:
        click.echo("no agents yet; `unibox init` makes the first one", err=True)
    for a in rows:
        click.echo(_agent_line(a))


@agent_group.command("list")
@db_option
@json_option
@guarded
def agent_list(db: str | None, as_json: bool) -> None:
    """Every agent with handle, role, availability, e-mail and teams."""
    _list_agents(db, as_json)


@click.command("agents")
@db_option
@json_option
@guarded
def agents_command(db: str | None, as_json: bool) -> None:
    """Agents of the workspace, with handles for @mentions and --as (= `agent list`)."""
    _list_agents(db, as_json)


@agent_group.command("add")
@click.argument("name")
@click.option("--handle", required=True, help="Handle for @mentions and --as.")
@click.option("--email", help="E-mail address.")
@click.option("--role", type=click.Choice(["admin", "agent"]), default="agent", show_default=True)
@_common
def agent_add(
    name: str,
    handle: str,
    email: str | None,
    role: str,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Add an agent (admins only)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        agent_id = call(
            ws, cmd.create_agent, name, handle, email, role=role, actor=actor(ws, as_handle)
        )
        row = _agent(ws, agent_id)
    _say(as_json, {"agent": row.to_json()}, f"added @{row.handle} ({row.role})")


@agent_group.command("set")
@click.argument("handle")
@click.option("--name", help="New name.")
@click.option("--email", help="New e-mail address ('' clears it).")
@click.option("--role", type=click.Choice(["admin", "agent"]))
@click.option("--availability", type=click.Choice(["available", "away"]))
@click.option("--meeting-link", help="Their scheduling page URL ('' clears it).")
@_common
def agent_set(
    handle: str,
    name: str | None,
    email: str | None,
    role: str | None,
    availability: str | None,
    meeting_link: str | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Change an agent (yourself: name, e-mail, availability; anything else: admins)."""
    from .core import commands as cmd

    if (name, email, role, availability, meeting_link) == (None,) * 5:
        raise click.UsageError(
            "give at least one of --name, --email, --role, --availability, --meeting-link"
        )
    with open_ws(db) as ws:
        changed = call(
            ws,
            cmd.set_agent,
            handle,
            name=name,
            email=email,
            role=role,
            availability=availability,
            meeting_link=meeting_link,
            actor=actor(ws, as_handle),
        )
        row = _agent(ws, handle)
    _say(
        as_json,
        {"changed": changed, "agent": row.to_json()},
        f"{'updated' if changed else 'no change'}: @{row.handle}",
    )


@agent_group.command("deactivate")
@click.argument("handle")
@_common
def agent_deactivate(handle: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Deactivate an agent: history kept, open conversations unassigned (admins only)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        result = call(ws, cmd.deactivate_agent, handle, actor=actor(ws, as_handle))
        row = _agent(ws, handle)
    _say(
        as_json,
        {"changed": result.changed, "agent": row.to_json(), "unassigned": result.unassigned},
        f"deactivated @{row.handle}; {len(result.unassigned)} open conversations unassigned"
        if result.changed
        else f"no change: @{row.handle} was already deactivated",
    )


@agent_group.command("activate")
@click.argument("handle")
@_common
def agent_activate(handle: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Reactivate a deactivated agent (admins only)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        changed = call(ws, cmd.activate_agent, handle, actor=actor(ws, as_handle))
        row = _agent(ws, handle)
    _say(
        as_json,
        {"changed": changed, "agent": row.to_json()},
        f"{'activated' if changed else 'no change'}: @{row.handle}",
    )


@agent_group.command("token")
@click.argument("handle")
@click.option("--revoke", is_flag=True, help="Revoke the agent's token instead.")
@_common
def agent_token(
    handle: str, revoke: bool, db: str | None, as_json: bool, as_handle: str | None
) -> None:
    """Issue (or --revoke) the agent's sign-in token for the team hub (admins only).

    The token is printed once: the hub keeps only its hash. A new token replaces the old one,
    and the hub disconnects a revoked or replaced token within a second."""
    from .core.commands import tokens

    with open_ws(db) as ws:
        if revoke:
            count = call(ws, tokens.revoke_tokens, handle, actor=actor(ws, as_handle))
            _say(
                as_json,
                {"revoked": count},
                f"revoked @{handle.lstrip('@')}'s sign-in token"
                if count
                else f"no change: @{handle.lstrip('@')} had no live token",
            )
            return
        token = call(ws, tokens.issue_token, handle, actor=actor(ws, as_handle))
    if as_json:
        emit({"handle": handle.lstrip("@"), "token": token})
        return
    click.echo(token)
    click.echo(
        "This is shown once. The agent signs in with `unibox login HUB_URL` and pastes it "
        "(or sets UNIBOX_TOKEN / --token-file for scripts).",
        err=True,
    )


# ---------------------------------------------------------------------------------- teams


@click.group("team")
def team_group() -> None:
    """Teams: add, list, members, remove (admins change them)."""


def _team_line(t: Any) -> str:
    members = " ".join(f"@{h}" for h in t.members) or "(no members)"
    return f"{_clean(t.name, 24):<24} {members}"


@team_group.command("list")
@db_option
@json_option
@guarded
def team_list(db: str | None, as_json: bool) -> None:
    """Teams and their members."""
    from .core import admin_queries as aq

    with open_ws(db, read_only=True) as ws:
        rows = aq.teams(ws)
    if as_json:
        emit({"teams": [t.to_json() for t in rows]})
        return
    for t in rows:
        click.echo(_team_line(t))


@team_group.command("add")
@click.argument("name")
@click.option("--member", "members", multiple=True, metavar="HANDLE", help="Repeatable.")
@_common
def team_add(
    name: str, members: tuple[str, ...], db: str | None, as_json: bool, as_handle: str | None
) -> None:
    """Add a team (admins only)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        team_id = call(ws, cmd.create_team, name, members, actor=actor(ws, as_handle))
        row = _team(ws, team_id)
    _say(as_json, {"team": row.to_json()}, f"added team {_clean(row.name)}")


@team_group.command("members")
@click.argument("name")
@click.option("--add", "add", multiple=True, metavar="HANDLE", help="Repeatable.")
@click.option("--remove", "remove", multiple=True, metavar="HANDLE", help="Repeatable.")
@_common
def team_members(
    name: str,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Show a team's members, or add and remove some (admins only)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        changed = False
        if add or remove:
            changed = call(ws, cmd.set_team_members, name, add, remove, actor=actor(ws, as_handle))
        row = _team(ws, name)
    _say(as_json, {"changed": changed, "team": row.to_json()}, _team_line(row))


@team_group.command("remove")
@click.argument("name")
@_common
def team_remove(name: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Remove a team: members stay agents; inboxes stop listing it (admins only)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        row = _team(ws, name)
        call(ws, cmd.remove_team, row.id, actor=actor(ws, as_handle))
    _say(as_json, {"removed": row.name}, f"removed team {_clean(row.name)}")


# ---------------------------------------------------------------------------------- inboxes


@click.group("inbox")
def inbox_group() -> None:
    """Inboxes: add, list, rename, access, pipeline, remove (admins change them)."""


def _inbox_lines(i: Any) -> list[str]:
    if i.access == "everyone":
        who = "everyone"
    else:
        listed = [f"@{h}" for h in i.agents] + [_clean(t, 24) for t in i.teams]
        who = "listed: " + (", ".join(listed) or "nobody (admins read only)")
    start = f"{_clean(i.default_pipeline, 24)} / {_clean(i.default_stage, 24)}"
    lines = [
        f"{_clean(i.name, 24):<24} {i.conversations:>7,} conversations  access {who}; "
        f"tickets start in {start if i.default_pipeline else '-'}"
    ]
    for c in i.channels:
        state = "enabled" if c.enabled else "disabled"
        lines.append(
            f"    {c.id}  {c.kind:<9} {_clean(c.name, 28):<28} {state:<8} {_clean(c.status, 60)}"
        )
    return lines


@inbox_group.command("list")
@db_option
@json_option
@guarded
def inbox_list(db: str | None, as_json: bool) -> None:
    """Inboxes with their access, channels and where their tickets start."""
    from .core import admin_queries as aq

    with open_ws(db, read_only=True) as ws:
        rows = aq.inboxes(ws)
    if as_json:
        emit({"inboxes": [i.to_json() for i in rows]})
        return
    for i in rows:
        for line in _inbox_lines(i):
            click.echo(line)


@inbox_group.command("add")
@click.argument("name")
@click.option("--access", type=click.Choice(["everyone", "listed"]), default="everyone")
@_common
def inbox_add(name: str, access: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Add an inbox (admins only); with --access listed, list who may use it with
    `unibox inbox access`."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        inbox_id = call(ws, cmd.create_inbox, name, access, actor=actor(ws, as_handle))
        row = _inbox(ws, inbox_id)
    _say(as_json, {"inbox": row.to_json()}, f"added inbox {_clean(row.name)} ({row.access})")


@inbox_group.command("rename")
@click.argument("old")
@click.argument("new")
@_common
def inbox_rename(old: str, new: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Rename an inbox (admins only)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        changed = call(ws, cmd.rename_inbox, old, new, actor=actor(ws, as_handle))
        row = _inbox(ws, new)
    _say(
        as_json,
        {"changed": changed, "inbox": row.to_json()},
        f"renamed to {_clean(row.name)}" if changed else f"no change: {_clean(row.name)}",
    )


@inbox_group.command("access")
@click.argument("name")
@click.option("--mode", type=click.Choice(["everyone", "listed"]))
@click.option("--add-agent", "add_agents", multiple=True, metavar="HANDLE")
@click.option("--add-team", "add_teams", multiple=True, metavar="TEAM")
@click.option("--remove-agent", "remove_agents", multiple=True, metavar="HANDLE")
@click.option("--remove-team", "remove_teams", multiple=True, metavar="TEAM")
@_common
def inbox_access(
    name: str,
    mode: str | None,
    add_agents: tuple[str, ...],
    add_teams: tuple[str, ...],
    remove_agents: tuple[str, ...],
    remove_teams: tuple[str, ...],
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Show or change who may use an inbox: everyone, or the listed agents and teams
    (admins only). Admins read every inbox, but act only where they may."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        changed = False
        if mode or add_agents or add_teams or remove_agents or remove_teams:
            changed = call(
                ws,
                cmd.set_inbox_access,
                name,
                mode=mode,
                add_agents=add_agents,
                add_teams=add_teams,
                remove_agents=remove_agents,
                remove_teams=remove_teams,
                actor=actor(ws, as_handle),
            )
        row = _inbox(ws, name)
    _say(as_json, {"changed": changed, "inbox": row.to_json()}, _inbox_lines(row)[0])


@inbox_group.command("pipeline")
@click.argument("name")
@click.argument("pipeline")
@click.option("--stage", help="The stage tickets start at (default: the pipeline's first).")
@_common
def inbox_pipeline(
    name: str,
    pipeline: str,
    stage: str | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Where tickets from this inbox start (admins only)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        changed = call(
            ws, cmd.set_inbox_pipeline, name, pipeline, stage, actor=actor(ws, as_handle)
        )
        row = _inbox(ws, name)
    _say(as_json, {"changed": changed, "inbox": row.to_json()}, _inbox_lines(row)[0])


@inbox_group.command("remove")
@click.argument("name")
@click.option("--move-to", help="Move its conversations and channels to this inbox first.")
@_common
def inbox_remove(
    name: str, move_to: str | None, db: str | None, as_json: bool, as_handle: str | None
) -> None:
    """Remove an inbox (refused while it holds conversations, unless --move-to)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        row = _inbox(ws, name)
        moved = call(ws, cmd.remove_inbox, row.id, move_to=move_to, actor=actor(ws, as_handle))
    _say(
        as_json,
        {"removed": row.name, "moved": moved, "moved_to": move_to},
        f"removed inbox {_clean(row.name)}" + (f"; {moved:,} conversations moved" if moved else ""),
    )


# ---------------------------------------------------------------------------------- snippets


@click.group("snippet")
def snippet_group() -> None:
    """Snippets: reusable replies with {{contact.first_name}}-style tokens."""


def _snippet(ws: Any, name: str) -> Any:
    from .core import queries as q

    rows = q.snippets(ws)
    found = next((s for s in rows if s.name == name), None) or next(
        (s for s in rows if s.name.lower() == name.lower()), None
    )
    if found is None:
        names = ", ".join(s.name for s in rows) or "none"
        raise NotFound(f"no snippet {name!r}; there are: {names}")
    return found


def _snippet_json(s: Any) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "body": s.body}


@snippet_group.command("add")
@click.argument("name")
@click.option("--body", help="The text (- reads standard input).")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="Read the text from FILE.")
@_common
def snippet_add(
    name: str,
    body: str | None,
    path: str | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Add a snippet, or replace the text of the one with that name."""
    from .cli_common import read_text
    from .core import commands as cmd

    if (body is None) == (path is None):
        raise click.UsageError("give exactly one of --body TEXT or --file FILE")
    if path is not None:
        try:
            text = Path(path).expanduser().read_bytes().decode("utf-8", errors="replace")
        except OSError as e:
            raise InvalidRequest(f"cannot read {path}: {e.strerror}") from e
    else:
        text = read_text(body or "")
    with open_ws(db) as ws:
        call(ws, cmd.save_snippet, name, text, actor=actor(ws, as_handle))
        row = _snippet(ws, name.strip())
    _say(as_json, {"snippet": _snippet_json(row)}, f"saved snippet {_clean(row.name)}")


@snippet_group.command("list")
@db_option
@json_option
@guarded
def snippet_list(db: str | None, as_json: bool) -> None:
    """Snippets with the start of their text."""
    from .core import queries as q

    with open_ws(db, read_only=True) as ws:
        rows = q.snippets(ws)
    if as_json:
        emit({"snippets": [_snippet_json(s) for s in rows]})
        return
    for s in rows:
        click.echo(f"{_clean(s.name, 24):<24} {_clean(s.body, 80)}")


@snippet_group.command("show")
@click.argument("name")
@db_option
@json_option
@guarded
def snippet_show(name: str, db: str | None, as_json: bool) -> None:
    """A snippet's whole text."""
    from .core.text import clean

    with open_ws(db, read_only=True) as ws:
        row = _snippet(ws, name)
    if as_json:
        emit({"snippet": _snippet_json(row)})
    else:
        click.echo(clean(row.body))


@snippet_group.command("remove")
@click.argument("name")
@_common
def snippet_remove(name: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Remove a snippet."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        row = _snippet(ws, name)
        call(ws, cmd.delete_snippet, row.name, actor=actor(ws, as_handle))
    _say(as_json, {"removed": row.name}, f"removed snippet {_clean(row.name)}")


# ---------------------------------------------------------------------------------- pipelines


@click.group("pipeline")
def pipeline_group() -> None:
    """Ticket pipelines and their ordered stages (admins change them)."""


def _pipeline_line(p: Any) -> str:
    stages = " → ".join(_clean(s, 30) for s in p.stages)
    used = f"  (start of {', '.join(_clean(i, 24) for i in p.inboxes)})" if p.inboxes else ""
    return f"{_clean(p.name, 20):<20} {stages}{used}"


@pipeline_group.command("list")
@db_option
@json_option
@guarded
def pipeline_list(db: str | None, as_json: bool) -> None:
    """Pipelines with their stages in order."""
    from .core import admin_queries as aq

    with open_ws(db, read_only=True) as ws:
        rows = aq.pipelines(ws)
    if as_json:
        emit({"pipelines": [p.to_json() for p in rows]})
        return
    for p in rows:
        click.echo(_pipeline_line(p))


@pipeline_group.command("add")
@click.argument("name")
@click.option("--stage", "stages", multiple=True, required=True, help="In order; repeat.")
@_common
def pipeline_add(
    name: str, stages: tuple[str, ...], db: str | None, as_json: bool, as_handle: str | None
) -> None:
    """Add a pipeline: --stage New --stage 'In review' --stage Done (admins only)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        pipeline_id = call(ws, cmd.create_pipeline, name, stages, actor=actor(ws, as_handle))
        row = _pipeline(ws, pipeline_id)
    _say(as_json, {"pipeline": row.to_json()}, _pipeline_line(row))


@pipeline_group.command("stages")
@click.argument("name")
@click.option("--stage", "stages", multiple=True, help="Replace the stages (in order; repeat).")
@_common
def pipeline_stages(
    name: str, stages: tuple[str, ...], db: str | None, as_json: bool, as_handle: str | None
) -> None:
    """Show a pipeline's stages, or replace them with --stage ... (admins only)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        changed = False
        if stages:
            changed = call(ws, cmd.set_stages, name, stages, actor=actor(ws, as_handle))
        row = _pipeline(ws, name)
    if as_json:
        emit({"changed": changed, "pipeline": row.to_json()})
        return
    for i, stage in enumerate(row.stages, 1):
        click.echo(f"{i}. {_clean(stage)}")


@pipeline_group.command("remove")
@click.argument("name")
@_common
def pipeline_remove(name: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Remove a pipeline no inbox starts tickets in (tickets keep their stage names)."""
    from .core import commands as cmd

    with open_ws(db) as ws:
        row = _pipeline(ws, name)
        call(ws, cmd.remove_pipeline, row.id, actor=actor(ws, as_handle))
    _say(as_json, {"removed": row.name}, f"removed pipeline {_clean(row.name)}")


# ---------------------------------------------------------------------------------- notifications


NOTE_MARK = {"mention": "@", "assigned": "→", "new_conversation": "+"}


@click.command("notifications")
@click.option("--unread", is_flag=True, help="Only unread ones.")
@click.option("--mark-read", is_flag=True, help="Then mark them all read.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@_common
def notifications_command(
    unread: bool,
    mark_read: bool,
    limit: int,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Your notifications, newest first: mentions (with the comment), assignments, new
    conversations in the views you watch."""
    from .core import admin_queries as aq
    from .core import clock
    from .core import commands as cmd

    with open_ws(db) as ws:
        me = actor(ws, as_handle)
        rows = aq.notifications(ws, me, unread_only=unread, limit=limit)
        marked = call(ws, cmd.mark_notifications_read, me) if mark_read else 0
    if as_json:
        emit({"notifications": [n.to_json() for n in rows], "marked_read": marked})
        return
    now = clock.utcnow()
    for n in rows:
        dot = " " if n.read else "●"
        line = f"{dot} {NOTE_MARK.get(n.kind, '·')} {_clean(n.text, 100)}"
        if n.comment:
            line += f" — “{_clean(n.comment, 100)}”"
        click.echo(f"{line}  {clock.age(n.created_at, now)}  {n.conversation_id or ''}")
    if not rows:
        click.echo("no notifications", err=True)
    if marked:
        click.echo(f"{marked} marked read", err=True)


def register(main: click.Group) -> None:
    for command in (
        init_command,
        agent_group,
        agents_command,
        team_group,
        inbox_group,
        snippet_group,
        pipeline_group,
        notifications_command,
    ):
        main.add_command(command)


__all__ = ["register"]
