"""What every screen of the app needs from it, from the UI thread and from its workers.

Textual finds `self.app` through a context variable that its thread workers do not carry
(`run_in_executor` does not copy the context), so from a worker it walks up the DOM: once
the screen is detached (the app is closing), that walk ends in `NoActiveAppError`. A worker
that reads the workspace while the agent quits must not crash the exit; it keeps the app it
was made in, and what it would show is dropped when the app has ended."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual._context import active_app

if TYPE_CHECKING:
    from ..app import UniboxApp


class OnApp:
    """Mixin for the app's screens: `uapp` from any thread, `from_worker` to hand a result
    to the UI thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Screens are made on the UI thread, inside the app's context.
        self._uapp: UniboxApp | None = active_app.get(None)  # type: ignore[assignment]

    @property
    def uapp(self) -> UniboxApp:
        if self._uapp is None:
            self._uapp = self.app  # type: ignore[attr-defined]
        return self._uapp  # type: ignore[return-value]

    def from_worker(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run `callback(*args, **kwargs)` on the UI thread and wait for it; nothing when
        the app has ended meanwhile (no one is left to see it)."""
        app = self.uapp
        if not app.is_running:
            return
        try:
            app.call_from_thread(callback, *args, **kwargs)
        except RuntimeError:
            if app.is_running:
                raise  # not the app ending under us: a real error
