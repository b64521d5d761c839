"""Commands from the TUI run off the UI thread, one at a time and in the order given.

Every write the app makes goes through `CommandQueue.run`: the command is dispatched through
the command registry (core/commands/registry.py: validated arguments, one transaction, the
same path the CLI and the hub use) on a worker thread, and what happens next (a toast, the
cursor moving on, the editor closing) runs back on the UI thread once it has succeeded. A
refused command shows its one-line reason. One queue for the whole app keeps the order an
agent meant ("comment, then close"), and `finish()` runs what is left when the app closes, so
a draft or a reply typed just before quitting is never lost.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.errors import UniboxError

if TYPE_CHECKING:
    from ..app import UniboxApp


@dataclass
class Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    then: Callable[[Any], None] | None = None
    failed: Callable[[UniboxError], None] | None = None
    quiet: bool = False  # no toast on failure (the caller's `failed` says it)
    done: threading.Event = field(default_factory=threading.Event)


def dispatch(ws: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run `fn(ws, *args, **kwargs)` through the registry when it is a registered command
    (so the TUI's commands are validated like the CLI's and the hub's), else directly (a
    composite step such as an undo, made of registered commands itself)."""
    from ..core.commands import registry

    return registry.call(ws, fn, *args, **kwargs)


class CommandQueue:
    """The app's one command queue (see the module docstring)."""

    def __init__(self, app: UniboxApp) -> None:
        self.app = app
        self._jobs: deque[Job] = deque()
        self._lock = threading.Lock()
        self._draining = False
        self._closed = False
        self._current: Job | None = None  # the job the worker is running

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        then: Callable[[Any], None] | None = None,
        failed: Callable[[UniboxError], None] | None = None,
        quiet: bool = False,
        **kwargs: Any,
    ) -> None:
        """Queue `fn(ws, *args, **kwargs)`; `then(result)` runs on the UI thread after it."""
        job = Job(fn, args, kwargs, then, failed, quiet)
        with self._lock:
            if self._closed:  # the app is closing: run it here and now
                start = False
                inline = True
            else:
                self._jobs.append(job)
                start, inline = not self._draining, False
                self._draining = True
        if inline:
            self._run(job, from_worker=False)
        elif start:
            self.app.run_worker(
                self._drain, thread=True, group="commands", exit_on_error=False, name="commands"
            )

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._draining = False
                    return
                job = self._current = self._jobs.popleft()
            self._run(job, from_worker=True)

    def _run(self, job: Job, *, from_worker: bool) -> None:
        try:
            result = dispatch(self.app.ws, job.fn, job.args, job.kwargs)
        except UniboxError as error:
            self._back(from_worker, self._refused, job, error)
        else:
            self._back(from_worker, self._succeeded, job, result)
        finally:
            job.done.set()

    def _back(self, from_worker: bool, fn: Callable[..., None], *args: Any) -> None:
        if self._closed or not from_worker:
            return  # closing: nothing left on screen to update
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:  # the app stopped meanwhile
            pass

    def _succeeded(self, job: Job, result: Any) -> None:
        self.app.poll_changes()  # the screen shows the result at once, not at the next poll
        if job.then is not None:
            job.then(result)

    def _refused(self, job: Job, error: UniboxError) -> None:
        if not job.quiet:
            self.app.notify(str(error), severity="error", markup=False)
        self.app.poll_changes()
        if job.failed is not None:
            job.failed(error)

    def finish(self, timeout: float = 10.0) -> None:
        """The app is closing: wait for the command in flight, then run what is still
        queued on this thread, so nothing the agent did is lost."""
        with self._lock:
            self._closed = True
            current = self._current
            left = list(self._jobs)
            self._jobs.clear()
        if current is not None:
            current.done.wait(timeout)
        for job in left:
            self._run(job, from_worker=False)
