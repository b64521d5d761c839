"""What does not work on PostgreSQL yet: the one list (issue 11, section 1).

Tests of modules marked `both_databases` run on SQLite and on a real PostgreSQL; each entry
here marks the PostgreSQL run of matching tests as an expected failure, with the reason.
The marks are strict: a test that starts passing fails until its entry is removed, so this
list always says exactly what is left.

Keys are test node ids, with parameters (`tests/core/test_x.py::test_y[postgresql-a]`) or
without (every parameter), or a module path for all of its tests.
"""

from __future__ import annotations

# Empty: every both_databases test passes on PostgreSQL. Tests that reach the workspace
# by its file or URL take `ws_target` (tests/conftest.py).
XFAIL: dict[str, str] = {}


def reason(nodeid: str) -> str | None:
    """The reason a test's PostgreSQL run is expected to fail: listed by its whole node id,
    by the test (any parameters), or by its module."""
    base = nodeid.split("[", 1)[0]
    return XFAIL.get(nodeid) or XFAIL.get(base) or XFAIL.get(base.split("::", 1)[0])
