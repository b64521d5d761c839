"""Fixtures for the e-mail channel tests: real Dovecot and SMTP servers (tests/servers)."""

from __future__ import annotations

import sys
from pathlib import Path

# tests/servers is shared with benchmarks/; it is imported as the top-level `servers`
# package because tests/ is not a package (the repo's own conftest owns that choice).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from servers.fixtures import dovecot, fresh_dovecot, mailbox, smtp_server  # noqa: F401
