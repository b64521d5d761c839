"""Unibox: a shared team inbox for support agents, in the terminal."""

__version__ = "0.1.0"
