"""Unibox: a shared team inbox for support agents, in the terminal."""

import os

__version__ = "0.1.0"

# Textual paints at most TEXTUAL_FPS frames a second and a key's effect waits for the next
# frame. At 60 that wait alone is up to 16.7 ms; at 120 a `j` press reached the screen in
# 15.2 ms p95 instead of 19.3 ms on the 100k workspace (benchmarks/tui_bench.py). Set before
# Textual is imported (it reads the variable once); a user's own setting wins.
os.environ.setdefault("TEXTUAL_FPS", "120")
