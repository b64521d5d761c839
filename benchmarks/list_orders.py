"""The list's orders at scale (issue 16: "sort: oldest waiting first, by last customer
message, by ticket priority"; the list's `O` key, core/list_order.py).

    .venv/bin/python benchmarks/list_orders.py --db /tmp/tui100.db [--runs 30]

For each order and view, as an agent who sees everything: the list widget's first page and a
deep page (`rows_at`, PAGE rows, what a scroll or `G` fetches), a row's position (`index_of`,
what opening a conversation from search or a notification runs to move the cursor) and
"select all" (`ids_in_view`, 1,000 ids). Prints one JSON document with p50/p95 per figure
and the worst p95 of the pages. The default order (newest activity first) is there to
compare: it walks an index, the others sort the view's rows.
Build the demo first:
`.venv/bin/unibox demo --conversations 100000 --generate-only --db /tmp/tui100.db`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import timings

from unibox_tui.core import queries as q
from unibox_tui.core.db import open_workspace
from unibox_tui.core.list_order import ORDERS
from unibox_tui.widgets.conversation_list import PAGE

VIEWS = ("open", "unassigned", "kind:email", "all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    ws = open_workspace(args.db)
    access = q.reader(ws, None)
    out: dict = {"load_avg": os.getloadavg(), "page_rows": PAGE, "orders": {}}
    worst = 0.0
    for key in ORDERS:
        per_view: dict = {}
        for view_key in VIEWS:
            v = q.sorted_by(q.view(view_key, ws=ws, access=access), key)
            with ws.read() as conn:
                total = q.count_on(conn, v)[0]
                deep = max(0, min(20_000, total - PAGE))
                middle = q.rows_at(conn, v, total // 2, 1)[0]

                def page(offset: int, v: q.View = v) -> object:
                    with ws.read() as c:
                        return q.rows_at(c, v, offset, PAGE)

                def position(v: q.View = v, row: q.ConversationRow = middle) -> object:
                    with ws.read() as c:
                        return q.index_of(c, v, row)

                def select_all(v: q.View = v) -> object:
                    with ws.read() as c:
                        return q.ids_in_view(c, v, 1000)

            figures = {
                "rows": total,
                "first_page": timings(lambda: page(0), args.runs),
                f"page_at_{deep}": timings(lambda deep=deep: page(deep), args.runs),
                "index_of_middle_row": timings(position, args.runs),
                "select_all_1000": timings(select_all, args.runs),
            }
            worst = max(
                worst, figures["first_page"]["p95_ms"], figures[f"page_at_{deep}"]["p95_ms"]
            )
            per_view[v.label] = figures
        out["orders"][ORDERS[key].label] = per_view
    out["worst_page_p95_ms"] = worst
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
