"""Chatflows: the TOML check (line-numbered errors), targeting and priority, the bot runner
(branching, validation, contact properties, tickets, hand-off), the session timeout and the
bot report."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.conftest import Team, later
from unibox_tui.core import chatflow_queries as fq
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.chatflows import TEMPLATE, ChatflowError, Context, matches, parse
from unibox_tui.core.errors import InvalidRequest, NoAccess

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases

BOT = """\
type = "bot"
bot_name = "Unibot"
welcome = "Hi there!"
session_timeout_minutes = 30

[[steps]]
id = "topic"
type = "question"
text = "What can we help with?"
options = ["Billing", "Bug"]

[[steps]]
type = "branch"
on = "topic"
cases = [{ equals = "Billing", goto = "email" }]
otherwise = "doc"

[[steps]]
id = "doc"
type = "article"
article = "Reset your password"
text = "This may help:"
next = "bye"

[[steps]]
id = "email"
type = "question"
text = "Your e-mail?"
validate = "email"
property = "email"

[[steps]]
id = "company"
type = "set_property"
property = "company"
value = "Asked about {{answers.topic}}"

[[steps]]
id = "ticket"
type = "ticket"
title = "Billing: {{answers.email}}"
priority = "high"

[[steps]]
id = "human"
type = "handoff"
to = "agent:bo"
text = "Passing you to Bo."

