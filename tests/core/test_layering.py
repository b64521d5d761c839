"""The core and the channel backends never import the UI (DESIGN.md layering)."""

from __future__ import annotations

import subprocess
import sys


def fresh_python_prints(code: str) -> str:
    """What `code` prints in a new interpreter (imports start from nothing there)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_core_and_backends_do_not_import_textual() -> None:
    code = (
        "import sys, pkgutil, importlib, unibox_tui.core, unibox_tui.backends\n"
        "for pkg in (unibox_tui.core, unibox_tui.backends):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if '.migrations.versions' in m.name or m.name.endswith('migrations.env'):\n"
        "            continue\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n == 'textual' or n.startswith('textual.')))\n"
    )
    assert fresh_python_prints(code) == "[]"


def test_cli_help_does_not_import_the_app() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from unibox_tui.cli import main; "
        "CliRunner().invoke(main, ['--help']); print('textual' in sys.modules)"
    )
    assert fresh_python_prints(code) == "False"


def test_the_app_starts_without_the_orm() -> None:
    """The inbox paints before SQLAlchemy/SQLModel load (they cost ~250 ms of start-up);
    `unibox demo` opens an existing demo without them too (core.demo)."""
    code = (
        "import sys, unibox_tui.app, unibox_tui.cli, unibox_tui.core.demo\n"
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'alembic') if m in sys.modules))"
    )
    assert fresh_python_prints(code) == "[]"


def test_the_inbox_starts_without_what_its_keys_open() -> None:
    """The first list paints before the modules behind the inbox's keys load (pickers,
    search, selection, undo, delivery, merge, the e-mail reply's helpers, tagging...): the
    inbox imports each where a key first needs it (tmux_bench start)."""
    code = (
        "import sys, unibox_tui.app, unibox_tui.cli, unibox_tui.core.demo\n"
        "from unibox_tui.screens.inbox import KEY_MODULES\n"
        "later = [*KEY_MODULES, 'unibox_tui.core.commands.registry', 'unibox_tui.core.answering']\n"
        "print(len(KEY_MODULES), sorted(m for m in later if m in sys.modules))"
    )
    assert fresh_python_prints(code) == "12 []"


def test_the_cli_registers_the_other_modules_commands_when_asked() -> None:
    """`unibox` (the TUI) and `unibox demo` start without the cli_*.py modules (the channel
    commands pull in the e-mail backend); a command of theirs still runs."""
    code = (
        "import sys; from click.testing import CliRunner; from unibox_tui.cli import main\n"
        "print(sorted(m for m in sys.modules if m.startswith('unibox_tui.cli_')\n"
        "    and m != 'unibox_tui.cli_common'))\n"
        "print(CliRunner().invoke(main, ['routing', '--help']).exit_code)\n"
        "print(CliRunner().invoke(main, ['conversations', 'resend', '--help']).exit_code)\n"
        "print('unibox_tui.cli_routing' in sys.modules)"
    )
    assert fresh_python_prints(code).splitlines() == ["[]", "0", "0", "True"]


def test_the_parse_worker_starts_without_the_orm() -> None:
    """A large sync parses in a spawned worker: it must not pay for SQLAlchemy/SQLModel."""
    code = (
        "import sys, unibox_tui.backends.email.parse_worker as w\n"
        "from unibox_tui.backends.email.channel import EmailChannel\n"
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'alembic') if m in sys.modules))"
    )
    assert fresh_python_prints(code) == "[]"
