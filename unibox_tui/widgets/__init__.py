"""Widgets of the agent TUI. They read through core.queries and never parse customer text
as markup (see safe_text.py)."""
