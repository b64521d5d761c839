"""A non-editable install must carry what the code loads at run time: styles and migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_styles_and_migrations_and_runs(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("unibox_tui-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tcss = sorted(n for n in names if n.startswith("unibox_tui/styles/") and n.endswith(".tcss"))
    assert tcss == sorted(f"unibox_tui/styles/{p.name}" for p in (ROOT / "styles").glob("*.tcss"))
    assert "unibox_tui/core/migrations/versions/0001_initial.py" in names
    assert "unibox_tui/core/migrations/env.py" in names
    for name in ("loader.js", "widget.js", "widget.css", "socket.io.min.js"):  # the chat widget
        assert f"unibox_tui/hub/static/{name}" in names
    assert any(n.endswith("entry_points.txt") for n in names)

    # Installed from the wheel (not this checkout), the demo builds and the app finds its CSS.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import unibox_tui, unibox_tui.app as app; from pathlib import Path;"
        "print(Path(unibox_tui.__file__).parent.parent); print(app.styles_dir());"
        "print(all(Path(p).is_file() for p in app.UniboxApp.CSS_PATH))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str(target), str(target / "unibox_tui" / "styles"), "True"]
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "unibox_tui",
            "demo",
            "--generate-only",
            "-n",
            "20",
            "--db",
            str(tmp_path / "d.db"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    assert "Built 20 conversations" in demo.stdout
