"""Every key binding of the app, as data: the one registry help, the palette and keymaps read.

Each binding has an id; `config.toml` remaps it with `[keymap] id = "keys"` (comma-separated
keys), which Textual applies through `App.set_keymap`. A widget or screen takes its
`BINDINGS` from `bindings(scope)`, so adding a binding here is the whole job: help (`?`)
and the command palette list it without further code.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class ActionSpec:
    id: str
    keys: str  # default keys, comma-separated, Textual key names
    action: str  # the action string run on the scope's node
    description: str
    scopes: tuple[str, ...]
    show: bool = False  # in the footer
    priority: bool = False
    palette: bool = True  # offered by name in the command palette


# Scopes: where a binding lives. `app` on the App, `inbox` on the inbox screen, the others on
# the widget of that name (so j/k mean "move" in whichever pane has focus).
APP, INBOX, LIST, VIEWS, THREAD, COMPOSER = "app", "inbox", "list", "views", "thread", "composer"
MODAL, PICKER, FORM, NOTIFICATIONS = "modal", "picker", "form", "notifications"
SETTINGS = "settings"
REPORTS = "reports"
CHATFLOWS = "chatflows"
MOVE = (LIST, VIEWS, THREAD)

# The channel-kind views' default keys: shift+1 ... shift+6 on a US keyboard (`!` is
# `exclamation_mark` to Textual). Remap with `[keymap] view_whatsapp = "W"`.
KIND_VIEW_KEYS: tuple[tuple[str, str, str], ...] = (
    ("email", "exclamation_mark", "E-mail"),
    ("chat", "at", "Live chat"),
    ("messenger", "number_sign", "Messenger"),
    ("whatsapp", "dollar_sign", "WhatsApp"),
    ("form", "percent_sign", "Forms"),
    ("fallback", "circumflex_accent", "Forwarded"),
)

ACTIONS: tuple[ActionSpec, ...] = (
    # --- app
    ActionSpec("quit", "q", "quit", "Quit", (APP,), show=True),
    ActionSpec("help", "question_mark", "help", "Help: every key", (APP,), show=True),
    ActionSpec("palette", "ctrl+p", "command_palette", "Command palette", (APP,), priority=True),
    ActionSpec("notifications", "b", "notifications", "Notifications", (APP,)),
    ActionSpec(
        "availability",
        "w",
        "availability",
        "Available ⇄ away (routing skips you when away)",
        (APP,),
    ),
    ActionSpec(
        "settings", "comma", "settings", "Settings: agents, teams, inboxes, channels…", (APP,)
    ),
    ActionSpec("reports", "S", "reports", "Reports: volume, response times, busiest hours", (APP,)),
    # --- moving
    ActionSpec("cursor_down", "j,down", "cursor_down", "Down", MOVE, palette=False),
    ActionSpec("cursor_up", "k,up", "cursor_up", "Up", MOVE, palette=False),
    ActionSpec("cursor_top", "g,home", "cursor_top", "Top", MOVE, palette=False),
    ActionSpec("cursor_bottom", "G,end", "cursor_bottom", "Bottom", MOVE, palette=False),
    ActionSpec("page_down", "pagedown,ctrl+f", "page_down", "Page down", MOVE, palette=False),
    ActionSpec("page_up", "pageup,ctrl+b", "page_up", "Page up", MOVE, palette=False),
    ActionSpec("open", "enter", "open", "Open", (LIST, VIEWS), palette=False),
    ActionSpec(
        "select", "space,v", "toggle_select", "Select / unselect for a bulk action", (LIST,)
    ),
    ActionSpec("clear_selection", "escape", "clear_selection", "Clear the selection", (LIST,)),
    # --- inbox screen
    ActionSpec("cycle_panes", "tab", "cycle_panes", "Next pane", (INBOX,)),
    ActionSpec("cycle_panes_back", "shift+tab", "cycle_panes(-1)", "Previous pane", (INBOX,)),
    ActionSpec("back", "escape", "back", "Back to the list", (INBOX,), palette=False),
    ActionSpec("reply", "r", "reply", "Reply", (INBOX,), show=True),
    ActionSpec("reply_sender", "R", "reply_sender", "Reply to the sender only (no Cc)", (INBOX,)),
    ActionSpec("forward", "F", "forward", "Forward by e-mail…", (INBOX,)),
    ActionSpec("transcript", "T", "transcript", "Chat: e-mail the transcript…", (INBOX,)),
    ActionSpec(
        "next_conversation", "J", "step_conversation(1)", "Next conversation (reading)", (INBOX,)
    ),
    ActionSpec(
        "prev_conversation",
        "K",
        "step_conversation(-1)",
        "Previous conversation (reading)",
        (INBOX,),
    ),
    ActionSpec("comment", "c", "comment", "Internal comment", (INBOX,), show=True),
    ActionSpec("assign", "a", "assign", "Assign…", (INBOX,), show=True),
    ActionSpec("assign_me", "i", "assign_me", "Assign to me", (INBOX,)),
    ActionSpec("close", "x", "close", "Close", (INBOX,), show=True),
    ActionSpec("reopen", "o", "reopen", "Reopen", (INBOX,)),
    ActionSpec("snooze", "s", "snooze", "Snooze…", (INBOX,), show=True),
    ActionSpec("ticket", "t", "ticket", "Ticket…", (INBOX,)),
    ActionSpec("move", "m", "move", "Move to inbox…", (INBOX,)),
    ActionSpec("merge", "M", "merge", "Merge into…", (INBOX,)),
    ActionSpec("toggle_unread", "u", "toggle_unread", "Toggle unread", (INBOX,)),
    ActionSpec("select_all", "V", "select_all", "Select all in the view (bulk actions)", (INBOX,)),
    ActionSpec("tag", "l", "tag", "Tags: add / remove…", (INBOX,)),
    ActionSpec("undo", "ctrl+z", "undo", "Undo the last decision or sent reply", (INBOX,)),
    ActionSpec("search", "slash", "search", "Search", (INBOX,), show=True),
    ActionSpec("filter", "f", "filter", "Filter the list…", (INBOX,)),
    ActionSpec(
        "sort", "O", "sort", "Sort the list: newest, oldest waiting, customer, priority…", (INBOX,)
    ),
    ActionSpec("sidebar", "p", "sidebar", "Contact sidebar", (INBOX,)),
    ActionSpec("next_hit", "n", "next_hit", "Next search result", (INBOX,)),
    ActionSpec("prev_hit", "N", "prev_hit", "Previous search result", (INBOX,)),
    ActionSpec("toggle_quotes", "z", "toggle_quotes", "Show/hide quoted history", (INBOX,)),
    ActionSpec("show_more", "e", "show_more", "Show more of a long message", (INBOX,)),
    ActionSpec("attachments", "A", "attachments", "Attachments: open or save…", (INBOX,)),
    ActionSpec("edit_contact", "C", "edit_contact", "Create / edit contact…", (INBOX,)),
    ActionSpec(
        "delivery", "D", "delivery", "Undelivered reply: send again or mark sent…", (INBOX,)
    ),
    # 1-9 number the inboxes, fixed views and tags in the order the views pane shows them;
    # every channel kind has its own key (shift+digit), so no kind falls past 9 however
    # many inboxes there are.
    *(
        ActionSpec(f"view_{n}", str(n), f"jump_view({n})", f"Jump to view {n}", (INBOX,))
        for n in range(1, 10)
    ),
    *(
        ActionSpec(
            f"view_{kind}", key, f"jump_kind_view('{kind}')", f"Jump to the {label} view", (INBOX,)
        )
        for kind, key, label in KIND_VIEW_KEYS
    ),
    # --- reply / comment editor
    ActionSpec("send", "ctrl+s,ctrl+j", "send", "Send", (COMPOSER,), show=True),
    ActionSpec("cancel", "escape", "cancel", "Close the editor (draft kept)", (COMPOSER,)),
    ActionSpec("toggle_mode", "ctrl+r", "toggle_mode", "Reply ⇄ comment", (COMPOSER,)),
    ActionSpec("snippet", "ctrl+t", "snippet", "Insert snippet…", (COMPOSER,)),
    ActionSpec("switch_channel", "ctrl+o", "switch_channel", "Continue by e-mail", (COMPOSER,)),
    # ctrl+e wins over the text fields' own "end of line" (priority).
    ActionSpec(
        "external_editor",
        "ctrl+e",
        "external_editor",
        "Edit in $EDITOR",
        (COMPOSER,),
        priority=True,
    ),
    ActionSpec("files", "ctrl+l", "files", "E-mail: attach / remove files…", (COMPOSER,)),
    ActionSpec(
        "next_from", "ctrl+f", "next_from", "E-mail: send from another address", (COMPOSER,)
    ),
    ActionSpec(
        "toggle_quote", "ctrl+g", "toggle_quote", "E-mail: quote the message on/off", (COMPOSER,)
    ),
    ActionSpec(
        "insert_link",
        "ctrl+b",
        "insert_link",
        "Insert meeting link or knowledge article…",
        (COMPOSER,),
    ),
    ActionSpec("template", "ctrl+n", "template", "Send a WhatsApp template…", (COMPOSER,)),
    # --- dialogs (pickers, forms, search, notifications, help)
    ActionSpec("dismiss", "escape", "dismiss_none", "Close", (MODAL, PICKER, FORM), palette=False),
    ActionSpec(
        "picker_down", "down,ctrl+n", "picker_down", "Next choice", (PICKER,), palette=False
    ),
    ActionSpec("picker_up", "up", "picker_up", "Previous choice", (PICKER,), palette=False),
    ActionSpec("save", "ctrl+s", "save", "Save", (FORM,), show=True, palette=False),
    ActionSpec("read_all", "R", "read_all", "Mark all read", (NOTIFICATIONS,), show=True),
    # j / k in the list dialogs, as in the inbox (their lists take the arrows themselves)
    ActionSpec(
        "list_down",
        "j",
        "list_cursor(1)",
        "Down",
        (NOTIFICATIONS, SETTINGS, CHATFLOWS),
        palette=False,
    ),
    ActionSpec(
        "list_up",
        "k",
        "list_cursor(-1)",
        "Up",
        (NOTIFICATIONS, SETTINGS, CHATFLOWS),
        palette=False,
    ),
    # --- settings
    ActionSpec("settings_add", "n", "add", "Add…", (SETTINGS,), show=True),
    ActionSpec("settings_edit", "e", "edit", "Edit…", (SETTINGS,), show=True),
    ActionSpec(
        "settings_remove", "d,delete", "remove", "Remove / deactivate…", (SETTINGS,), show=True
    ),
    ActionSpec(
        "settings_toggle", "space", "toggle_channel", "Enable / disable", (SETTINGS,), show=True
    ),
    ActionSpec("settings_next", "right,l", "section(1)", "Next section", (SETTINGS,)),
    ActionSpec("settings_prev", "left,h", "section(-1)", "Previous section", (SETTINGS,)),
    # --- reports
    ActionSpec(
        "reports_range", "d", "next_range", "Range: 7 / 30 / 90 / 180 days", (REPORTS,), show=True
    ),
    ActionSpec("reports_inbox", "i", "next_inbox", "Next inbox", (REPORTS,), show=True),
    ActionSpec("reports_back", "escape", "back", "Back to the inbox", (REPORTS,), show=True),
    # --- chatflows
    ActionSpec(
        "chatflow_toggle", "space", "toggle", "Enable / disable chatflow", (CHATFLOWS,), show=True
    ),
)

SPECS: dict[str, ActionSpec] = {spec.id: spec for spec in ACTIONS}


def bindings(scope: str) -> list[BindingType]:
    """The Textual bindings of one scope, each with its registry id."""
    return [
        Binding(
            spec.keys,
            spec.action,
            spec.description,
            show=spec.show,
            priority=spec.priority,
            id=spec.id,
        )
        for spec in ACTIONS
        if scope in spec.scopes
    ]


def specs(scopes: tuple[str, ...]) -> list[ActionSpec]:
    """Specs of any of the scopes, in registry order (for help and the palette)."""
    return [spec for spec in ACTIONS if any(s in spec.scopes for s in scopes)]


def keys_for(spec: ActionSpec, keymap: dict[str, str]) -> str:
    """The keys a binding has now: the keymap's, else the default."""
    return keymap.get(spec.id, spec.keys)


def check_keymap(keymap: dict[str, str]) -> list[str]:
    """Ids in a user keymap that no binding has (so a typo is reported, not ignored)."""
    return sorted(set(keymap) - set(SPECS))
