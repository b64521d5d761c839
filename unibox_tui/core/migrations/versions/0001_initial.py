"""The first workspace schema: every core table and its indexes.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from unibox_tui.core.migrations.postgres import BOOL, COMPAT, ROWID_TABLES, is_postgres

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if is_postgres():  # what SQLite has built in and the SQL below and elsewhere uses
        for statement in COMPAT:
            op.execute(statement)
    op.create_table(
        "agent",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("handle", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("availability", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("handle"),
    )
    op.create_index(op.f("ix_agent_seq"), "agent", ["seq"], unique=False)
    op.create_table(
        "inbox",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("access", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_inbox_seq"), "inbox", ["seq"], unique=False)
    op.create_table(
        "sequence",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "setting",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "snippet",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_snippet_seq"), "snippet", ["seq"], unique=False)
    op.create_table(
        "team",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_team_seq"), "team", ["seq"], unique=False)
    op.create_table(
        "channel",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("inbox_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("enabled", BOOL, nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inbox.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_channel_inbox_id"), "channel", ["inbox_id"], unique=False)
    op.create_index(op.f("ix_channel_seq"), "channel", ["seq"], unique=False)
    op.create_table(
        "contact",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("company", sa.String(), nullable=True),
        sa.Column("owner_id", sa.String(), nullable=True),
        sa.Column("notes", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(length=26), nullable=True),
        sa.Column("merged_into_id", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["contact.id"],
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["agent.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_contact_seq"), "contact", ["seq"], unique=False)
    op.create_table(
        "inbox_access",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("inbox_id", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.Column("team_id", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent.id"],
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inbox.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_inbox_access_inbox_id"), "inbox_access", ["inbox_id"], unique=False)
    op.create_table(
        "team_member",
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("team_id", "agent_id"),
    )
    op.create_table(
        "ticket",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("pipeline", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("priority", sa.String(), nullable=False),
        sa.Column("owner_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(length=26), nullable=True),
        sa.Column("closed_at", sa.String(length=26), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["agent.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index(op.f("ix_ticket_seq"), "ticket", ["seq"], unique=False)
    op.create_table(
        "contact_identity",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "value"),
    )
    op.create_index(
        op.f("ix_contact_identity_contact_id"), "contact_identity", ["contact_id"], unique=False
    )
    op.create_index(op.f("ix_contact_identity_seq"), "contact_identity", ["seq"], unique=False)
    op.create_table(
        "conversation",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rid", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("inbox_id", sa.String(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("channel_kind", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("preview", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("snoozed_until", sa.String(length=26), nullable=True),
        sa.Column("assignee_id", sa.String(), nullable=True),
        sa.Column("team_id", sa.String(), nullable=True),
        sa.Column("unread", BOOL, nullable=False),
        sa.Column("waiting", BOOL, nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(length=26), nullable=True),
        sa.Column("last_message_at", sa.String(length=26), nullable=True),
        sa.Column("first_response_at", sa.String(length=26), nullable=True),
        sa.Column("closed_at", sa.String(length=26), nullable=True),
        sa.Column("ticket_id", sa.String(), nullable=True),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["agent.id"],
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inbox.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("rid"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "ix_conv_assignee",
        "conversation",
        ["assignee_id", "status", "last_message_at", "rid", "unread"],
        unique=False,
    )
    op.create_index(
        "ix_conv_contact", "conversation", ["contact_id", "last_message_at"], unique=False
    )
    op.create_index(
        "ix_conv_inbox",
        "conversation",
        ["inbox_id", "status", "last_message_at", "rid", "unread"],
        unique=False,
    )
    op.create_index(
        "ix_conv_kind",
        "conversation",
        ["channel_kind", "status", "last_message_at", "rid", "unread"],
        unique=False,
    )
    op.create_index(
        "ix_conv_time", "conversation", ["last_message_at", "rid", "unread"], unique=False
    )
    op.create_index("ix_conv_snoozed", "conversation", ["snoozed_until"], unique=False)
    op.create_index(
        "ix_conv_status",
        "conversation",
        ["status", "last_message_at", "rid", "unread"],
        unique=False,
    )
    op.create_index(op.f("ix_conversation_seq"), "conversation", ["seq"], unique=False)
    op.create_index(op.f("ix_conversation_ticket_id"), "conversation", ["ticket_id"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.String(length=26), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", sa.String(length=26), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_outbox_seq"), "outbox", ["seq"], unique=False)
    op.create_table(
        "sync_state",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id", "key"),
    )
    op.create_index(op.f("ix_sync_state_seq"), "sync_state", ["seq"], unique=False)
    op.create_table(
        "message",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rid", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("author_agent_id", sa.String(), nullable=True),
        sa.Column("author_contact_id", sa.String(), nullable=True),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(), nullable=True),
        sa.Column("delivery_state", sa.String(), nullable=True),
        sa.Column("delivery_error", sa.String(), nullable=True),
        sa.Column("flags", sa.String(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=26), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_agent_id"],
            ["agent.id"],
        ),
        sa.ForeignKeyConstraint(
            ["author_contact_id"],
            ["contact.id"],
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
        ),
        sa.PrimaryKeyConstraint("rid"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_message_conv", "message", ["conversation_id", "rid"], unique=False)
    op.create_index("ix_message_external", "message", ["external_id"], unique=False)
    op.create_index(op.f("ix_message_seq"), "message", ["seq"], unique=False)
    op.create_table(
        "attachment",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("path", sa.String(), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_attachment_message_id"), "attachment", ["message_id"], unique=False)
    op.create_index(op.f("ix_attachment_seq"), "attachment", ["seq"], unique=False)
    op.create_table(
        "notification",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=True),
        sa.Column("message_id", sa.String(), nullable=True),
        sa.Column("actor_id", sa.String(), nullable=True),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(length=26), nullable=True),
        sa.Column("read_at", sa.String(length=26), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["agent.id"],
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent.id"],
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_agent", "notification", ["agent_id", "read_at"], unique=False)
    op.create_index(op.f("ix_notification_seq"), "notification", ["seq"], unique=False)

    op.execute("INSERT INTO sequence(name, value) VALUES ('seq', 0)")
    if is_postgres():
        for table in ROWID_TABLES:
            op.execute(f"ALTER TABLE {table} ADD COLUMN rowid bigserial")
