"""Anonymous website visitors stored before 0031 were named by their identity
("visitor:rS35J8iVGSX55g36ohT7"); new ones are "Visitor rS35J8"
(commands/incoming.placeholder_name). The old ones get the same name, so the list reads
alike. Every database runs this itself (the hub and each agent's cache, from the same
rows), so the renamed contacts need no change number to reach the caches. A name a
visitor gave, or an agent set, differs from the identity and is left alone.

Revision ID: 0031
Revises: 0030
"""

from unibox_tui.core.migrations.postgres import execute

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The contact_fts_update trigger re-indexes their conversations' subject line for search.
    execute(
        "UPDATE contact SET name = 'Visitor ' || substr(name, 9, 6) "
        "WHERE name LIKE 'visitor:%' AND EXISTS (SELECT 1 FROM contact_identity i "
        "WHERE i.contact_id = contact.id AND i.kind = 'chat' AND i.value = contact.name)"
    )


def downgrade() -> None:
    pass  # the old names carried nothing the new ones lose: the identity keeps the id
