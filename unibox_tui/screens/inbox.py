"""The inbox screen: views | conversation list | thread (+ editor) | contact sidebar.

Every change goes through a core command (the ones the CLI uses); after it, the app's
change poll runs at once so the list, counts and thread show the result. Triage keys
(close, assign, snooze, move) then move the cursor to the next conversation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import OptionList, TextArea
from textual.worker import get_current_worker

from .. import actions
from ..core import admin_queries, commands, queries
from ..core.access import Access
from ..core.errors import UniboxError
from ..core.kinds import CHANNEL_KINDS
from ..core.queries import ConversationRow, View
from ..core.snippets import fill, person_values
from ..core.text import clean
from ..core.when import parse_when
from ..widgets import textual_compat
from ..widgets.composer import Composer, Draft
from ..widgets.contact_sidebar import ContactSidebar, is_unknown_visitor
from ..widgets.conversation_list import ConversationList
from ..widgets.footer import UniboxFooter
from ..widgets.glyphs import channel_name
from ..widgets.line_api import TextLine
from ..widgets.safe_text import safe_line
from ..widgets.thread_view import LONG_BODY, MORE_STEP, ThreadView, size_label
from ..widgets.views_pane import ViewEntry, ViewsPane
from . import sorting
from .drafts import DraftStore
from .help import key_label
from .on_app import OnApp

# The modules behind the inbox's keys (dialogs, selection, undo, delivery, the e-mail
# reply's helpers): each is imported where a key first needs it, not before the first list
# (tmux_bench start), and at the app's first pause, ahead of that key (UniboxApp._warm_up).
KEY_MODULES = tuple(
    f"{__package__}.{name}"
    for name in (
        "attachments delivery mail_composer merge pickers reveal search selection snooze "
        "stale tagging undo"
    ).split()
)

if TYPE_CHECKING:
    from ..app import UniboxApp
    from .forms import ContactForm, TicketForm
    from .search import SearchResult
    from .undo import Undo

DEFAULT_VIEW = "open"
THREAD_CACHE = 8  # threads kept between changes (the ones around the cursor)


def view_entries(app: UniboxApp) -> list[ViewEntry]:
    """Each inbox the agent may see, then the fixed views, one per channel kind, one per tag."""
    # The view is titled with the inbox's name (queries.view without the workspace knows
    # only the id, and the list header showed it).
    entries = [
        ViewEntry(
            f"inbox:{inbox.id}",
            inbox.name,
            queries.view(f"inbox:{inbox.id}", app.me_id, app.ws, access=app.access),
            "Inboxes",
        )
        for inbox in queries.visible_inboxes(app.ws, app.me_id)
    ]
    for key in ("mine", "unassigned", "open", "snoozed", "closed"):
        if key == "mine" and not app.me_id:
            continue
        v = queries.view(key, app.me_id, access=app.access)
        entries.append(ViewEntry(key, v.label, v, "Views"))
    for kind in CHANNEL_KINDS:
        v = queries.view(f"kind:{kind}", app.me_id, access=app.access)
        entries.append(ViewEntry(v.key, v.label, v, "Channels", kind=kind))
    for name in queries.tags(app.ws):  # one view per tag (counted through its index)
        v = queries.view(f"tag:{name}", app.me_id, access=app.access)
        entries.append(ViewEntry(v.key, v.label, v, "Tags"))
    # Number keys go to the inboxes, fixed views and tags in order; the channel kinds have
    # keys of their own (actions.KIND_VIEW_KEYS). The pane shows whichever key is bound.
    keymap = app.config.keymap
    numbered = [e for e in entries if e.kind is None][:9]
    for slot, entry in enumerate(numbered, start=1):
        entry.slot = slot
        entry.hotkey = first_key(actions.keys_for(actions.SPECS[f"view_{slot}"], keymap))
    for entry in entries:
        if entry.kind is not None:
            entry.hotkey = first_key(actions.keys_for(actions.SPECS[f"view_{entry.kind}"], keymap))
    return entries


def first_key(keys: str) -> str:
    """The first of a binding's keys, as printed on the key (`dollar_sign` -> `$`)."""
    return key_label(keys.split(",")[0])


