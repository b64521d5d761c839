"""The thread: every message of a conversation, in order, as a Line API widget.

Each kind has its own look, so an agent can never mistake one for another:
- incoming (customer):  `◀` bar, the contact's name, channel and time
- outgoing (our reply): `▶` bar, "to the customer via <channel>", delivery state
- comment (internal):   a tinted block headed "INTERNAL NOTE — only your team sees this"
- activity:             one muted line ("Ana closed this")
Quoted history is folded behind `z`; attachments are listed under their message.
Messages are laid out into strips once per (width, quotes shown, theme) and then only
sliced, so scrolling costs nothing. A long thread is laid out newest first: the messages
that fill the screen (it opens at the end) synchronously, older ones in chunks between
frames, prepended with the view anchored; jumping to the top finishes the job at once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from rich._wrap import divide_line
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import actions
from ..core import clock
from ..core.mentions import find_mentions
from ..core.queries import ConversationRow, MessageRow
from ..core.search_query import find_terms
from .glyphs import ATTACHMENT, channel_name
from .line_api import ComponentStyles, PlainLines, empty_line, set_virtual_size
from .quoted import split_quoted
from .safe_text import safe, safe_line
from .scrollbar import QuietScrollBars

# A long body (a pasted log, a mail of megabytes) is read and shown only in part: its
# first LONG_BODY characters (queries.thread(body_limit=...)), and MORE_STEP more with each
# `e` (show_more). It is laid out in pieces of those sizes, each rendered once (~1 ms per
# 1,000 characters), so no message, whatever its size, makes opening, scrolling or showing
# more of a thread lag.
LONG_BODY = 20_000
MORE_STEP = 20_000
MAX_CACHED_BLOCKS = 300  # a couple of long threads; each block is a handful of strips
FIRST_SCREENS = 2  # laid out before the first frame: two screens of the newest messages
CHUNK = 25  # older messages laid out per step after that
BLOCK_STYLES = frozenset({"incoming", "outgoing", "comment", "activity", "empty"})
KIND_LABEL = {
    "incoming": "◀ ",
    "outgoing": "▶ ",
    "comment": "■ ",
}


def when(dt: datetime, now: datetime) -> str:
    """Message time in the agent's local zone: "10:42" today, else "3 Nov 10:42"."""
    local, today = dt.astimezone(), now.astimezone()
    if local.date() == today.date():
        stamp = local.strftime("%H:%M")
    elif local.year == today.year:
        stamp = f"{local.day} {local:%b %H:%M}"
    else:
        stamp = f"{local.day} {local:%b %Y %H:%M}"
    return f"{stamp} ({clock.age(dt, now)})"


def is_long(message: MessageRow) -> bool:
    return message.body_cut or len(message.body) > LONG_BODY


def pieces(body: str, cut: bool) -> list[tuple[int, int]]:
    """(start, end) of the pieces a long body is laid out in. Piece k ends near character
    LONG_BODY + k * MORE_STEP (where `e` loads to), at a line break when one is near (the
    break itself is between pieces), so a piece is the same whatever has been loaded after
    it and is rendered once: a `cut` body (the rest is not loaded) is always loaded up to
    such a mark."""
    bounds: list[tuple[int, int]] = []
    start, mark = 0, LONG_BODY
    while start < len(body):
        if cut and mark > len(body):
            break  # this piece is not loaded whole yet
        end = min(mark, len(body))
        if end < len(body) or cut:
            at = body.rfind("\n", start, end)
            if at > start + (end - start) // 2:
                end = at
        bounds.append((start, end))
        start = end + 1 if body[end : end + 1] == "\n" else end
        mark += MORE_STEP
    return bounds


def wrap(console: Console, text: Text, width: int, style: Style) -> list[Strip]:
    """`text` wrapped to `width` cells (words kept whole where they fit, folded where not),
    each line padded to the width, `style` under it."""
    if text.plain and not text.spans and not text.style:
        return _wrap_plain(console, text.plain, width, style)
    return _wrap_rich(console, text, width, style)


def _wrap_plain(console: Console, plain: str, width: int, style: Style) -> list[Strip]:
    """A plain text's lines as Rich wraps them (`_wrap_rich`), without Rich's Text for
    printable ASCII lines (one cell a character): a long body's piece is ~250 lines, and
    Rich's wrapping, a few µs a character, was most of the cost of opening a 5 MB message
    or showing more of it (~10 ms a piece; this ~2). The breaks are Rich's own
    (`divide_line`, folding a word longer than the width). Any other line goes to Rich,
    which wraps the lines of a text one by one too."""
    width = max(1, width)
    out: list[Strip] = []
    for line in plain.split("\n"):
        if not (line.isascii() and line.isprintable()):
            out += _wrap_rich(console, Text(line), width, style)
            continue
        if len(line) <= width:
            parts = [line]
        else:
            breaks = divide_line(line, width, fold=True)
            parts = [line[a:b] for a, b in zip([0, *breaks], [*breaks, len(line)], strict=True)]
        for part in parts:
            size = len(part)
            if size > width:  # spaces at a break (Rich drops those past the width)
                part, size = part[:width], width
            if size == 0:
                out.append(Strip([Segment(" " * width, style)], width))
            elif size == width:
                out.append(Strip([Segment(part, style)], width))
            else:
                pad = Segment(" " * (width - size), style)
                out.append(Strip([Segment(part, style), pad], width))
    return out


def _wrap_rich(console: Console, text: Text, width: int, style: Style) -> list[Strip]:
    options = console.options.update(width=max(1, width), height=None, no_wrap=False)
    text.overflow = "fold"
    rendered = console.render_lines(text, options, style=style, pad=True)
    return [Strip(line, width) for line in rendered]


def size_label(size: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


class ThreadView(QuietScrollBars, PlainLines, ScrollView, can_focus=True):
    BINDINGS = actions.bindings(actions.THREAD)
    COMPONENT_CLASSES = {
        "thread--incoming",
        "thread--incoming-bar",
        "thread--outgoing",
        "thread--outgoing-bar",
        "thread--comment",
        "thread--comment-bar",
        "thread--activity",
        "thread--header",
        "thread--meta",
        "thread--quote",
        "thread--mention",
        "thread--failed",
        "thread--empty",
        "thread--match",
    }
    DEFAULT_CSS = """
    ThreadView {
        overflow-x: hidden;
        /* Always a scrollbar: one appearing or vanishing would re-lay the whole screen. */
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
        & > .thread--incoming { background: $surface; }
        & > .thread--incoming-bar { color: $primary; }
        & > .thread--outgoing { background: $boost; }
        & > .thread--outgoing-bar { color: $success; }
        & > .thread--comment { background: $warning 15%; }
        & > .thread--comment-bar { color: $warning; }
        & > .thread--activity { color: $text-muted; text-style: italic; }
        & > .thread--header { text-style: bold; }
        & > .thread--meta { color: $text-muted; }
        & > .thread--quote { color: $text-muted; }
        & > .thread--mention { color: $warning; text-style: bold; }
        & > .thread--failed { color: $error; text-style: bold; }
        & > .thread--empty { color: $text-muted; text-style: italic; }
        & > .thread--match { color: $warning; text-style: bold reverse; }
    }
    """

    def __init__(self, now: Callable[[], datetime], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.now = now
        self.conversation: ConversationRow | None = None
        self.messages: list[MessageRow] = []
        self.show_quotes = False
        self.empty_text = "Select a conversation (j/k, enter)."
        self.expanded: dict[str, int] = {}  # message id -> characters loaded by show_more
        # Search terms marked in bodies ((word, is_prefix), core/search_query.py), until
        # another conversation is shown.
        self.marks: tuple[tuple[str, bool], ...] = ()
        # The message a search opened the thread at: a re-layout (the pane resizes as the
        # thread opens) lays everything out and returns to it, until the reader scrolls.
        self._anchor: int | None = None
        self._lines: list[Strip] = []
        self._layout_key: tuple[int, bool] | None = None
        self._laid_from = 0  # index of the oldest message whose block is in _lines
        self._generation = 0  # bumps with every new layout; stale steps stop
        # Rendered messages by (id, width, quotes shown, content): a live refresh or a
        # return to a thread re-renders only what changed.
        self._blocks: OrderedDict[tuple, list[Strip]] = OrderedDict()
        # Inline styles (meta, header, mention, ...) must not carry the widget's background
        # over a message block's own.
        self._style = ComponentStyles(self, "thread", lambda name: name not in BLOCK_STYLES)

    # ------------------------------------------------------------------ data

    def show(
        self, conversation: ConversationRow | None, messages: list[MessageRow], *, keep: bool
    ) -> None:
        """Show a thread. `keep`: the same conversation was refreshed, so keep the reading
        position (or stay at the end if the reader was there)."""
        at_end = self.scroll_y >= self.max_scroll_y - 1
        old_y = self.scroll_y
        if (conversation and conversation.id) != (self.conversation and self.conversation.id):
            self.expanded.clear()
            self.marks = ()
            self._anchor = None
        self.conversation, self.messages = conversation, messages
        self._invalidate()
        self._ensure_layout()
        if keep and not at_end:
            self.complete_layout()  # the reader is up in the history: all of it, now
            self.scroll_to(y=old_y, animate=False, immediate=True)
        else:
            self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def mark(self, terms: list[tuple[str, bool]], message_id: str | None = None) -> None:
        """Mark the words of a search in the bodies and scroll to the message `message_id`
        (the one a search result came from), else to the first message with a marked word."""
        self.marks = tuple(terms)
        self._invalidate()
        self.complete_layout()
        target = next((i for i, m in enumerate(self.messages) if m.id == message_id), None)
        if target is None and self.marks:
            target = next(
                (
                    i
                    for i, m in enumerate(self.messages)
                    if m.kind != "activity" and find_terms(m.body, list(self.marks))
                ),
                None,
            )
        self._anchor = target
        if target is not None:
            self.scroll_to(y=self.line_of(target), animate=False, immediate=True)
        self.refresh()

    def line_of(self, index: int) -> int:
        """The first line of message `index` (the layout is complete)."""
        if self._layout_key is None:
            return 0
        width, now = self._layout_key[0], self.now()
        blank = Strip.blank(width, self._style("base"))
        return sum(len(self._message_block(m, width, now, blank)) for m in self.messages[:index])

    def toggle_quotes(self) -> None:
        self.show_quotes = not self.show_quotes
        self._invalidate()
        self._ensure_layout()
        self.refresh()

    def cut_messages(self) -> list[MessageRow]:
        """Messages whose body is shown only in part."""
        return [m for m in self.messages if m.body_cut]

    def grow(self, longer: dict[str, tuple[str, bool]]) -> None:
        """Show more of long bodies: message id -> (a longer start of it, more follows).
        The reader stays where they were; the text grows below the cut."""
        self.messages = [
            replace(m, body=longer[m.id][0], body_cut=longer[m.id][1]) if m.id in longer else m
            for m in self.messages
        ]
        self.expanded.update((mid, len(text)) for mid, (text, _more) in longer.items())
        old_y = self.scroll_y
        self._invalidate()
        self.complete_layout()
        self.scroll_to(y=old_y, animate=False, immediate=True)
        self.refresh()

    @property
    def attachments(self) -> list[tuple[MessageRow, object]]:
        return [(m, a) for m in self.messages for a in m.attachments]

    def has_quotes(self) -> bool:
        return any(
            split_quoted(m.body)[1]
            for m in self.messages
            if m.kind != "activity" and not is_long(m)
        )

    # ------------------------------------------------------------------ scrolling

    def action_cursor_down(self) -> None:
        self._anchor = None
        self.scroll_to(y=self.scroll_y + 1, animate=False)

    def action_cursor_up(self) -> None:
        self._anchor = None
        self.scroll_to(y=self.scroll_y - 1, animate=False)

    def action_cursor_top(self) -> None:
        self._anchor = None
        self.complete_layout()
        self.scroll_home(animate=False, immediate=True)

    def action_cursor_bottom(self) -> None:
        self._anchor = None
        self.scroll_end(animate=False)

    def action_page_down(self) -> None:
        self._anchor = None
        self.scroll_to(y=self.scroll_y + max(1, self.size.height - 2), animate=False)

    def action_page_up(self) -> None:
        self._anchor = None
        self.scroll_to(y=self.scroll_y - max(1, self.size.height - 2), animate=False)

    # ------------------------------------------------------------------ layout

    def _invalidate(self) -> None:
        self._layout_key = None

    def on_resize(self) -> None:
        self._invalidate()
        self._ensure_layout()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style.clear()
        self._blocks.clear()
        self._invalidate()

    def _ensure_layout(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        key = (width, self.show_quotes)
        if key == self._layout_key or width <= 0:
            return
        self._layout_key = key
        self._generation += 1
        self._lines, self._laid_from = [], len(self.messages)
        self._prepend(width, min_lines=max(1, self.size.height) * FIRST_SCREENS)
        set_virtual_size(self, Size(width, len(self._lines)))
        if self._anchor is not None and self._anchor < len(self.messages):
            self.complete_layout()
            self.scroll_to(y=self.line_of(self._anchor), animate=False, immediate=True)
        elif self._laid_from > 0:
            self.set_timer(0.001, lambda g=self._generation: self._layout_step(g))

    def _layout_step(self, generation: int) -> None:
        """Lay out the next chunk of older messages, keeping the view where it is."""
        if generation != self._generation or self._layout_key is None or not self._laid_from:
            return
        width = self._layout_key[0]
        added = self._prepend(width, count=CHUNK)
        set_virtual_size(self, Size(width, len(self._lines)))
        self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True)
        self.refresh()
        if self._laid_from > 0:
            self.set_timer(0.001, lambda: self._layout_step(generation))

    def complete_layout(self) -> None:
        """Lay out every older message now (the reader wants the top of the thread)."""
        self._ensure_layout()
        if self._laid_from and self._layout_key is not None:
            width = self._layout_key[0]
            added = self._prepend(width, count=self._laid_from)
            set_virtual_size(self, Size(width, len(self._lines)))
            self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True)
            self.refresh()

    @property
    def laid_out(self) -> bool:
        return self._laid_from == 0

    def prerender(self, messages: list[MessageRow]) -> None:
        """Render the newest messages of a thread the agent is likely to open next (the
        row after the cursor) into the block cache, so showing it costs no rendering."""
        if self._layout_key is None:
            return
        width = self._layout_key[0]
        now = self.now()
        blank = Strip.blank(width, self._style("base"))
        lines, wanted = 0, max(1, self.size.height) * FIRST_SCREENS
        for message in reversed(messages):
            lines += len(self._message_block(message, width, now, blank))
            if lines >= wanted:
                break

    def render_lines(self, crop: Region) -> list[Strip]:
        self._ensure_layout()
        self._ensure_layout()  # again if a scrollbar came or went: the width changed
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        if self._batch_width is None:  # render_lines laid it out once for all its lines
            self._ensure_layout()
        width = self.line_width()
        index = self.scroll_offset.y + y
        base = self._style("base")
        if not self.messages:
            return empty_line(y, width, self.empty_text, self._style("empty"), base)
        if 0 <= index < len(self._lines):
            return self._lines[index].crop_extend(0, width, base)
        return Strip.blank(width, base)

    def _prepend(self, width: int, *, count: int = 0, min_lines: int = 0) -> int:
        """Lay out older messages (before `_laid_from`), newest first, until `count`
        messages or `min_lines` lines are done; returns the lines added at the top."""
        now = self.now()
        blank = Strip.blank(width, self._style("base"))
        blocks: list[list[Strip]] = []
        lines = done = 0
        while self._laid_from > 0 and (done < count or lines < min_lines):
            self._laid_from -= 1
            block = self._message_block(self.messages[self._laid_from], width, now, blank)
            blocks.append(block)
            lines += len(block)
            done += 1
        self._lines = [line for block in reversed(blocks) for line in block] + self._lines
        return lines

    def _message_block(
        self, message: MessageRow, width: int, now: datetime, blank: Strip
    ) -> list[Strip]:
        # Ages ("3h") are part of the block, so the age is part of the key. A long body is
        # known by its length (a message's text never changes; hashing megabytes on every
        # look-up would not do).
        key = (
            message.id,
            width,
            self.show_quotes,
            message.delivery_state,
            (len(message.body), message.body_cut) if is_long(message) else message.body,
            clock.age(message.created_at, now),
            self.marks,
        )
        block = self._blocks.get(key)
        if block is None:
            if message.kind == "activity":
                block = self._activity(message, width, now)
            else:
                block = [*self._block(message, width, now), blank]
            self._blocks[key] = block
            if len(self._blocks) > MAX_CACHED_BLOCKS:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(key)
        return block

    def _activity(self, message: MessageRow, width: int, now: datetime) -> list[Strip]:
        style = self._style("base") + self._style("activity")
        text = Text("  · ", style=style, overflow="fold")
        text.append_text(safe_line(message.body, limit=500))
        text.append(f" · {when(message.created_at, now)}")
        text.stylize(style)
        return [*self._wrap_text(text, width, style), Strip.blank(width, self._style("base"))]

    def _block(self, message: MessageRow, width: int, now: datetime) -> list[Strip]:
        kind = message.kind if message.kind in KIND_LABEL else "incoming"
        bg = self._style("base") + self._style(kind)
        bar = bg + self._style(f"{kind}-bar")
        meta = self._style("meta")
        text = Text(overflow="fold")
        text.append_text(self._header(message, now, bar))
        text.append("\n")
        long = pieces(message.body, message.body_cut) if is_long(message) else None
        # A long body: no quote folding (its end may not even be loaded).
        body, quoted = split_quoted(message.body) if long is None else ("", "")
        if long is None:
            text.append_text(self._body(message, body))
        if quoted:
            if self.show_quotes:
                text.append("\n")
                text.append_text(safe(quoted, self._style("quote")))
            else:
                lines = quoted.count("\n") + 1
                text.append(f"\n··· quoted history, {lines} lines (z shows it)", meta)
        if long is not None:
            strips = self._wrap_text(text[:-1], width - 2, bg)  # the header line
            for start, end in long:
                strips += self._piece(message, start, end, width - 2, bg)
            text = Text(overflow="fold")
            if message.body_cut:
                text.append("··· the message goes on (e shows more)", meta)
        for attachment in message.attachments:
            text.append(f"\n{ATTACHMENT} ", meta)
            text.append_text(safe_line(attachment.filename, limit=255))
            text.append(f" · {size_label(attachment.size)} · ", meta)
            text.append_text(safe_line(attachment.content_type, meta, limit=80))
            if not attachment.stored:
                text.append(" · ", meta)
                text.append_text(safe_line(attachment.note or "not stored", meta))
        if message.delivery_state == "failed":
            text.append("\n✗ not delivered: ", self._style("failed"))
            text.append_text(safe_line(message.delivery_error or "unknown error", limit=500))
            text.append(" · D sends it again", meta)
        elif message.delivery_state == "uncertain":
            text.append("\n? delivery uncertain: ", self._style("failed"))
            text.append_text(safe_line(message.delivery_error or "no answer", limit=500))
            text.append(" · D sends it again or marks it sent", meta)
        if long is None:
            strips = self._wrap_text(text, width - 2, bg)
        elif text.plain:  # the marker, attachments and delivery errors under the pieces
            strips += self._wrap_text(text[1:] if text.plain[0] == "\n" else text, width - 2, bg)
        edge = Segment("▌ ", bar)
        return [Strip([edge, *strip], width) for strip in strips]

    def _piece(
        self, message: MessageRow, start: int, end: int, width: int, bg: Style
    ) -> list[Strip]:
        """One piece of a long body, rendered once per width (show_more renders only the
        new piece)."""
        key = ("piece", message.id, width, start, end)
        strips = self._blocks.get(key)
        if strips is None:
            strips = self._blocks[key] = self._wrap_text(safe(message.body[start:end]), width, bg)
            if len(self._blocks) > MAX_CACHED_BLOCKS:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(key)
        return strips

    def _header(self, message: MessageRow, now: datetime, bar: Style) -> Text:
        head = self._style("header")
        meta = self._style("meta")
        text = Text()
        text.append(KIND_LABEL.get(message.kind, ""), bar)
        if message.kind == "comment":
            text.append("INTERNAL NOTE", bar + head)
            text.append(" — only your team sees this · ", meta)
            text.append_text(safe_line(message.author, head))
        elif message.kind == "outgoing":
            text.append_text(safe_line(message.author, head))
            text.append(f" → customer via {channel_name(message.channel_kind)}", meta)
        else:
            text.append_text(safe_line(message.author, head))
            text.append(f" · {channel_name(message.channel_kind)}", meta)
        text.append(f" · {when(message.created_at, now)}", meta)
        if message.kind == "outgoing" and message.delivery_state:
            state = message.delivery_state
            alarm = state in ("failed", "uncertain")
            text.append(f" · {state}", self._style("failed") if alarm else meta)
        tags = [f for f in message.flags if f]
        if tags:
            text.append(" · " + " ".join(tags), meta)
        return text

    def _body(self, message: MessageRow, body: str) -> Text:
        text = safe(body.strip("\n") or "(no text)")
        if self.marks:  # on the cleaned plain text: spans index what is shown
            match = self._style("match")
            for start, end in find_terms(text.plain, list(self.marks)):
                text.stylize(match, start, end)
        if message.kind == "comment":
            known = set(message.meta.get("mentions", []))
            style = self._style("mention")
            for start, end, handle in find_mentions(text.plain):
                if handle in known:
                    text.stylize(style, start, end)
        return text

    def _wrap_text(self, text: Text, width: int, style: Style) -> list[Strip]:
        return wrap(self.app.console, text, width, style)
