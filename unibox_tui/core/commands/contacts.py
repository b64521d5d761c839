"""Contacts and their identities (e-mail address, Messenger PSID, WhatsApp number, ...)."""

from __future__ import annotations

from collections.abc import Iterable

from .. import clock
from ..db import Tx, Workspace
from ..errors import InvalidRequest
from ..ids import new_id
from ..models import IDENTITY_KINDS, Contact, ContactIdentity
from ..validate import normalize_identity, require_choice
from ._base import active_agent, activity, agent_ref, contact_for, who
from ._base import conversation as get_conversation


def _add_identity(tx: Tx, contact_id: str, kind: str, value: str) -> ContactIdentity:
    require_choice(kind, IDENTITY_KINDS, "identity kind")
    value = normalize_identity(kind, value)
    if not value:
        raise InvalidRequest(f"empty {kind} identity")
    existing = tx.find(ContactIdentity, kind=kind, value=value)
    if existing:
        if existing.contact_id == contact_id:
            return existing
        raise InvalidRequest(
            f"{kind} {value} already belongs to contact {existing.contact_id}; merge the contacts"
        )
    identity = ContactIdentity(id=new_id(tx.now), contact_id=contact_id, kind=kind, value=value)
    tx.stamp(identity)
    return identity


def create_contact(
    ws: Workspace,
    name: str,
    *,
    company: str | None = None,
    identities: Iterable[tuple[str, str]] = (),
    owner: str | None = None,
    notes: str = "",
    actor: str,
    id: str | None = None,
) -> str:
    with ws.write() as tx:
        active_agent(tx, actor)
        row = Contact(id=id or new_id(tx.now), name=name.strip(), company=company, notes=notes)
        row.created_at = tx.now
        if owner:
            row.owner_id = agent_ref(tx, owner).id
        tx.stamp(row)
        tx.session.flush()
        for kind, value in identities:
            _add_identity(tx, row.id, kind, value)
        return row.id


def update_contact(
    ws: Workspace,
    contact_id: str,
    *,
    name: str | None = None,
    company: str | None = None,
    owner: str | None = None,
    notes: str | None = None,
    actor: str,
) -> None:
    """Change the given fields; `owner=""` clears the owner."""
    with ws.write() as tx:
        row, _ = contact_for(tx, contact_id, actor)
        _set_fields(row, name=name, company=company, owner=owner, notes=notes, tx=tx)
        tx.stamp(row)


def save_contact(
    ws: Workspace,
    contact_id: str,
    *,
    name: str | None = None,
    company: str | None = None,
    notes: str | None = None,
    identities: list[tuple[str, str]] | None = None,
    actor: str,
) -> list[str]:
    """The contact form's save: fields and new identities in one transaction (all or none).
    Returns the ids of the identities it holds afterwards for the given (kind, value)s."""
    with ws.write() as tx:
        row, _ = contact_for(tx, contact_id, actor)
        _set_fields(row, name=name, company=company, owner=None, notes=notes, tx=tx)
        tx.stamp(row)
        return [_add_identity(tx, row.id, kind, value).id for kind, value in identities or []]


def _set_fields(
    row: Contact,
    *,
    name: str | None,
    company: str | None,
    owner: str | None,
    notes: str | None,
    tx: Tx,
) -> None:
    if name is not None:
        if not name.strip():
            raise InvalidRequest("a contact name cannot be empty")
        row.name = name.strip()
    if company is not None:
        row.company = company or None
    if owner is not None:
        row.owner_id = agent_ref(tx, owner).id if owner else None
    if notes is not None:
        row.notes = notes


def add_identity(ws: Workspace, contact_id: str, kind: str, value: str, *, actor: str) -> str:
    with ws.write() as tx:
        return _add_identity(tx, contact_for(tx, contact_id, actor)[0].id, kind, value).id


def merge_contacts(ws: Workspace, keep_id: str, merge_id: str, *, actor: str) -> None:
    """Fold contact `merge_id` into `keep_id`: identities, conversations and messages move;
    empty fields of the kept contact are filled; the merged one forwards to the kept one."""
    with ws.write() as tx:
        keep, by = contact_for(tx, keep_id, actor)
        gone, _ = contact_for(tx, merge_id, actor)
        if keep.id == gone.id:
            raise InvalidRequest("cannot merge a contact into itself")
        conn = tx.session.connection()
        moved = list(
            conn.exec_driver_sql(
                "SELECT id FROM conversation WHERE contact_id = ?", (gone.id,)
            ).scalars()
        )
        for table, column in (
            ("contact_identity", "contact_id"),
            ("conversation", "contact_id"),
            ("message", "author_contact_id"),
        ):
            conn.exec_driver_sql(
                f"UPDATE {table} SET {column} = ?, seq = ?, updated_at = ? WHERE {column} = ?",
                (keep.id, tx.seq, clock.to_db(tx.now), gone.id),
            )
        keep.company = keep.company or gone.company
        keep.owner_id = keep.owner_id or gone.owner_id
        if gone.notes:
            keep.notes = f"{keep.notes}\n{gone.notes}".strip()
        if not keep.name:
            keep.name = gone.name
        gone.merged_into_id = keep.id
        # Contacts merged into `gone` earlier now forward straight to `keep`: chains stay
        # one hop long.
        conn.exec_driver_sql(
            "UPDATE contact SET merged_into_id = ?, seq = ?, updated_at = ? WHERE merged_into_id = ?",
            (keep.id, tx.seq, clock.to_db(tx.now), gone.id),
        )
        tx.stamp(keep)
        tx.stamp(gone)
        tx.session.expire_all()
        for conv_id in moved:
            activity(
                tx,
                get_conversation(tx, conv_id),
                f"{who(by)} merged {gone.name} into {keep.name}",
                by,
            )
