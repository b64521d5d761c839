"""Customer text to Rich `Text`: the one way anything a customer wrote reaches the screen.

`core.text.clean` removes control characters and escape sequences; the result becomes a
`Text` object directly, so `[bold red]` or `[link=...]` in a name, subject, body, file name
or search snippet is shown as those characters and never interpreted as markup.
"""

from __future__ import annotations

from rich.style import Style, StyleType
from rich.text import Text

from ..core.text import clean, one_line


def safe(value: str | None, style: StyleType = "") -> Text:
    """Multi-line customer text (bodies, notes)."""
    return Text(clean(value), style=style)


def safe_line(value: str | None, style: StyleType = "", limit: int = 300) -> Text:
    """Customer text folded onto one line (names, subjects, previews, file names)."""
    return Text(one_line(value, limit), style=style)


def fit(text: Text, width: int) -> Text:
    """Exactly `width` cells: cut with an ellipsis, or padded with spaces."""
    if width <= 0:
        return Text()
    out = text.copy()
    out.truncate(width, overflow="ellipsis", pad=True)
    return out


def highlighted(value: str, spans: list[tuple[int, int]], style: Style | str) -> Text:
    """A cleaned snippet with match spans styled (spans index into the cleaned string; the
    search snippet holds no control characters, so clean() keeps positions)."""
    text = Text(clean(value))
    for start, end in spans:
        text.stylize(style, start, end)
    return text
