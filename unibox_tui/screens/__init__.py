"""Screens of the agent TUI: the inbox, pickers, search, notifications, help."""