[[steps]]
id = "bye"
type = "end"
text = "Bye!"
"""


@pytest.fixture(autouse=True)
def ana_is_admin(request: pytest.FixtureRequest) -> None:
    if "team" in request.fixturenames:
        cmd.set_agent(request.getfixturevalue("team").ws, "ana", role="admin")


def error_of(text: str) -> str:
    with pytest.raises(ChatflowError) as e:
        parse(text)
    return str(e.value)


# ------------------------------------------------------------------------- the check


def test_the_template_is_a_valid_chatflow() -> None:
    spec = parse(TEMPLATE)
    assert spec["type"] == "bot" and [s["type"] for s in spec["steps"]][:2] == [
        "question",
        "branch",
    ]


def test_a_syntax_error_names_its_line() -> None:
    assert error_of('type = "bot"\npriority = \n').startswith("line 2: ")
    # tomllib says "at end of document" for some: the last line
    assert error_of('type = "bot"\ntype = "bot"').startswith("line 2: Cannot overwrite")
    assert error_of('type = "bot"\nwelcome = "hi').startswith("line 2: Unterminated string")


def test_semantic_errors_name_the_line_of_the_key() -> None:
    lines = BOT.splitlines()
    at = next(i for i, line in enumerate(lines, 1) if line.startswith('validate = "email"'))
    bad = BOT.replace('validate = "email"', 'validate = "emial"')
    assert error_of(bad).startswith(f"line {at}: `validate` must be one of 'email'")
    # an unknown key, with a suggestion
    at = next(i for i, line in enumerate(lines, 1) if line.startswith("welcome"))
    message = error_of(BOT.replace("welcome =", "welcom ="))
    assert message.startswith(f"line {at}: unknown key 'welcom'") and "'welcome'" in message
    # a jump to a step that does not exist
    at = next(i for i, line in enumerate(lines, 1) if line.startswith('next = "bye"'))
    assert error_of(BOT.replace('next = "bye"', 'next = "byee"')).startswith(
        f"line {at}: `next` goes to 'byee'"
    )
    # a branch on an answer no question saves
    at = next(i for i, line in enumerate(lines, 1) if line.startswith('on = "topic"'))
    assert error_of(BOT.replace('on = "topic"', 'on = "topik"')).startswith(f"line {at}: ")
    # a bad regular expression
    text = 'type = "live_chat"\n\n[target]\nurl_matches = "(unclosed"\n'
    assert error_of(text).startswith("line 4: `url_matches` '(unclosed' is not a regular")
    # the second step's error is located in the second [[steps]] table
    text = 'type = "bot"\n[[steps]]\ntype = "message"\ntext = "a"\n[[steps]]\ntype = "mesage"\n'
    assert error_of(text).startswith("line 6: `type` must be one of")
    assert error_of("priority = 1\n").startswith("line 1: a chatflow needs `type")


def test_names_are_checked_against_the_workspace_on_save(team: Team) -> None:
    with pytest.raises(ChatflowError, match="no knowledge article 'Reset your password'"):
        cmd.save_chatflow(team.ws, "Bot", BOT, channel=team.chat, actor="ana")
    cmd.save_article(team.ws, "Reset your password", "https://help.example/reset", actor="bo")
    bad = BOT.replace('to = "agent:bo"', 'to = "agent:nobody"')
    with pytest.raises(ChatflowError, match=r"^line \d+: no agent 'nobody'"):
        cmd.save_chatflow(team.ws, "Bot", bad, channel=team.chat, actor="ana")
    with pytest.raises(NoAccess, match="only an admin"):
        cmd.save_chatflow(team.ws, "Bot", BOT, channel=team.chat, actor="bo")
    with pytest.raises(InvalidRequest, match="chatflows run on chat"):
        cmd.save_chatflow(team.ws, "Bot", BOT, channel=team.email, actor="ana")
    assert fq.chatflows(team.ws) == []
    cmd.save_chatflow(team.ws, "Bot", BOT, channel=team.chat, actor="ana")
    row = fq.chatflow(team.ws, "bot")
    assert (row.kind, row.source, row.spec["steps"][0]["options"]) == (
        "bot",
        BOT,
        ["Billing", "Bug"],
    )


# ------------------------------------------------------------------------- targeting


def test_targeting_rules() -> None:
    page = "https://shop.example/help/returns?utm_source=ads"

    def hit(target: dict, url: str = page, returning: bool = False) -> bool:
        return matches(target, Context(url=url, returning=returning))

    assert hit({})
    assert hit({"url_is": ["https://shop.example/help/returns"]})
    assert not hit({"url_is": ["https://shop.example/help"]})
    assert hit({"url_contains": ["/nope", "/help"]})
    assert hit({"url_starts_with": ["https://shop.example/help/"]})
    assert not hit({"url_starts_with": ["https://other.example/"]})
    assert hit({"url_matches": [r"/help/(returns|refunds)"]})
    assert hit({"query": {"utm_source": "ads"}}) and hit({"query": {"utm_source": "*"}})
    assert not hit({"query": {"utm_source": "mail"}}) and not hit({"query": {"ref": "*"}})
    assert hit({"visitor": "new"}) and not hit({"visitor": "returning"})
    assert hit({"visitor": "returning"}, returning=True)
    # every rule given must hold
    assert not hit({"url_contains": ["/help"], "visitor": "returning"})


def test_the_highest_priority_of_the_matching_enabled_chatflows_wins(team: Team) -> None:
    def flow(name: str, priority: int, target: str) -> None:
        text = (
            f'type = "live_chat"\npriority = {priority}\nwelcome = "{name}"\n[target]\n{target}\n'
        )
        cmd.save_chatflow(team.ws, name, text, channel=team.chat, actor="ana")

    flow("Everywhere", 0, "")
    flow("Pricing", 5, 'url_contains = "/pricing"')
    flow("Pricing ads", 9, 'url_contains = "/pricing"\nquery = { utm_source = "ads" }')

    def chosen(url: str, returning: bool = False) -> str | None:
        row = fq.choose_chatflow(team.ws, team.chat, Context(url=url, returning=returning))
        return row.name if row else None

    assert chosen("https://x.example/") == "Everywhere"
    assert chosen("https://x.example/pricing") == "Pricing"
    assert chosen("https://x.example/pricing?utm_source=ads") == "Pricing ads"
    cmd.set_chatflow_enabled(team.ws, "Pricing ads", False, actor="ana")
    assert chosen("https://x.example/pricing?utm_source=ads") == "Pricing"
    assert fq.choose_chatflow(team.ws, team.messenger, Context(url="https://x.example/")) is None


# ------------------------------------------------------------------------- the runner


def chat(team: Team, body: str, at_minute: int = 0) -> str:
    return team.start(
        body, channel=team.chat, kind="chat", who="visitor-1", name="Visitor", at=later(at_minute)
    )


def say(team: Team, conv: str, body: str, minute: int) -> None:
    cmd.ingest(
        team.ws,
        team.incoming(
            body, channel=team.chat, kind="chat", who="visitor-1", name="Visitor", at=later(minute)
        ),
    )


@pytest.fixture
def bot(team: Team) -> str:
    cmd.save_article(team.ws, "Reset your password", "https://help.example/reset", actor="bo")
    return cmd.save_chatflow(team.ws, "Support bot", BOT, channel=team.chat, actor="ana")


def thread(team: Team, conv: str) -> list[tuple[str, str, str]]:
    return [(m.kind, m.author, m.body) for m in q.thread(team.ws, conv, access=EVERYTHING)]


def test_opening_is_what_the_widget_shows_before_the_visitor_writes(team: Team, bot: str) -> None:
    opening = fq.opening(team.ws, fq.chatflow(team.ws, bot))
    assert opening.author == "Unibot"
    assert opening.messages == [
        {"body": "Hi there!", "meta": {}},
        {"body": "What can we help with?", "meta": {"quick_replies": ["Billing", "Bug"]}},
    ]


def test_a_bot_branches_validates_sets_properties_opens_a_ticket_and_hands_off(
    team: Team, bot: str
) -> None:
    conv = chat(team, "billing")  # answers the opening's question ("billing" = "Billing")
    turn = cmd.bot_turn(team.ws, conv, "billing", later(0), chatflow_id=bot)
    assert (turn.status, turn.waiting_step) == ("active", "email")
    assert [m.body for m in turn.messages] == [
        "Hi there!",
        "What can we help with?",
        "Your e-mail?",
    ]
    assert turn.messages[1].meta == {"quick_replies": ["Billing", "Bug"]}
    # The opening reads before the visitor's message, as they saw it.
    assert thread(team, conv)[:4] == [
        ("outgoing", "Unibot (bot)", "Hi there!"),
        ("outgoing", "Unibot (bot)", "What can we help with?"),
        ("incoming", "Visitor", "billing"),
        ("outgoing", "Unibot (bot)", "Your e-mail?"),
    ]
    # A bad e-mail address is asked again; nothing else happens.
    say(team, conv, "carla at example", 1)
    turn = cmd.bot_turn(team.ws, conv, "carla at example", later(1))
    assert [m.body for m in turn.messages] == [
        "That doesn't look like an e-mail address. Your e-mail?"
    ]
    assert turn.waiting_step == "email"
    say(team, conv, "Carla@Example.org", 2)
    turn = cmd.bot_turn(team.ws, conv, "Carla@Example.org", later(2))
    assert (turn.status, turn.handed_off_to, turn.assignee_id) == (
        "handed_off",
        "agent:bo",
        team.bo,
    )
    assert [m.body for m in turn.messages] == ["Passing you to Bo."]
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.assignee, row.waiting, row.unread) == ("bo", True, True)
    # The contact got the e-mail identity and the company; the ticket its title.
    with team.ws.read() as conn:
        contact_id = conn.exec_driver_sql(
            "SELECT contact_id FROM conversation WHERE id = ?", (conv,)
        ).scalar()
        assert conn.exec_driver_sql(
            "SELECT kind, value FROM contact_identity WHERE contact_id = ? ORDER BY kind",
            (contact_id,),
        ).all() == [("chat", "visitor-1"), ("email", "carla@example.org")]
        assert (
            conn.exec_driver_sql("SELECT company FROM contact WHERE id = ?", (contact_id,)).scalar()
            == "Asked about Billing"
        )
        assert conn.exec_driver_sql(
            "SELECT t.title, t.priority FROM ticket t JOIN conversation c ON c.ticket_id = t.id "
            "WHERE c.id = ?",
            (conv,),
        ).first() == ("Billing: Carla@Example.org", "high")
        # Bot messages leave through the outbox like replies.
        queued = conn.exec_driver_sql(
            "SELECT count(*) FROM outbox o JOIN message m ON m.id = o.message_id "
            "WHERE m.conversation_id = ? AND m.author_bot = 'Unibot'",
            (conv,),
        ).scalar()
    assert queued == 5
    # The session is over: later messages are the agents'.
    say(team, conv, "hello?", 3)
    assert cmd.bot_turn(team.ws, conv, "hello?", later(3)).messages == []
    stats = fq.bot_stats(team.ws, bot)
    assert (stats.started, stats.completed, stats.handed_off, stats.abandoned) == (1, 0, 1, 0)
    assert dict(stats.steps) == {
        "topic": 1,
        "step-2": 1,
        "doc": 0,
        "email": 1,
        "company": 1,
        "ticket": 1,
        "human": 1,
        "bye": 0,
    }


def test_the_other_branch_offers_an_article_card_and_completes(team: Team, bot: str) -> None:
    conv = chat(team, "2")  # the second option, by its number
    turn = cmd.bot_turn(team.ws, conv, "2", later(0), chatflow_id=bot)
    assert turn.status == "completed"
    card = turn.messages[2]
    assert card.meta == {
        "card": {"title": "Reset your password", "url": "https://help.example/reset"}
    }
    assert card.body == "This may help:\nReset your password: https://help.example/reset"
    assert turn.messages[-1].body == "Bye!"
    with team.ws.read() as conn:
        meta = conn.exec_driver_sql("SELECT meta FROM message WHERE id = ?", (card.id,)).scalar()
    assert json.loads(meta)["card"]["url"] == "https://help.example/reset"
    stats = fq.bot_stats(team.ws, bot)
    assert (stats.started, stats.completed, stats.handed_off) == (1, 1, 0)


def test_an_option_that_is_not_offered_is_asked_again(team: Team, bot: str) -> None:
    conv = chat(team, "hello")
    turn = cmd.bot_turn(team.ws, conv, "hello", later(0), chatflow_id=bot)
    assert turn.waiting_step == "topic"
    assert turn.messages[-1].body == "Please choose one of: Billing, Bug."
    assert turn.messages[-1].meta == {"quick_replies": ["Billing", "Bug"]}


def test_an_agent_taking_the_conversation_ends_the_bot(team: Team, bot: str) -> None:
    conv = chat(team, "hello")
    cmd.bot_turn(team.ws, conv, "hello", later(0), chatflow_id=bot)
    cmd.assign(team.ws, conv, "ana", actor="ana")
    say(team, conv, "Billing", 1)
    turn = cmd.bot_turn(team.ws, conv, "Billing", later(1))
    assert (turn.status, turn.messages) == ("handed_off", [])


def test_an_idle_session_is_closed_as_abandoned(team: Team, bot: str) -> None:
    conv = chat(team, "Billing")
    cmd.bot_turn(team.ws, conv, "Billing", later(0), chatflow_id=bot)
    assert cmd.expire_bot_sessions(team.ws, later(29)) == []
    assert cmd.expire_bot_sessions(team.ws, later(30) + timedelta(seconds=1)) == [conv]
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert row.status == "closed"
    assert thread(team, conv)[-1] == (
        "activity",
        "Unibox",
        "Unibot closed this: no answer for 30 min",
    )
    stats = fq.bot_stats(team.ws, bot)
    assert (stats.started, stats.abandoned, stats.active) == (1, 1, 0)
    with team.ws.read() as conn:  # where they dropped off
        assert (
            conn.exec_driver_sql(
                "SELECT step_id FROM chatflow_event WHERE kind = 'abandoned'"
            ).scalar()
            == "email"
        )
    assert cmd.expire_bot_sessions(team.ws, later(90)) == []  # once


def test_a_live_chat_writes_its_welcome_once_and_routes(team: Team) -> None:
    text = (
        'type = "live_chat"\nwelcome = "Hello! We reply in minutes."\n[routing]\nto = "agent:cy"\n'
    )
    flow = cmd.save_chatflow(team.ws, "Live", text, channel=team.chat, actor="ana")
    conv = chat(team, "hi")
    turn = cmd.bot_turn(team.ws, conv, "hi", later(0), chatflow_id=flow)
    assert [m.body for m in turn.messages] == ["Hello! We reply in minutes."]
    # Support is open to everyone: cy, named by the routing, gets it.
    assert turn.assignee_id == team.cy
    again = cmd.bot_turn(team.ws, conv, "hi", later(0), chatflow_id=flow)
    assert again.messages == []
    assert fq.bot_stats(team.ws, flow).started == 0  # live chats are not in the bot report


def test_the_engines_tick_closes_idle_bot_sessions(team: Team, bot: str) -> None:
    import asyncio

    from unibox_tui.engine import Engine

    conv = chat(team, "Billing")
    cmd.bot_turn(team.ws, conv, "Billing", later(0), chatflow_id=bot)
    for channel in (team.email, team.sales_email):  # the fixture's have no server settings
        cmd.set_channel_enabled(team.ws, channel, False)
    with Engine(team.ws, now=lambda: later(45), use_lock=False) as engine:
        asyncio.run(engine.run_once())
    assert q.conversation(team.ws, conv, access=EVERYTHING).status == "closed"
    assert fq.bot_stats(team.ws, bot).abandoned == 1


def test_a_chat_reply_with_an_article_or_meeting_link_carries_a_card(team: Team) -> None:
    cmd.save_article(team.ws, "Refunds", "https://help.example/refunds", actor="bo")
    cmd.set_agent(team.ws, "ana", meeting_link="https://cal.example/ana", actor="ana")
    conv = chat(team, "hello")

    def meta_of(message_id: str) -> dict:
        with team.ws.read() as conn:
            row = conn.exec_driver_sql("SELECT meta FROM message WHERE id = ?", (message_id,))
            return json.loads(row.scalar())

    sent = cmd.reply(team.ws, conv, "See https://help.example/refunds.", actor="ana")
    assert meta_of(sent)["card"] == {"title": "Refunds", "url": "https://help.example/refunds"}
    sent = cmd.reply(team.ws, conv, "Book: https://cal.example/ana", actor="ana")
    assert meta_of(sent)["card"] == {
        "title": "Book a meeting with Ana Lima",
        "url": "https://cal.example/ana",
    }
    assert "card" not in meta_of(cmd.reply(team.ws, conv, "no link here", actor="ana"))
    mail = team.start("Where is my refund?")
    sent = cmd.reply(team.ws, mail, "See https://help.example/refunds", actor="ana")
    assert "card" not in meta_of(sent)  # e-mail: the link is the link


def test_chatflows_articles_sessions_and_events_reach_every_agents_cache(
    team: Team, bot: str
) -> None:
    from unibox_tui.core.changes import changes_since

    conv = chat(team, "Billing")
    cmd.bot_turn(team.ws, conv, "Billing", later(0), chatflow_id=bot)
    page = changes_since(team.ws, "0", team.bo, 100_000)
    tables = {c["table"] for c in page.changes if "row" in c}
    assert {"chatflow", "kb_article", "bot_session", "chatflow_event"} <= tables
    bot_row = next(
        c["row"] for c in page.changes if c["table"] == "message" and c["row"]["author_bot"]
    )
    assert bot_row["author_bot"] == "Unibot"
    cmd.remove_article(team.ws, "Reset your password", actor="bo")
    page = changes_since(team.ws, str(page.head), team.bo, 100_000)
    assert [c["table"] for c in page.changes if "deleted" in c] == ["kb_article"]


def test_any_broken_text_is_refused_with_a_line_never_a_crash() -> None:
    """Lines of the example deleted, values swapped for other types, stray tables added:
    always a ChatflowError that names a line."""
    import random

    rng = random.Random(7)
    values = ["5", '"x"', "[1]", '["a"]', "{a = 1}", "true", "1.5", '"agent:"', '"(("', '""']
    extra = ["[[steps]]", "[target]", "x = 1", "[routing]", 'type = "end"', "type = 1"]
    lines = BOT.splitlines()
    for _ in range(1500):
        mutated = list(lines)
        for _ in range(rng.randint(1, 3)):
            j = rng.randrange(len(mutated))
            roll = rng.random()
            if roll < 0.3:
                del mutated[j]
            elif roll < 0.8 and "=" in mutated[j]:
                mutated[j] = mutated[j].split("=")[0] + "= " + rng.choice(values)
            else:
                mutated.insert(j, rng.choice(extra))
        try:
            parse("\n".join(mutated))
        except ChatflowError as e:
            assert str(e).startswith("line "), str(e)


def test_a_hand_off_to_the_inbox_follows_its_routing(team: Team) -> None:
    """`to = "inbox"`: the inbox's routing (core/routing.py) picks the agent when the bot hands
    over (not when the chat arrived), writes why, and the bot's turn says who got it."""
    text = (
        'type = "bot"\nwelcome = "Hi!"\n[[steps]]\ntype = "question"\ntext = "Your name?"\n'
        'save_as = "name"\n[[steps]]\ntype = "handoff"\nto = "inbox"\ntext = "One moment."\n'
    )
    flow = cmd.save_chatflow(team.ws, "Desk", text, channel=team.chat, actor="ana")
    cmd.set_routing(team.ws, "Support", rules="round-robin", agents=["bo"], actor="ana")
    conv = chat(team, "hello")
    assert q.conversation(team.ws, conv, access=EVERYTHING).assignee_id is None
    turn = cmd.bot_turn(team.ws, conv, "hello", later(0), chatflow_id=flow)
    assert turn.status == "handed_off" and turn.assignee_id == team.bo
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert row.assignee_id == team.bo
    lines = [body for kind, _, body in thread(team, conv) if kind == "activity"]
    assert any("round robin" in line for line in lines), lines


