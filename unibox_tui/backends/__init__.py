"""Channel adapters: one package per channel kind. No UI and no SQL of their own.

An adapter turns a channel's wire format into plain data (e.g. `email.mime.ParsedEmail`)
and back; the engine (unibox_tui/engine.py) turns that data into core commands.
"""
