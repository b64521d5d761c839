"""Fixtures for the TUI tests (the data they build is in tui_world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tui_world import NOW, Demo, build, ids_from, screen_text

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core.db import open_workspace


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the workspace once per session; each test gets its own copy of the file."""
    path = tmp_path_factory.mktemp("template") / "workspace.db"
    ws = open_workspace(path)
    build(ws)
    with ws.read() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    ws.close()
    return path


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Iterator[Demo]:
    path = tmp_path / "workspace.db"
    path.write_bytes(demo_template.read_bytes())
    ws = open_workspace(path)
    try:
        yield ids_from(ws, path)
    finally:
        ws.close()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(path=tmp_path / "config.toml", agent="ana")


@pytest.fixture
def make_app(demo: Demo, config: Config):
    def make(**kw) -> UniboxApp:
        return UniboxApp(demo.ws, config, now=lambda: NOW, **kw)

    return make


@pytest.fixture
def text_of():
    return screen_text