class InboxScreen(OnApp, Screen[None]):
    BINDINGS = actions.bindings(actions.INBOX)
    HELP_SCOPES = (
        actions.APP,
        actions.INBOX,
        actions.LIST,
        actions.VIEWS,
        actions.THREAD,
        actions.COMPOSER,
    )
    # Where the palette runs a binding of each scope.
    SCOPE_NODES = {
        actions.LIST: "#list",
        actions.VIEWS: "#views",
        actions.THREAD: "#thread",
        actions.COMPOSER: "#composer",
    }
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-medium"), (170, "-wide")]

    def __init__(self) -> None:
        super().__init__(id="inbox")
        # The width class Textual sets on the first resize, set now: the panes are then
        # styled once at mount, not again for the class (a restyle of every widget and a
        # second layout before the first frame).
        width = self.app.size.width
        # (Not mounted yet: the mount styles it, no update asked for now.)
        self.add_class(
            max(b for b in self.HORIZONTAL_BREAKPOINTS if b[0] <= width)[1], update=False
        )
        self.entry: ViewEntry | None = None
        self.filter: str | None = None
        self._thread_row: ConversationRow | None = None
        # The row the list cursor moved to, for the thread to show on the next frame
        # (a 1-tuple: the cursor can move to no row at all).
        self._pending_row: tuple[ConversationRow | None] | None = None
        self.drafts: DraftStore | None = None  # on mount: it reads the workspace
        self.search: SearchResult | None = None
        self.undo: Undo | None = None  # what ctrl+z takes back, while it may
        # Messages of recently shown or prefetched threads; dropped when they change.
        self._threads: OrderedDict[str, list[queries.MessageRow]] = OrderedDict()
        self._access: Access | None = None  # the access the views were built with
        self._resumed = False

    # ------------------------------------------------------------------ layout

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        if not self._resumed:  # its widgets were styled as they mounted, a moment ago
            self._resumed = True
            textual_compat.keep_mount_styles(event)

    def compose(self) -> ComposeResult:
        # The panes are kept as attributes: they are reached on every key press.
        app = self.uapp
        self.views = ViewsPane(id="views")
        self.conv_list = ConversationList(app.ws, app.now, id="list")
        self.thread = ThreadView(app.now, id="thread")
        self.composer = Composer()
        self.sidebar = ContactSidebar(app.now)
        self.list_header = TextLine(id="list-header", classes="pane-header")
        self.thread_header = TextLine(id="thread-header", classes="pane-header")
        with Horizontal(id="panes"):
            yield self.views
            with Vertical(id="list-pane"):
                yield self.list_header
                yield self.conv_list
            with Vertical(id="thread-pane"):
                yield self.thread_header
                yield self.thread
                yield self.composer
            yield self.sidebar
        yield UniboxFooter()

    def on_mount(self) -> None:
        # A j redraws the list and the thread: the panes behind them are not redrawn too.
        textual_compat.skip_hidden_renders(self)
        # Start-up lays the inbox out inside the app's mount batch: its first frame is
        # drawn once the batch ends, not also rendered inside it to be thrown away.
        textual_compat.no_dropped_frames(self)
        app = self.uapp
        self.drafts = DraftStore(
            app.ws,
            app.me_id,
            app.now,
            lambda text: self.notify(text, severity="error", markup=False),
            app.commands.run,
        )
        self.conv_list.drafts = self.drafts.ids()
        self.conv_list.on_cursor = self._row_highlighted
        self._access = self.uapp.access
        self.views.set_entries(view_entries(self.uapp), DEFAULT_VIEW)
        if not self.uapp.ws_has_conversations():
            self.conv_list.empty_text = (
                "No conversations yet: they appear here as customers write to the team's channels."
                if self.uapp.team is not None  # on a hub: channels are an admin's setup there
                else "No conversations yet. Run `unibox demo` to try Unibox, or connect a "
                "channel (`unibox channel add --help` says how)."
            )
        entry = self.views.current
        if entry is not None:
            self.show_entry(entry)
        self.conv_list.focus()
        self.refresh_counts()

    # ------------------------------------------------------------------ views and list

    def current_view(self) -> View | None:
        if self.entry is None:
            return None
        view = queries.filtered(self.entry.view, self.filter) if self.filter else self.entry.view
        order = sorting.current(self)
        return view if order is view.order else replace(view, order=order)

    def show_entry(self, entry: ViewEntry) -> None:
        changed = self.entry is None or entry.key != self.entry.key
        self.entry = entry
        if changed:
            self.filter = None
        view = self.current_view()
        assert view is not None
        self.conv_list.show(view, entry.count if not self.filter else None)
        self._update_list_header()
        if self.filter:
            self.refresh_counts()

    def _update_list_header(self) -> None:
        view = self.current_view()
        if view is None:
            return
        text = safe_line(view.label, "bold")
        text.append(f"  {self.conv_list.total}", style="dim")
        order = sorting.header(view.order)
        if order is not None:
            text.append_text(order)
        if self.conv_list.checked:
            text.append(f"  {len(self.conv_list.checked):,} selected", style="bold")
        if self.uapp.team is not None:
            text.append_text(self.uapp.team.header())
        self.list_header.show(text)

    def refresh_headers(self) -> None:
        self._update_list_header()
        self._update_thread_header()

    @on(TextArea.Changed)
    def _typing(self, _event: TextArea.Changed) -> None:
        team = self.uapp.team
        if team is not None and self.thread_row is not None and self.composer.is_open:
            team.typing(self.thread_row.id, private=self.composer.mode == "comment")

    @on(ViewsPane.Chosen)
    def _view_chosen(self, event: ViewsPane.Chosen) -> None:
        self.show_entry(event.entry)

    @on(ViewsPane.Opened)
    def _view_opened(self) -> None:
        self.conv_list.focus()

    @work(thread=True, exclusive=True, group="counts")
    def refresh_counts(self) -> None:
        """Count every view off the UI thread (counts grow with the workspace)."""
        views = [e.view for e in self.views.entries]
        current = self.current_view()
        if current is not None and current.key not in {v.key for v in views}:
            views.append(current)
        with self.uapp.ws.read() as conn:
            counts = queries.view_counts(conn, views)
        self.from_worker(self._apply_counts, counts, get_current_worker())

    def _apply_counts(self, counts: dict[str, tuple[int, int]], worker: Any = None) -> None:
        if worker is not None and worker.is_cancelled:
            # A newer count started after this one (on this thread: no race): these
            # figures may predate rows the list shows already, and would clamp its cursor.
            return
        self.views.set_counts(counts)
        view = self.current_view()
        if view is not None and view.key in counts:
            self.conv_list.set_total(counts[view.key][0])
            self._update_list_header()

    def data_changed(self, changed: set[str] | None = None) -> None:
        """The workspace changed (our command, the engine, another process): refresh what
        is visible, keeping the cursor, the reading position and the editor. `changed`: the
        conversations that changed (None: unknown or too many, refresh everything); only
        their rows, their thread and the counts are redrawn when that is enough."""
        access = self.uapp.access
        regranted = access != self._access
        self._access = access
        if changed is None or regranted:
            self._threads.clear()
        else:
            for cid in changed:
                self._threads.pop(cid, None)
        self.views.set_entries(view_entries(self.uapp), self.entry.key if self.entry else None)
        if regranted:
            # Access changed (a grant or a revoke): the views filter by it, so take the new
            # ones; an inbox that is gone from sight leaves its view.
            entry = self.views.entry(self.entry.key) if self.entry else None
            self.entry = entry or self.views.current
            self.conv_list.view = self.current_view()
            self.conv_list.reload()
        elif changed is None or not self.conv_list.update_rows(changed):
            self.conv_list.reload()
        self._update_list_header()
        self.refresh_counts()
        if self.thread_row is not None and (changed is None or self.thread_row.id in changed):
            self.show_thread(self.thread_row.id, keep=True)

    # ------------------------------------------------------------------ thread

    def _row_highlighted(self, row: ConversationRow | None) -> None:
        # The list paints the cursor move in this frame, alone (two rows: ~1 KB to the
        # terminal), and the thread follows on the next one: the key shows at once, and
        # a key held down draws the thread only for the rows a frame is drawn at. Whatever
        # asks which conversation is shown (`thread_row`, every action) gets the thread
        # brought up to date first, so a key never acts on the row the cursor left.
        self._pending_row = (row,)
        self.call_after_refresh(self._show_pending)

    def _show_pending(self) -> None:
        if self._pending_row is None:
            return
        (row,) = self._pending_row
        self._pending_row = None
        if row is None:
            self.show_thread(None)
        elif self._thread_row is None or self._thread_row.id != row.id:
            self.show_thread(row.id, row=row)
            # Drawn now, right behind the cursor's frame, not a frame period later: until
            # the thread shows, the key has not done all it does (tui_bench open thread).
            textual_compat.paint_now(self, [self.thread, self.thread_header])
            # Once this frame is drawn, get the next row's thread ready: moving on to
            # it then costs no query and no rendering.
            self.call_after_refresh(self._prefetch, self.conv_list.cursor + 1)

    @property
    def thread_row(self) -> ConversationRow | None:
        """The conversation the thread shows (brought up to the list cursor first)."""
        if self._pending_row is not None:
            self._show_pending()
        return self._thread_row

    def _prefetch(self, index: int) -> None:
        # Render even when the messages are cached: their blocks may have left the thread's
        # block cache since (a long message's pieces fill it), and a cached block costs a
        # look-up only.
        row = self.conv_list.row_at(index)
        if row is not None:
            self.thread.prerender(self._messages(row.id))

    def _messages(self, conversation_id: str) -> list[queries.MessageRow]:
        messages = self._threads.get(conversation_id)
        if messages is None:
            messages = self._threads[conversation_id] = queries.thread(
                self.uapp.ws, conversation_id, access=self.uapp.access, body_limit=LONG_BODY
            )
            if len(self._threads) > THREAD_CACHE:
                self._threads.popitem(last=False)
        return messages

    @on(ConversationList.Opened)
    def _row_opened(self, event: ConversationList.Opened) -> None:
        self.open_conversation(event.row.id)

    def open_conversation(self, conversation_id: str) -> None:
        """Show a conversation in the thread pane, mark it read and focus the thread. The
        list cursor goes to it first, so what the list shows and what the keys act on is
        the conversation on screen."""
        from .undo import describe

        if not self.reveal(conversation_id):
            try:
                found = queries.conversation(self.uapp.ws, conversation_id, access=self.uapp.access)
            except UniboxError as e:
                self.notify(str(e), severity="error", markup=False)
                return
            self.notify(
                f"In none of your lists: keys act on {describe(found)}.", markup=False, timeout=4
            )
        self.show_thread(conversation_id)
        row = self.thread_row
        me = self.uapp.me_id
        if row is not None and row.unread and me:
            self.run_command(commands.mark_read, row.id, actor=me, now=self.uapp.now())
        self.add_class("-reading")
        self.thread.focus()

    def reveal(self, conversation_id: str, *, switch: bool = True) -> bool:
        from .reveal import reveal

        return reveal(self, conversation_id, switch=switch)

    def show_thread(
        self,
        conversation_id: str | None,
        *,
        keep: bool = False,
        row: ConversationRow | None = None,
    ) -> None:
        """Show a conversation in the thread pane (`row`: its list row, fresh from the
        list, saves a query)."""
        old = self.thread_row.id if self.thread_row else None
        if old and old != conversation_id:
            self._stash_draft(old)
        messages: list[queries.MessageRow] = []
        if conversation_id:
            try:
                if row is None or row.id != conversation_id:
                    row = queries.conversation(
                        self.uapp.ws, conversation_id, access=self.uapp.access
                    )
                messages = self._messages(conversation_id)
                if old == conversation_id and self.thread.expanded:
                    messages = self._keep_expanded(messages)
            except UniboxError:
                row = None
        else:
            row = None
        self._thread_row = row
        self.thread.show(row, messages, keep=keep and old == conversation_id)
        self._update_thread_header()
        if old != conversation_id:
            draft = self.drafts.get(conversation_id or "") if self.drafts else None
            if draft is not None and row is not None:
                self._open_composer(draft, focus=False)
            else:
                self.composer.close()
        if self.sidebar.is_open:
            self._load_sidebar()

    def _update_thread_header(self) -> None:
        row = self.thread_row
        header = self.thread_header
        if row is None:
            header.show(Text())
            return
        text = safe_line(row.subject or row.preview or "(no subject)", "bold")
        if self.uapp.team is not None:  # "Ana is viewing", first: the line is cut at the width
            activity = self.uapp.team.activity_text(row.id)
            if activity is not None:
                text = activity.append("  ").append_text(text)
        text.append("\n")
        text.append_text(safe_line(row.contact_name))
        if row.cc:  # copied on replies; replies go to the contact
            text.append(" · cc ", style="dim")
            text.append_text(safe_line(", ".join(row.cc), "dim", limit=120))
        text.append(f" · {channel_name(row.channel_kind)} · ", style="dim")
        text.append_text(safe_line(row.inbox, "dim"))
        text.append(f" · {row.status}", style="bold" if row.status != "open" else "")
        text.append(f" · @{row.assignee}" if row.assignee else " · unassigned", style="dim")
        if row.team:
            text.append(" · team ", style="dim")
            text.append_text(safe_line(row.team, "dim"))
        if row.ticket_id:
            text.append(" · has a ticket (t)", style="dim")
        header.show(text)

    def target(self) -> ConversationRow | None:
        """The conversation an action is about: the one the thread shows, whichever pane
        has focus. The thread follows the list cursor, and a conversation opened from
        elsewhere moves the cursor to it (`reveal`), so this is also the list's row."""
        return self.thread_row or self.conv_list.selected

    # ------------------------------------------------------------------ commands

    def run_command(
        self,
        fn: Callable[..., Any],
        *args: Any,
        then: Callable[[Any], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run a core command off the UI thread (screens/commanding.py); `then(result)` runs
        here once it succeeded. A refused request shows its one-line reason; either way the
        change poll runs at once, so the screen shows the result."""
        self.uapp.commands.run(fn, *args, then=then, **kwargs)

    def _need(self, row: ConversationRow | None = None) -> tuple[ConversationRow, str] | None:
        """The conversation (`row`, else the target) and who acts, or None (with a reason
        shown). A dialog passes the row it was opened for: the list may move under it."""
        row = row or self.target()
        if row is None:
            self.notify("No conversation selected.", severity="warning", markup=False)
            return None
        if not self.uapp.me_id:
            self.notify(
                "No agent in this workspace to act as: add one first.",
                severity="error",
                markup=False,
            )
            return None
        return row, self.uapp.me_id

    def _triage(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on: ConversationRow | None = None,
        advance: bool = True,
        as_actor: bool = True,
        **kwargs: Any,
    ) -> None:
        """Run a one-key decision on `on` (else the target). A toast names the conversation
        and the change, and `ctrl+z` takes it back for a few seconds (screens/undo.py).
        Triage (`advance`) then goes to the next conversation."""
        from .undo import record_decision

        need = self._need(on)
        if need is None:
            return
        row, me = need
        from_list = self.conv_list.selected is not None and self.conv_list.selected.id == row.id
        try:
            before = queries.conversation(self.uapp.ws, row.id, access=self.uapp.access)
        except UniboxError as e:
            self.notify(str(e), severity="error", markup=False)
            return
        if as_actor:
            kwargs["actor"] = me

        def decided(_result: Any) -> None:
            record_decision(self, before, me)
            if not advance or not from_list:
                return
            # The row left the view (the next one slid under the cursor) or it is still
            # here: then step past it. Either way the cursor lands on the next conversation.
            selected = self.conv_list.selected
            if selected is not None and selected.id == row.id:
                self.conv_list.move_to(self.conv_list.cursor + 1)

        self.run_command(fn, row.id, *args, then=decided, now=self.uapp.now(), **kwargs)

    def action_undo(self) -> None:
        from .undo import undo_last

        undo_last(self)

    def action_close(self) -> None:
        from . import selection

        if not selection.take(self, "close"):
            self._triage(commands.close)

    def action_reopen(self) -> None:
        from . import selection

        if not selection.take(self, "reopen"):
            self._triage(commands.reopen, advance=False)

    def action_select_all(self) -> None:
        from . import selection

        selection.select_all(self)

    def action_tag(self) -> None:
        from . import selection, tagging

        if not selection.take(self, "tag"):
            tagging.tag_one(self)

    @on(ConversationList.SelectionChanged)
    def _selection_changed(self) -> None:
        self._update_list_header()

    def action_assign_me(self) -> None:
        from . import selection

        if selection.take(self, "assign_me"):
            return
        if self.uapp.me_id:
            # Taking what the screen shows unassigned is guarded: if a teammate took it
            # meanwhile (on a hub), it stays theirs and a toast says so.
            row = self.target()
            unassigned = row is not None and row.assignee is None
            self._triage(commands.assign, self.uapp.me_id, only_if_unassigned=unassigned)
        else:
            self._need()

    def action_toggle_unread(self) -> None:
        row = self.target()
        if row is None:
            return
        self._triage(commands.mark_read, row.unread, on=row, advance=False)

    def action_assign(self) -> None:
        from . import selection
        from .pickers import Choice, PickerScreen

        if selection.take(self, "assign"):
            return
        need = self._need()
        if need is None:
            return
        row = need[0]
        choices: list[Choice[tuple[str, str | None]]] = []
        for agent in queries.agents_for_inbox(self.uapp.ws, row.inbox_id):
            label = Text(f"@{agent.handle:<12} ", style="bold")
            label.append_text(safe_line(agent.name))
            away = agent.availability != "available"
            label.append(f"  {'○ away' if away else '● available'}", style="dim" if away else "")
            presence = self.uapp.presence_of(agent.id)
            if presence is not None:
                label.append(f" · {presence}", style="dim" if presence != "online" else "green")
            if agent.teams:
                label.append("  " + ", ".join(agent.teams), style="dim")
            if agent.id == row.assignee_id:
                label.append("  (assigned)", style="italic")
            search = f"{agent.handle} {agent.name} {agent.availability} {' '.join(agent.teams)}"
            choices.append(Choice(("agent", agent.handle), label, search))
        for team in queries.teams(self.uapp.ws):
            label = Text("team ", style="dim")
            label.append_text(safe_line(team.name, "bold"))
            label.append(f"  {team.detail}", style="dim")
            choices.append(Choice(("team", team.name), label, f"team {team.name}"))
        if row.assignee_id:
            choices.append(Choice(("agent", None), Text("Unassign", style="italic"), "unassign"))
        subject = row.subject or row.preview
        self.app.push_screen(
            PickerScreen(f"Assign: {subject[:50]}", choices, id="assign-picker"),
            lambda value: self._assign_chosen(row, value),
        )

    def _assign_chosen(self, row: ConversationRow, value: tuple[str, str | None] | None) -> None:
        if value is None:
            return
        kind, ref = value
        if kind == "team":
            self._triage(commands.assign_team, ref, on=row)
        else:
            self._triage(commands.assign, ref, on=row)

    def action_snooze(self) -> None:
        from . import selection, snooze
        from .pickers import PickerScreen

        if selection.take(self, "snooze"):
            return
        need = self._need()
        if need is None:
            return
        row = need[0]
        now, tz = self.uapp.now(), self.uapp.tz
        self.app.push_screen(
            PickerScreen(
                "Snooze until…",
                snooze.choices(now, tz),
                id="snooze-picker",
                typed=snooze.typed(now, tz),
            ),
            lambda value: self._snooze_chosen(row, value),
        )

    def _snooze_chosen(self, row: ConversationRow, value: datetime | str | None) -> None:
        from . import snooze
        from .pickers import PromptScreen

        if value == snooze.CUSTOM:
            now, tz = self.uapp.now(), self.uapp.tz
            self.app.push_screen(
                PromptScreen(
                    "Snooze until (3h, 2d, tomorrow 9:00, monday, 14:30, 2026-12-01 09:00)",
                    check=snooze.check(now, tz),
                ),
                lambda text: self._snooze_chosen(row, parse_when(text, now, tz) if text else None),
            )
        elif isinstance(value, datetime):
            self._triage(commands.snooze, value, on=row)

    def action_move(self) -> None:
        from . import selection
        from .pickers import Choice, PickerScreen

        if selection.take(self, "move"):
            return
        need = self._need()
        if need is None:
            return
        row = need[0]
        choices = [
            Choice(inbox.name, safe_line(inbox.name), inbox.name)
            for inbox in queries.inboxes(self.uapp.ws)
            if inbox.id != row.inbox_id
        ]
        if not choices:
            self.notify("There is no other inbox to move to.", markup=False)
            return
        self.app.push_screen(
            PickerScreen("Move to inbox…", choices), lambda inbox: self._move_chosen(row, inbox)
        )

    def _move_chosen(self, row: ConversationRow, inbox: str | None) -> None:
        if inbox:
            self._triage(commands.move_inbox, inbox, on=row)

    def action_merge(self) -> None:
        """Merge the conversation on screen into another one the agent picks (its
        contact's conversations first): its messages move there, and the thread shows it."""
        from .merge import merge_choices, typed_id
        from .pickers import PickerScreen
        from .undo import describe

        need = self._need()
        if need is None:
            return
        row, me = need
        access = self.uapp.access
        choices = merge_choices(self.uapp.ws, row, access, self.uapp.now())
        self.app.push_screen(
            PickerScreen(
                f"Merge {describe(row)} into…",
                choices,
                id="merge-picker",
                hint="● same contact · type to filter or paste an id · enter merge · esc cancel",
                typed=typed_id(self.uapp.ws, row, access, self.uapp.now),
            ),
            lambda target: self._merge_chosen(row, me, target),
        )

    def _merge_chosen(self, row: ConversationRow, me: str, target: str | None) -> None:
        from .undo import describe

        if not target:
            return

        def merged(result: Any) -> None:
            moved = f"{result.moved} message{'' if result.moved == 1 else 's'}"
            self.notify(f"Merged {describe(row)} into this conversation ({moved}).", markup=False)
            self.open_conversation(result.conversation_id)

        self.run_command(
            commands.merge_conversations, target, row.id, then=merged, actor=me, now=self.uapp.now()
        )

    def action_ticket(self) -> None:
        need = self._need()
        if need is None:
            return
        row = need[0]
        ticket = queries.ticket(self.uapp.ws, row.ticket_id) if row.ticket_id else None
        from .forms import TicketScreen  # a dialog: imported when first opened, not at start

        screen = TicketScreen(
            title=row.subject or row.preview,
            agents=queries.agents_for_inbox(self.uapp.ws, row.inbox_id),
            ticket=ticket,
            pipelines={p.name: p.stages for p in admin_queries.pipelines(self.uapp.ws)},
            start=admin_queries.inbox_start(self.uapp.ws, row.inbox_id),
        )
        self.app.push_screen(screen, lambda form: self._ticket_saved(row, form))

    def _ticket_saved(self, row: ConversationRow, form: TicketForm | None) -> None:
        me = self.uapp.me_id
        if form is None or not me:
            return
        now = self.uapp.now()
        if row.ticket_id is None:
            self.run_command(
                commands.create_ticket,
                actor=me,
                conversation_id=row.id,
                title=form.title,
                pipeline=form.pipeline,
                stage=form.stage,
                priority=form.priority,
                owner=form.owner,
                now=now,
                then=lambda ticket_id: self.notify(
                    f"Ticket #{queries.ticket(self.uapp.ws, ticket_id).number} created"
                ),
            )
            return
        self.run_command(
            commands.update_ticket,
            row.ticket_id,
            actor=me,
            now=now,
            title=form.title,
            pipeline=form.pipeline,
            stage=form.stage,
            priority=form.priority,
            owner=form.owner or "",
        )
        if form.close:
            self.run_command(commands.close_ticket, row.ticket_id, actor=me, now=now)

    def action_filter(self) -> None:
        # "" is "no filter": None is what a cancelled picker returns.
        from .pickers import Choice, PickerScreen

        choices = [Choice("", Text("No filter: the whole view"), "none all")]
        choices += [
            Choice(name, Text(label), f"{name} {label}")
            for name, (label, _) in queries.LIST_FILTERS.items()
        ]
        self.app.push_screen(PickerScreen("Filter the list", choices), self._filter_chosen)

    def _filter_chosen(self, name: str | None) -> None:
        if name is None:
            return
        self.filter = name or None
        self.reshow_list()

    def reshow_list(self) -> None:
        """Show the current view again from its top (another filter or order)."""
        view = self.current_view()
        if view is not None:
            self.conv_list.show(view, None)
            self._update_list_header()
            self.refresh_counts()

    def action_sort(self) -> None:
        sorting.choose(self)

    # ------------------------------------------------------------------ editor

    def action_reply(self) -> None:
        self._start_editor("reply")

    def action_comment(self) -> None:
        self._start_editor("comment")

    def action_reply_sender(self) -> None:
        """R: an e-mail reply to the sender only (the Cc emptied); `r` keeps everyone."""
        self._start_editor("reply")
        if self.composer.is_mail:
            self.composer.fields.cc.value = ""

    def action_forward(self) -> None:
        from . import mail_composer

        mail_composer.forward(self)

    def action_transcript(self) -> None:
        from .chatlink import email_transcript

        email_transcript(self)

    def action_step_conversation(self, step: int) -> None:
        """J / K: the next or previous conversation of the list, read in the thread pane
        (the list cursor moves with it, so every key acts on what is shown)."""
        lst = self.conv_list
        index = lst.cursor + step
        if not lst.total or not 0 <= index < lst.total:
            self.notify("No more conversations in this list.", markup=False, timeout=2)
            return
        lst.move_to(index)  # the thread follows the cursor (the draft is kept)
        row = lst.selected
        if row is not None:
            self.open_conversation(row.id)

    def _start_editor(self, mode: str) -> None:
        need = self._need()
        if need is None:
            return
        row = need[0]
        if self.thread_row is None or self.thread_row.id != row.id:
            self.show_thread(row.id)
        self.add_class("-reading")
        draft = (self.drafts.get(row.id) if self.drafts else None) or Draft(mode, "")
        if self.composer.is_open and self.thread_row and self.thread_row.id == row.id:
            draft = self.composer.draft()
        draft.mode = mode
        self._open_composer(draft, focus=True)
        # The message being answered is the newest: keep it in sight above the editor.
        self.call_after_refresh(self.thread.scroll_end, animate=False)

    def _open_composer(self, draft: Draft, *, focus: bool) -> None:
        from . import mail_composer

        row = self.thread_row
        if row is None:
            return
        mail = mail_composer.setup(self, row) if mail_composer.is_mail(row, draft) else None
        self.composer.open(
            draft,
            channel_kind=row.channel_kind,
            agents=queries.agents_for_inbox(self.uapp.ws, row.inbox_id),
            focus=focus,
            mail=mail[0] if mail else None,
            prefill=mail[1] if mail else None,
        )
        if row.channel_kind in ("messenger", "whatsapp"):
            from . import templates  # with the channel backends: not needed at start

            self.composer.set_notice(templates.window_notice(self.uapp, row))
        elif row.channel_kind == "chat":
            self._chat_notice(row.id)
        elif self.composer.notice is not None:
            self.composer.set_notice(None)

    def _chat_notice(self, conversation_id: str) -> None:
        """A chat whose visitor left: where the reply goes (or that it cannot reach them)."""
        from .chatlink import reply_notice

        team = self.uapp.team
        notice = reply_notice(self.uapp.ws, conversation_id, team.visitors if team else None)
        if notice is not None or self.composer.notice is not None:
            self.composer.set_notice(notice)

    def _stash_draft(self, conversation_id: str) -> None:
        if self.composer.is_open:
            self._keep_draft(conversation_id, self.composer.draft())
        self.composer.clear()

    def _keep_draft(self, conversation_id: str, draft: Draft) -> None:
        if self.drafts is not None:
            self.drafts.keep(conversation_id, draft)
            self.conv_list.set_drafts(self.drafts.ids())

    def unsent_drafts(self) -> int:
        """Keep what the editor holds, then count the agent's unsent drafts (for quit)."""
        if self.thread_row is not None and self.composer.is_open:
            self._keep_draft(self.thread_row.id, self.composer.draft())
        return len(self.drafts) if self.drafts is not None else 0

    @on(Composer.Closed)
    def _composer_closed(self) -> None:
        row = self.thread_row
        if row is not None:
            self._stopped_writing(row.id)
            draft = self.composer.draft()
            self._keep_draft(row.id, draft)
            if draft.text.strip():
                self.notify("Draft kept.", markup=False, timeout=2)
        self.thread.focus()

    def _stopped_writing(self, conversation_id: str) -> None:
        if self.uapp.team is not None:
            self.uapp.team.idle(conversation_id)

    @on(Composer.Send)
    def _send(self, event: Composer.Send) -> None:
        from . import mail_composer, stale
        from .undo import hold_reply

        row, me = self.thread_row, self.uapp.me_id
        if row is not None:
            self._stopped_writing(row.id)
        if row is None or not me:
            self._need()
            return
        draft = event.draft
        now = self.uapp.now()
        hold = self.uapp.config.undo_send_seconds

        def sent(result: Any) -> None:
            if draft.mode == "comment":
                if result.mentioned:
                    self.notify(
                        "Mentioned " + ", ".join(f"@{h}" for h in result.mentioned), markup=False
                    )
                if result.unknown:
                    self.notify(
                        "No teammate "
                        + ", ".join(f"@{h}" for h in result.unknown)
                        + ": left as text",
                        severity="warning",
                        markup=False,
                    )
            else:
                hold_reply(self, row, me, result, draft, hold)
            if self.drafts is not None:
                self.drafts.sent(row.id)
                self.conv_list.set_drafts(self.drafts.ids())
            if self.thread_row is not None and self.thread_row.id == row.id:
                self.composer.clear()
                self.composer.close()  # focus went to the thread when it was sent

        def refused(error: Exception) -> None:
            if self.thread_row is not None and self.thread_row.id == row.id:
                self.composer.resume()
            if draft.mode != "comment":
                stale.refused_now(self.uapp, error)

        mail: dict[str, Any] = {}
        if draft.mode == "reply" and self.composer.is_mail:
            try:
                mail = mail_composer.reply_args(self, row, draft)
            except UniboxError as e:
                # One line under the fields; the text and the fields stay as they are.
                self.composer.fields.say(str(e))
                self.notify(str(e), severity="error", markup=False)
                return
        elif draft.mode == "reply" and self.composer.files:
            try:  # Messenger, WhatsApp, or a chat continued by e-mail: its files
                mail = mail_composer.file_args(self, row)
            except UniboxError as e:
                # One line under the editor, before anything is queued; the text stays.
                self.composer.say(str(e))
                return
        self.composer.sending()
        self.thread.focus()
        if draft.mode == "comment":
            self.uapp.commands.run(
                commands.comment, row.id, draft.text, actor=me, now=now, then=sent, failed=refused
            )
        else:
            self.uapp.commands.run(
                mail_composer.reply_with_files if mail else commands.reply,
                row.id,
                draft.text,
                **mail,
                actor=me,
                via_channel_id=draft.via_channel_id,
                hold_seconds=hold,
                seen_message_id=stale.seen_message_id(self._threads.get(row.id)),
                now=now,
                then=sent,
                failed=refused,
            )

    @on(Composer.Template)
    def _template(self) -> None:
        row, me = self.thread_row, self.uapp.me_id
        if row is None or not me:
            return

        def sent(_result: Any) -> None:
            if self.thread_row is not None and self.thread_row.id == row.id:
                self.composer.set_notice(None)
                self.composer.close()

        from . import templates

        templates.offer_templates(self, row, me, sent)

    @on(Composer.Snippet)
    def _snippet(self) -> None:
        from .pickers import Choice, PickerScreen

        snippets = queries.snippets(self.uapp.ws)
        if not snippets:
            self.notify("No snippets yet.", markup=False)
            return
        choices = []
        for s in snippets:
            label = safe_line(s.name, "bold")
            label.append("  ")
            label.append_text(safe_line(s.body, "dim", limit=60))
            choices.append(Choice(s.body, label, f"{s.name} {s.body}"))
        self.app.push_screen(PickerScreen("Insert snippet", choices), self._snippet_chosen)

    def _snippet_chosen(self, body: str | None) -> None:
        row = self.thread_row
        if body is None or row is None:
            self.composer.editor.focus()
            return
        contact = queries.contact(self.uapp.ws, row.contact_id, access=self.uapp.access)
        email = next((v for k, v in contact.identities if k == "email"), None)
        me = self.uapp.me_row
        values = {
            "contact": person_values(contact.name, email, contact.company),
            "agent": person_values(me.name, me.email) if me else {},
            "conversation": {"subject": row.subject, "inbox": row.inbox},
        }
        # Cleaned: a snippet or a contact's name may hold escape sequences, and the
        # TextArea would draw them as they are.
        self.composer.insert(clean(fill(body, values)))

    @on(Composer.ExternalEditor)
    def _external_editor(self) -> None:
        from . import mail_composer

        mail_composer.edit_outside(self)

    @on(Composer.Files)
    def _files(self) -> None:
        from . import mail_composer

        mail_composer.pick_files(self)

    @on(Composer.InsertLink)
    def _insert_link(self) -> None:
        from .links import offer_links  # loaded on first use

        offer_links(self)

    @on(Composer.SwitchChannel)
    def _switch_channel(self) -> None:
        row = self.thread_row
        if row is None:
            return
        if self.composer.via_channel_id:
            self.composer.set_via(None)
            return
        if row.channel_kind not in ("chat", "messenger"):
            self.notify("Continue by e-mail is for chat and Messenger conversations.", markup=False)
            return
        contact = queries.contact(self.uapp.ws, row.contact_id, access=self.uapp.access)
        if not any(kind == "email" for kind, _ in contact.identities):
            self.notify(
                "This contact has no e-mail address; add one with C (edit contact).",
                severity="warning",
                markup=False,
            )
            return
        channel_id = queries.answering_channel(self.uapp.ws, row.inbox_id, "email")
        if channel_id is None:
            self.notify("This inbox has no e-mail channel.", severity="warning", markup=False)
            return
        self.composer.set_via(channel_id)

    # ------------------------------------------------------------------ search

    def action_search(self) -> None:
        from .search import SearchScreen

        query = self.search.query if self.search else ""
        self.app.push_screen(
            SearchScreen(
                self.uapp.ws,
                self.uapp.now,
                self.uapp.access,
                query,
                me=self.uapp.me_id,
                tz=self.uapp.config.tz,
            ),
            self._searched,
        )

    def _searched(self, result: SearchResult | None) -> None:
        if result is None:
            return
        self.search = result
        self._open_hit()

    def _open_hit(self) -> None:
        result = self.search
        if result is None:
            return
        hit = result.hits[result.index]
        self.open_conversation(hit.row.id)
        if self.thread_row is not None and self.thread_row.id == hit.row.id:
            # The words found are marked, and the thread scrolls to the message the
            # snippet came from (else the first one that holds a word).
            self.thread.mark(result.terms(), hit.message_id)
        self.notify(
            f"Result {result.index + 1} of {len(result.hits)} · n/N for the next/previous",
            markup=False,
            timeout=2,
        )

    def action_next_hit(self) -> None:
        self._step_hit(1)

    def action_prev_hit(self) -> None:
        self._step_hit(-1)

    def _step_hit(self, step: int) -> None:
        result = self.search
        if result is None or not result.hits:
            self.notify("No search results: press / to search.", markup=False)
            return
        result.index = (result.index + step) % len(result.hits)
        self._open_hit()

    # ------------------------------------------------------------------ sidebar, thread keys

    def action_sidebar(self) -> None:
        self.sidebar.toggle_class("-open")
        self.set_class(self.sidebar.is_open, "-sidebar")
        if self.sidebar.is_open:
            self._load_sidebar()

    def _load_sidebar(self) -> None:
        row = self.thread_row or self.conv_list.selected
        detail = (
            queries.contact(self.uapp.ws, row.contact_id, access=self.uapp.access) if row else None
        )
        extra = None
        if row is not None and row.channel_kind == "chat":
            from .chatlink import context_text

            team = self.uapp.team
            extra = context_text(
                self.uapp.ws, row.id, team.visitors if team else None, self.uapp.now()
            )
        self.sidebar.show(detail, row.id if row else None, extra)

    def visitor_changed(self, conversation_id: str) -> None:
        """A chat visitor came, went or moved to another page: their sidebar says so, and
        the composer open on their chat says where a reply goes now."""
        if not (self.thread_row and self.thread_row.id == conversation_id):
            return
        if self.sidebar.is_open:
            self._load_sidebar()
        if self.composer.is_open:
            self._chat_notice(conversation_id)

    @on(ContactSidebar.OpenConversation)
    def _open_past(self, event: ContactSidebar.OpenConversation) -> None:
        self.open_conversation(event.conversation_id)

    def action_edit_contact(self) -> None:
        row = self.target()
        if row is None:
            self._need()
            return
        detail = queries.contact(self.uapp.ws, row.contact_id, access=self.uapp.access)
        from .forms import ContactScreen  # a dialog: imported when first opened, not at start

        self.app.push_screen(
            ContactScreen(detail, is_unknown_visitor(detail)),
            lambda form: self._contact_saved(detail.id, form),
        )

    def _contact_saved(self, contact_id: str, form: ContactForm | None) -> None:
        me = self.uapp.me_id
        if form is None or not me:
            return
        identities = [(k, v) for k, v in (("email", form.email), ("phone", form.phone)) if v]
        self.run_command(  # one transaction: the fields and the identities, or nothing
            commands.save_contact,
            contact_id,
            name=form.name,
            company=form.company,
            notes=form.notes,
            identities=identities,
            actor=me,
            then=lambda _ids: self.notify("Contact saved.", markup=False, timeout=2),
        )

    def action_delivery(self) -> None:
        from . import delivery

        delivery.open_picker(self)

    def action_toggle_quotes(self) -> None:
        self.thread.toggle_quotes()
        if not self.thread.has_quotes():
            self.notify("No quoted history in this thread.", markup=False, timeout=2)

    def _keep_expanded(self, messages: list[queries.MessageRow]) -> list[queries.MessageRow]:
        """A refreshed thread keeps what `e` showed of its long bodies."""
        out = []
        for m in messages:
            wanted = self.thread.expanded.get(m.id, 0)
            if m.body_cut and len(m.body) < wanted:
                text, more = queries.message_text(
                    self.uapp.ws, m.id, wanted, access=self.uapp.access
                )
                m = replace(m, body=text, body_cut=more)
            out.append(m)
        return out

    def action_show_more(self) -> None:
        cut = self.thread.cut_messages()
        if not cut:
            self.notify("Every message here is shown whole.", markup=False, timeout=2)
            return
        # A bounded read (MORE_STEP characters more per message), like opening a thread.
        ws, access = self.uapp.ws, self.uapp.access
        self.thread.grow(
            {
                m.id: queries.message_text(ws, m.id, len(m.body) + MORE_STEP, access=access)
                for m in cut
            }
        )

    def action_attachments(self) -> None:
        from .pickers import Choice, PickerScreen

        items = [(m, a) for m in self.thread.messages for a in m.attachments]
        if not items:
            self.notify("No attachments in this thread.", markup=False)
            return
        choices = []
        for message, attachment in items:
            label = safe_line(attachment.filename, "bold", limit=80)
            label.append(f"  {size_label(attachment.size)} · ", style="dim")
            label.append_text(safe_line(message.author, "dim", limit=30))
            if not attachment.stored:
                label.append("  not stored", style="dim italic")
            choices.append(
                Choice(attachment, label, attachment.filename, disabled=not attachment.stored)
            )
        self.app.push_screen(PickerScreen("Attachments", choices), self._attachment_chosen)

    def _attachment_chosen(self, attachment: Any) -> None:
        from .pickers import Choice, PickerScreen

        if attachment is None:
            return
        if self.app.is_web:
            # The app runs on the hub's machine (`unibox hub --web`): its files and viewer
            # are the hub's, so the attachment goes to the agent's browser instead.
            what = [
                Choice("browser", Text("Open in this browser"), "browser"),
                Choice("download", Text("Download"), "download"),
            ]
        else:
            what = [
                Choice("open", Text("Open with the system viewer"), "open"),
                Choice("save", Text("Save to a path…"), "save"),
            ]
        self.app.push_screen(
            PickerScreen(f"{attachment.filename[:60]}", what),
            lambda how: self._attachment_action(attachment, how),
        )

    def _attachment_action(self, attachment: Any, how: str | None) -> None:
        from . import attachments
        from .pickers import PromptScreen

        if how in ("browser", "download"):
            self._deliver_attachment(attachment.id, how)
        elif how == "open" and not self.app.is_web:
            self._open_attachment(attachment.id)
        elif how == "save" and not self.app.is_web:
            self.app.push_screen(
                PromptScreen(
                    "Save to (a file or a folder)",
                    value=str(attachments.default_save_path(attachment.filename)),
                ),
                lambda path: self._save_attachment(attachment.id, path),
            )

    @work(thread=True, group="opener")
    def _deliver_attachment(self, attachment_id: str, how: str) -> None:
        """In the browser app: the attachment's bytes to the browser (textual-serve's
        download route on the hub), shown there or saved by it."""
        import io

        from . import attachments

        try:
            filename, data = queries.attachment_bytes(
                self.uapp.ws, attachment_id, access=self.uapp.access
            )
        except (OSError, UniboxError) as e:
            self.from_worker(self.notify, f"Cannot open it ({e}).", severity="error", markup=False)
            return
        self.from_worker(
            self.app.deliver_binary,
            io.BytesIO(data),
            save_filename=attachments.safe_filename(filename),
            open_method=how,
        )

    @work(thread=True, group="opener")
    def _open_attachment(self, attachment_id: str) -> None:
        from . import attachments

        try:
            path = attachments.open_with_system(
                self.uapp.ws, attachment_id, access=self.uapp.access
            )
        except (OSError, UniboxError) as e:
            self.from_worker(
                self.notify,
                f"Cannot open it ({e}); save it instead.",
                severity="error",
                markup=False,
            )
            return
        self.from_worker(self.notify, f"Opened {path}", markup=False, timeout=3)

    def _save_attachment(self, attachment_id: str, path: str | None) -> None:
        from . import attachments

        if not path:
            return
        try:
            saved = attachments.save(self.uapp.ws, attachment_id, path, access=self.uapp.access)
        except FileExistsError:
            self.notify(f"{path} exists; choose another name.", severity="error", markup=False)
            return
        except (OSError, UniboxError) as e:
            self.notify(f"Cannot save: {e}", severity="error", markup=False)
            return
        self.notify(f"Saved {saved}", markup=False)

    # ------------------------------------------------------------------ focus and views

    def _panes(self) -> list[Widget]:
        panes: list[Widget] = [self.views, self.conv_list, self.thread]
        if self.composer.is_open:
            panes.extend(self.composer.focusables())
        if self.sidebar.is_open:
            panes.append(self.sidebar.query_one("#past", OptionList))
        return [p for p in panes if p.display and p.parent and p.parent.display]

    def action_cycle_panes(self, step: int = 1) -> None:
        inside = self.composer.focusables() if self.composer.is_open else []
        if self.has_class("-narrow") and self.focused in inside:
            # Writing on a narrow screen: tab goes round the composer's fields and the thread
            # (the list is hidden behind the thread).
            ring: list[Widget] = [self.thread, *inside]
            at = ring.index(self.focused)  # type: ignore[arg-type]
            ring[(at + step) % len(ring)].focus()
            return
        if self.has_class("-narrow"):
            # On a narrow screen the thread replaces the list; tab flips between them.
            reading = not self.has_class("-reading")
            self.set_class(reading, "-reading")
            (self.thread if reading else self.conv_list).focus()
            return
        panes = [p for p in self._panes() if p.region.width > 0]
        if not panes:
            return
        current = next((i for i, p in enumerate(panes) if p is self.focused), -1)
        panes[(current + step) % len(panes)].focus()

    def action_back(self) -> None:
        if self.has_class("-reading"):
            self.remove_class("-reading")
        self.conv_list.focus()

    def action_jump_view(self, number: int) -> None:
        self.views.select_where(lambda entry: entry.slot == number)

    def action_jump_kind_view(self, kind: str) -> None:
        self.views.select_where(lambda entry: entry.kind == kind)

    def palette_allows(self, spec: actions.ActionSpec) -> bool:
        """Editor actions are offered while the editor is open, the rest always."""
        return actions.COMPOSER not in spec.scopes or self.composer.is_open
