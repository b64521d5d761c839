"""A private, real Dovecot IMAP server for tests and benchmarks.

Each instance lives in its own temp dir with its own ports, base_dir and instance name, so
several can run at once. It runs in the foreground (`dovecot -F`) under a Popen we own, so
stopping, killing (mid-sync failure tests) and restarting are plain process operations.

Settings follow shared/FACTS.md (Dovecot started as root from a temp dir). A second listener
speaks implicit TLS with a throw-away self-signed certificate, so the "certificate problem"
path can be tested against a real server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from imapclient import IMAPClient
from waiting import wait_for

from . import system

PASSWORD = "secret-pass"


class DovecotUnavailable(RuntimeError):
    pass


def ensure_dovecot() -> str:
    """Path of the dovecot binary, installing dovecot-imapd with apt-get when missing.

    CI is a fresh Debian machine where we are root: install rather than skip, and fail with
    a message that says what to do when that is impossible.
    """
    found = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if found:
        return found
    system.install("dovecot-imapd", "the e-mail tests need a real IMAP server", DovecotUnavailable)
    found = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(found).exists():
        raise DovecotUnavailable("dovecot-imapd installed but no dovecot binary was found")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_certificate(directory: Path) -> None:
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=unibox-test.invalid",
            "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem"),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


CONFIG = """\
base_dir = {d}/run
state_dir = {d}/state
instance_name = unibox-test-{port}
listen = 127.0.0.1
protocols = imap
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
log_path = {d}/dovecot.log
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = 200
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
  # Wrong-password tests must not slow every later login from 127.0.0.1 (auth penalty).
  override_fields = nopenalty
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/home/%u
}}
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
"""


class Dovecot:
    """One Dovecot instance. `start()` / `stop()` / `kill()` / `restart()`; users on demand."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        port: int | None = None,
        sent_folder: bool = True,
        extra_config: str = "",
    ) -> None:
        """`extra_config` is appended to dovecot.conf, e.g. `imap_capability = ...` to
        play an older server without CONDSTORE/QRESYNC/IDLE."""
        self.binary = ensure_dovecot()
        # Dovecot's auth and mail processes run as the `dovecot` user and must traverse
        # every parent: pytest's tmp dirs are 0700, so by default we take our own.
        self.owns_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="unibox-dovecot-")).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self.port = port or free_port()
        self.tls_port = free_port()
        self.host = "127.0.0.1"
        self.config = self.root / "dovecot.conf"
        self.users_file = self.root / "users"
        self.users_file.touch()
        (self.root / "home").mkdir(exist_ok=True)
        shutil.chown(self.root / "home", "dovecot", "dovecot")  # mail processes create homes
        _make_certificate(self.root)
        text = CONFIG.format(d=self.root, port=self.port, tls_port=self.tls_port)
        if not sent_folder:
            text = text.replace(
                "  mailbox Sent {\n    special_use = \\Sent\n    auto = subscribe\n  }\n", ""
            )
        self.config.write_text(text + extra_config + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self._pool: list[str] = []
        self._fill_pool()

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> None:
        log = open(self.root / "master.out", "ab")
        self.proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config)], stdout=log, stderr=log
        )
        log.close()
        proc = self.proc

        def greets() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"dovecot exited at start: {self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    sock.settimeout(2)
                    return sock.recv(100).startswith(b"* OK")
            except OSError:
                return False

        try:
            wait_for(greets, what=f"dovecot answers on {self.port}", timeout=timeout)
        except AssertionError:
            raise RuntimeError(
                f"dovecot did not answer on {self.port}: {self.log_tail()}"
            ) from None

    def stop(self) -> None:
        if self.proc is None:
            return
        children = self._children()
        if self.proc.poll() is None:
            system.stop(self.proc)
        self.proc = None
        self._end(children)

    def kill(self) -> None:
        """SIGKILL the master and every child: the server vanishes mid-conversation."""
        if self.proc is None:
            return
        children = self._children()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        self._end(children)

    def close(self) -> None:
        """Stop (no need to be gentle: it is all deleted) and delete everything it wrote."""
        self.kill()
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _children(self) -> list[int]:
        """Direct children of our master (imap, imap-login, auth, log, ...)."""
        if self.proc is None:
            return []
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # read as bytes: any process on the machine may have a non-UTF-8 name
                fields = stat.read_bytes().decode(errors="replace").rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                found.append(int(stat.parent.name))
        return found

    def _end(self, pids: list[int]) -> None:
        # Children notice a dead master and exit by themselves, but a fast restart would then
        # race them for the ports: end them explicitly and wait until the port is free.
        for pid in pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass

        def port_free() -> bool:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return False
            except OSError:
                return True

        try:
            wait_for(port_free, what=f"port {self.port} free", timeout=10)
        except AssertionError:
            pass  # the next start says what holds it

    def log_tail(self, lines: int = 15) -> str:
        out = []
        for name in ("dovecot.log", "master.out"):
            path = self.root / name
            if path.exists():
                out += path.read_text(errors="replace").splitlines()[-lines:]
        return " | ".join(out)

    # --- mailboxes -------------------------------------------------------------------------
    def add_user(self, name: str | None = None, password: str = PASSWORD) -> str:
        """A fresh mailbox; tests sharing one server each get their own.

        Dovecot re-reads the passwd-file at most about once a second, so a user added while
        it runs may be refused for a moment. Unnamed users come from a pool written before
        start; a named user added to a running server waits until Dovecot sees it.
        """
        if name is None:
            if self._pool:
                return self._pool.pop()
            name = f"u{uuid.uuid4().hex[:10]}@example.com"
        with self.users_file.open("a") as handle:
            handle.write(f"{name}:{{PLAIN}}{password}\n")
        if self.running:
            # Dovecot compares whole-second mtimes: stamp the file in a later second than
            # the one it was last stamped in, so the change is seen on the next login.
            before = int(self.users_file.stat().st_mtime)
            wait_for(lambda: int(time.time()) > before, what="the clock's next second")
            stamp = time.time()
            os.utime(self.users_file, (stamp, stamp))
        return name

    def _fill_pool(self, count: int = 100) -> None:
        names = [f"p{uuid.uuid4().hex[:10]}@example.com" for _ in range(count)]
        with self.users_file.open("a") as handle:
            handle.writelines(f"{n}:{{PLAIN}}{PASSWORD}\n" for n in names)
        self._pool = names

    def maildir(self, user: str) -> Path:
        return self.root / "home" / user / "Maildir"

    def seed_maildir(self, user: str, messages: list[bytes], start: int = 0) -> None:
        """Write messages straight into Maildir/new before the user's first login (fast)."""
        new = self.maildir(user) / "new"
        for sub in ("new", "cur", "tmp"):
            (self.maildir(user) / sub).mkdir(parents=True, exist_ok=True)
        now = int(time.time())
        for i, raw in enumerate(messages, start):
            (new / f"{now}.M{i}P1.unibox-seed").write_bytes(raw)
        subprocess.run(
            ["chown", "-R", "dovecot:dovecot", str(self.root / "home" / user)], check=True
        )

    def client(self, user: str, password: str = PASSWORD) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=15)
        client.login(user, password)
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX", flags: tuple = ()) -> None:
        with self.client(user) as client:
            client.append(folder, raw, flags=flags)

    def reset_uidvalidity(self, user: str) -> None:
        """Make the server hand out a new UIDVALIDITY for INBOX, keeping the same messages.

        Deleting Dovecot's UID list and index files is what an admin restore does: the next
        SELECT rebuilds them with fresh UIDs and a new UIDVALIDITY.
        """
        box = self.maildir(user)
        for path in list(box.glob("dovecot-uidlist")) + list(box.glob("dovecot.index*")):
            path.unlink()
        # Dovecot derives UIDVALIDITY from the clock (whole seconds): make it differ from
        # the old one by waiting for the next second.
        started = int(time.time())
        wait_for(lambda: int(time.time()) > started, what="the clock's next second")
