"""A private, real PostgreSQL server for tests and benchmarks.

Recipe from shared/FACTS.md: a cluster made by `initdb` in a temp dir, started by `pg_ctl`
on 127.0.0.1 and a free port, its socket in the same dir, fsync off (a test server keeps
nothing). initdb refuses to run as root, so as root the cluster belongs to the `postgres`
system user (the Debian package makes it) and its commands run through `su postgres`.

`PostgresServer.database()` makes a fresh, empty database and returns its SQLAlchemy URL:
a test gets its own workspace without starting another server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from . import system
from .dovecot import free_port

PACKAGE = "postgresql"  # Debian's package: the server binaries under /usr/lib/postgresql/N/bin


class PostgresUnavailable(RuntimeError):
    """The binaries are missing and cannot be installed: the only reason to skip."""


class PostgresFailed(RuntimeError):
    """Installed but would not start or answer: a test failure, never a skip."""


def _find_bin() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def ensure_postgres() -> Path:
    """The directory of initdb and pg_ctl, installing Debian's postgresql when missing.

    CI is a fresh Debian machine where we are root: install rather than skip (as for
    Dovecot), and fail with a message that says what to do when that is impossible."""
    found = _find_bin()
    if found:
        return found
    system.install(PACKAGE, "the PostgreSQL tests need a real server", PostgresUnavailable)
    found = _find_bin()
    if found is None:
        raise PostgresUnavailable(f"{PACKAGE} installed but no initdb was found")
    return found


class PostgresServer:
    """One running cluster in a temp dir. `stop()` ends it and removes the dir."""

    def __init__(self, settings: tuple[str, ...] = ()) -> None:
        """`settings`: more `-c name=value` server settings (a benchmark loads
        pg_stat_statements with `shared_preload_libraries=pg_stat_statements`)."""
        self.bin = ensure_postgres()
        self._template: str | None = None
        self._baseline: dict[str, tuple[list[str], list[tuple]]] = {}
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="unibox-pg-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8", "--locale", "C.UTF-8",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        options += "".join(f" -c {setting}" for setting in settings)
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.dir / "log"), "-w", "start",
        )  # fmt: skip

    def _run(self, *argv: str) -> None:
        if self.as_root:
            argv = ("su", "postgres", "-c", " ".join(_quote(a) for a in argv))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.dir / "log"
            tail = log.read_text()[-500:] if log.exists() else ""
            raise PostgresFailed(
                f"`{argv[-1] if self.as_root else ' '.join(argv)}` failed: "
                f"{(done.stderr or done.stdout).strip()[-500:]} {tail}"
            )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self, name: str | None = None, *, template: str = "template0") -> str:
        """A new database (empty, or a copy of `template`); its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as con:
            con.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        return self.url(name)

    def workspace(self) -> str:
        """A new database holding a migrated, empty workspace; its URL. The migrations run
        once per server, into a template that each new database is copied from (a copy
        takes a fraction of the time the migrations do)."""
        if self._template is None:
            from unibox_tui.core.db import open_workspace

            url = self.database("unibox_template")
            open_workspace(url).close()
            self._template = "unibox_template"
            self._baseline = self._rows(url)
        return self.database(template=self._template)

    def _connect(self, url: str):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))

    def _rows(self, url: str) -> dict[str, tuple[list[str], list[tuple]]]:
        """Every table's rows, by table (what a new workspace holds: the change counter,
        the default pipeline, the schema revision)."""
        out = {}
        with self._connect(url) as con:
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
                )
            ]
            for table in tables:
                cur = con.execute(f'SELECT * FROM "{table}"')
                rows = cur.fetchall()
                out[table] = ([d.name for d in cur.description], rows)
        return out

    def reset(self, url: str) -> None:
        """Put a database made by `workspace()` back as it was made: every table emptied
        (and its id counter restarted), then the new workspace's rows written again.
        Much cheaper than a new database per test (a copy is ~1 s on a loaded machine)."""
        baseline = self._baseline
        with self._connect(url) as con:
            con.execute("SET lock_timeout = '20s'")  # a connection left open fails the test
            con.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in baseline) + " RESTART IDENTITY")
            con.execute("SET session_replication_role = replica")  # no triggers, no FKs
            for table, (columns, rows) in baseline.items():
                if rows:
                    names = ", ".join(f'"{c}"' for c in columns)
                    marks = ", ".join(["%s"] * len(columns))
                    con.cursor().executemany(
                        f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows
                    )

    def pid(self) -> int:
        """The postmaster's process id (its backends are its children)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def drop(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
