"""`unibox migrate`: move a workspace to another database (core/move.py does the work)."""

from __future__ import annotations

from typing import Any

import click

from .cli_common import emit, guarded, json_option


@click.command("migrate")
@click.option("--from", "source", required=True, metavar="FILE|URL", help="The workspace to copy.")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL|FILE",
    help="Where: postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DATABASE (empty), or a file.",
)
@click.option(
    "--replace", is_flag=True, help="Overwrite the workspace already at --to (all of it is lost)."
)
@json_option
@guarded
def migrate_cmd(source: str, target: str, replace: bool, as_json: bool) -> None:
    """Copy a workspace (every table, attachments, the change log) into another database and
    check every table's row count. Stop anything that writes to --from first: what it writes
    after the copy starts is not moved. The source is never changed."""
    from .core.move import migrate

    def say(line: str) -> None:
        click.echo(f"migrate: {line}", err=True)

    summary = migrate(source, target, replace=replace, progress=say)
    if as_json:
        emit(summary)
        return
    _print(summary)


def _print(summary: dict[str, Any]) -> None:
    width = max(len(t) for t in summary["tables"])
    for table, n in summary["tables"].items():
        if n:
            click.echo(f"{table:<{width}}  {n:>12,}")
    click.echo(
        f"moved {summary['rows']:,} rows in {len(summary['tables'])} tables from "
        f"{summary['from']} to {summary['to']} in {summary['seconds']:.1f} s; "
        "every table's count checked"
    )


def register(main: click.Group) -> None:
    main.add_command(migrate_cmd)
