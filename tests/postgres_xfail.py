"""What does not work on PostgreSQL yet: the one list (issue 11, section 1).

Tests of modules marked `both_databases` run on SQLite and on a real PostgreSQL; each entry
here marks the PostgreSQL run of matching tests as an expected failure, with the reason.
The marks are strict: a test that starts passing fails until its entry is removed, so this
list always says exactly what is left.

Keys are test node ids without the parameters (`tests/core/test_x.py::test_y`), or a module
path for all of its tests.
"""

from __future__ import annotations

XFAIL: dict[str, str] = {}


def reason(nodeid: str) -> str | None:
    base = nodeid.split("[", 1)[0]
    return XFAIL.get(base) or XFAIL.get(base.split("::", 1)[0])
