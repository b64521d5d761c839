"""The agent app as a child of the hub (`unibox hub --web`): it ends when its hub is gone.

Textual's web driver stops reading when its stdin closes but leaves the app running, so an
app whose hub was killed (kill -9, a crash, an OOM) would live on as an orphan, reconnecting
to nothing, for ever. The hub ends its apps itself when it stops normally; this covers the
rest: a thread notices the parent process changed (the orphan was re-parented) and asks the
app to exit the normal way (its queued commands are finished first)."""

from __future__ import annotations

import os
import threading
from typing import Any

CHECK_SECONDS = 1.0
# An app asked to exit that is still running after this long (a shutdown step waiting on the
# hub that is gone) ends hard: its queued commands are in its cache file and survive.
GRACE_SECONDS = 10.0


def exit_with_parent(app: Any) -> threading.Thread:
    """Watch the parent process from a daemon thread; when it is gone, `app.exit()`.

    The hub says who the parent is (UNIBOX_WEB_APP holds its pid): asking the process when
    the app mounts is too late when the hub was killed between the app's start and its
    mount (seen in CI under load: the orphan took init for its parent and lived on)."""
    given = os.environ.get("UNIBOX_WEB_APP", "")
    parent = int(given) if given.isdigit() and int(given) > 1 else os.getppid()
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(CHECK_SECONDS):
            if os.getppid() != parent:
                hard = threading.Timer(GRACE_SECONDS, os._exit, args=(0,))
                hard.daemon = True  # a normal exit ends the process before it fires
                hard.start()
                try:
                    app.call_from_thread(app.exit)
                except Exception:  # the app is already closing
                    pass
                return

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread
