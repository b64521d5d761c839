"""ctrl+b in the reply editor: insert the agent's meeting link or a knowledge article, chosen
from a list filtered as you type (title, URL and text of the articles).

What is inserted is the link itself, as text: in an e-mail it is a link, and a chat reply
that holds an article's URL or a meeting link is sent with a card for the widget to draw
(commands/chatflows.link_card, applied by `reply`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from ..core import chatflow_queries as fq
from ..core.text import clean
from ..widgets.safe_text import safe_line
from .pickers import Choice, PickerScreen

if TYPE_CHECKING:
    from .inbox import InboxScreen


def link_choices(screen: InboxScreen) -> list[Choice[str]]:
    app = screen.uapp
    choices: list[Choice[str]] = []
    mine = fq.meeting_link(app.ws, app.me_id) if app.me_id else None
    if mine:
        label = Text("Meeting link", style="bold")
        label.append("  ")
        label.append_text(safe_line(mine, "dim", limit=60))
        choices.append(Choice(f"Book a time with me: {mine}", label, f"meeting link {mine}"))
    for article in fq.articles(app.ws):
        label = safe_line(article.title, "bold", limit=50)
        label.append("  ")
        label.append_text(safe_line(article.url, "dim", limit=50))
        text = f"{article.title}: {article.url}"
        choices.append(Choice(text, label, f"{article.title} {article.url} {article.body}"))
    return choices


def offer_links(screen: InboxScreen) -> None:
    """Open the picker; the chosen link goes into the editor at the cursor."""
    choices = link_choices(screen)
    if not choices:
        screen.notify(
            "No meeting link or articles yet: `unibox agent set HANDLE --meeting-link URL`, "
            "`unibox kb add TITLE --url URL`.",
            markup=False,
        )
        return

    def chosen(text: str | None) -> None:
        if text is None:
            screen.composer.editor.focus()
            return
        editor = screen.composer.editor
        row, col = editor.cursor_location
        before = editor.document.get_line(row)[:col]
        # A link glued to the word before it would no longer be the link.
        gap = " " if before and not before[-1].isspace() else ""
        screen.composer.insert(gap + clean(text))  # an article's title is someone's text

    screen.app.push_screen(
        PickerScreen("Insert a meeting link or an article", choices, placeholder="search…"),
        chosen,
    )
