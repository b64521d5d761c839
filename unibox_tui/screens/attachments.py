"""Attachments: save one to a path, or open it with the system's viewer."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ..core import queries
from ..core.access import Access
from ..core.db import Workspace
from ..core.text import one_line

OPENERS = {"darwin": ["open"], "linux": ["xdg-open"]}


def safe_filename(name: str) -> str:
    """A customer's file name made safe to create: one line, no folders, no leading dots."""
    base = one_line(name, 200).replace("/", "_").replace("\\", "_")
    base = base.lstrip(". ").strip()
    return base or "attachment"


def default_save_path(name: str) -> Path:
    folder = Path.home() / "Downloads"
    return (folder if folder.is_dir() else Path.home()) / safe_filename(name)


def save(
    ws: Workspace, attachment_id: str, target: str | os.PathLike[str], *, access: Access
) -> Path:
    """Write the attachment's bytes to `target` (a file, or a folder to put it in). Refuses
    to overwrite an existing file. Raises OSError or a UniboxError with a one-line reason."""
    filename, data = queries.attachment_bytes(ws, attachment_id, access=access)
    path = Path(target).expanduser()
    if path.is_dir():
        path = path / safe_filename(filename)
    with path.open("xb") as f:  # x: never overwrite what is there
        f.write(data)
    return path


def open_with_system(ws: Workspace, attachment_id: str, *, access: Access) -> Path:
    """Copy the attachment to a private temp folder and hand it to the system opener."""
    filename, data = queries.attachment_bytes(ws, attachment_id, access=access)
    folder = Path(tempfile.mkdtemp(prefix="unibox-"))
    path = folder / safe_filename(filename)
    path.write_bytes(data)
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]
        return path
    command = OPENERS.get(sys.platform, ["xdg-open"])
    subprocess.Popen(
        [*command, str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return path
