"""Where a message's own text ends and the quoted history below it begins."""

from __future__ import annotations

import re

# Attribution lines mail clients put above the quoted message, in a few languages.
_ATTRIBUTION = re.compile(
    r"""^(
        on\ .{3,300}\ wrote:
      | am\ .{3,300}\ schrieb\ .{1,200}:
      | le\ .{3,300}\ a\ écrit\ ?:
      | el\ .{3,300}\ escribió:
      | em\ .{3,300}\ escreveu:
      | -{2,}\ ?(original\ message|forwarded\ message|mensaje\ original|ursprüngliche\ nachricht)\ ?-{2,}
      | _{10,}
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


def _is_quote_start(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if _ATTRIBUTION.match(line):
        return True
    # "On Mon, 3 Nov 2025 at 10:00, Ana <ana@x>" + "wrote:" wrapped onto the next line.
    if i + 1 < len(lines) and line.lower().startswith("on ") and lines[i + 1].strip() == "wrote:":
        return True
    # A block of "> " lines that runs to the end of the message.
    if line.startswith(">"):
        return all(not rest.strip() or rest.lstrip().startswith(">") for rest in lines[i:])
    return False


def split_quoted(body: str) -> tuple[str, str]:
    """(own text, quoted history). A message that is all quote keeps it as its own text, so
    nothing is ever hidden behind an empty message."""
    lines = body.split("\n")
    for i in range(len(lines)):
        if _is_quote_start(lines, i):
            head = "\n".join(lines[:i]).rstrip()
            if head:
                return head, "\n".join(lines[i:]).strip("\n")
            return body, ""
    return body, ""