def test_the_bot_report_counts_what_the_runner_recorded(team: Team, bot: str) -> None:
    """`unibox report`'s bots section reads the chatflow runner's events (migration 0021)."""
    from datetime import timedelta

    from unibox_tui.core import reports

    done = chat(team, "2")
    cmd.bot_turn(team.ws, done, "2", later(0), chatflow_id=bot)  # article, then bye
    other = {"channel": team.chat, "kind": "chat", "who": "visitor-2", "name": "Other"}
    handed = team.start("billing", at=later(1), **other)
    cmd.bot_turn(team.ws, handed, "billing", later(1), chatflow_id=bot)
    cmd.ingest(team.ws, team.incoming("Carla@Example.org", at=later(2), **other))
    cmd.bot_turn(team.ws, handed, "Carla@Example.org", later(2))  # ... hands off to bo
    start = later(0).date() - timedelta(days=1)
    s = reports.scope(team.ws, EVERYTHING, start=start, end=start + timedelta(days=3))
    figures = reports.report(team.ws, EVERYTHING, s, sections=["bots"]).to_json()["bots"]
    assert (figures["started"], figures["completed"], figures["handoff"]) == (2, 1, 1)
    [flow] = figures["chatflows"]
    steps = {row["step"]: row["reached"] for row in flow["steps"]}
    assert steps["topic"] == 2 and steps["email"] == 1 and flow["completion"] == 0.5


def test_the_same_runner_serves_a_messenger_page(team: Team) -> None:
    text = (
        'type = "bot"\n[[steps]]\ntype = "question"\ntext = "Order number?"\nvalidate = "number"\n'
    )
    text += '[[steps]]\ntype = "end"\ntext = "Thanks, {{answers.step-1}} noted."\n'
    flow = cmd.save_chatflow(team.ws, "Orders", text, channel="Support messenger", actor="ana")
    assert fq.choose_chatflow(team.ws, team.messenger, Context()) is not None
    conv = team.start("hi", channel=team.messenger, kind="messenger", who="psid-1", name="Li")
    turn = cmd.bot_turn(team.ws, conv, "hi", later(0), chatflow_id=flow)
    assert [m.body for m in turn.messages] == [
        "Order number?",
        "Please answer with a number. Order number?",
    ]
    turn = cmd.bot_turn(team.ws, conv, "4471", later(1))
    assert (turn.status, [m.body for m in turn.messages]) == ("completed", ["Thanks, 4471 noted."])
