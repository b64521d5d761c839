"""Ticket pipelines: named, ordered lists of stages; each inbox names where its tickets start.

Tickets hold their pipeline and stage as names (text), so a ticket keeps them when a
pipeline changes later; what a new or changed ticket may take is checked here. Only admins
add, change or remove pipelines.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select

from ..db import Tx, Workspace
from ..errors import InvalidRequest, NotFound
from ..ids import new_id
from ..models import Inbox, Pipeline, PipelineStage
from ._base import inbox_ref, name_taken, require_admin, require_text

# Where a ticket starts when the workspace has no pipeline at all (never after migration 0007,
# which creates this one; kept so a ticket can always be made).
FALLBACK = ("Support", "New")


def pipeline_ref(tx: Tx, ref: str) -> Pipeline:
    """A pipeline by id or name (names match regardless of case)."""
    found = tx.find(Pipeline, id=ref)
    if found is None:
        found = next((p for p in pipelines(tx) if p.name.lower() == ref.strip().lower()), None)
    if found is None:
        names = ", ".join(p.name for p in pipelines(tx)) or "none"
        raise NotFound(f"no pipeline {ref!r}; there are: {names}")
    return found


def pipelines(tx: Tx) -> list[Pipeline]:
    return list(
        tx.session.exec(select(Pipeline).order_by(col(Pipeline.position), col(Pipeline.name)))
    )


def stages(tx: Tx, pipeline: Pipeline) -> list[PipelineStage]:
    query = (
        select(PipelineStage)
        .where(PipelineStage.pipeline_id == pipeline.id)
        .order_by(col(PipelineStage.position))
    )
    return list(tx.session.exec(query))


def stage_ref(tx: Tx, pipeline: Pipeline, ref: str) -> PipelineStage:
    found = next(
        (s for s in stages(tx, pipeline) if ref in (s.id, s.name) or s.name.lower() == ref.lower()),
        None,
    )
    if found is None:
        names = ", ".join(s.name for s in stages(tx, pipeline))
        raise InvalidRequest(
            f"pipeline {pipeline.name!r} has no stage {ref!r}; its stages: {names}"
        )
    return found


def first_stage(tx: Tx) -> tuple[str | None, str | None]:
    """The workspace's first pipeline and its first stage (ids), or (None, None)."""
    for pipeline in pipelines(tx):
        found = stages(tx, pipeline)
        return pipeline.id, found[0].id if found else None
    return None, None


def ticket_place(
    tx: Tx, inbox: Inbox | None, pipeline: str | None, stage: str | None
) -> tuple[str, str]:
    """The (pipeline, stage) names a new ticket takes: what was asked for, checked against the
    workspace's pipelines; else the inbox's default; else the first pipeline's first stage."""
    if pipeline is None:
        chosen = None
        if inbox is not None and inbox.default_pipeline_id:
            chosen = tx.find(Pipeline, id=inbox.default_pipeline_id)
        if chosen is None:
            chosen = next(iter(pipelines(tx)), None)
        if chosen is None:
            return FALLBACK[0], stage or FALLBACK[1]
        if stage is None and inbox is not None and inbox.default_pipeline_id == chosen.id:
            start = tx.find(PipelineStage, id=inbox.default_stage_id or "")
            if start is not None:
                return chosen.name, start.name
    else:
        chosen = pipeline_ref(tx, pipeline)
    if stage is not None:
        return chosen.name, stage_ref(tx, chosen, stage).name
    found = stages(tx, chosen)
    return chosen.name, found[0].name if found else FALLBACK[1]


def _clean_stages(names: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for name in names:
        name = require_text(name, "stage name").strip()
        if name.lower() in (c.lower() for c in cleaned):
            raise InvalidRequest(f"stage {name!r} is listed twice")
        cleaned.append(name)
    if not cleaned:
        raise InvalidRequest("a pipeline needs at least one stage (--stage NAME, in order)")
    return cleaned


def create_pipeline(
    ws: Workspace,
    name: str,
    stage_names: Iterable[str],
    *,
    actor: str | None = None,
    id: str | None = None,
) -> str:
    """A new pipeline with its stages in the given order; listed after the others."""
    wanted = _clean_stages(stage_names)
    with ws.write() as tx:
        require_admin(tx, actor, "add pipelines")
        name = require_text(name, "pipeline name").strip()
        if name_taken(tx, Pipeline, name):
            raise InvalidRequest(f"pipeline {name!r} exists")
        position = max((p.position for p in pipelines(tx)), default=-1) + 1
        pipeline = Pipeline(id=id or new_id(tx.now), name=name, position=position)
        tx.stamp(pipeline)
        for i, stage in enumerate(wanted):
            tx.stamp(
                PipelineStage(id=new_id(tx.now), pipeline_id=pipeline.id, name=stage, position=i)
            )
        return pipeline.id


def set_stages(
    ws: Workspace, pipeline: str, stage_names: Iterable[str], *, actor: str | None = None
) -> bool:
    """Replace a pipeline's stages (in order). A stage that keeps its name keeps its id; an
    inbox whose default stage goes starts at the first stage instead. False if unchanged."""
    wanted = _clean_stages(stage_names)
    with ws.write() as tx:
        require_admin(tx, actor, "change pipelines")
        target = pipeline_ref(tx, pipeline)
        current = stages(tx, target)
        if [s.name for s in current] == wanted:
            return False
        by_name = {s.name.lower(): s for s in current}
        kept: list[PipelineStage] = []
        for i, name in enumerate(wanted):
            row = by_name.pop(name.lower(), None) or PipelineStage(
                id=new_id(tx.now), pipeline_id=target.id, name=name
            )
            row.name, row.position = name, i
            kept.append(tx.stamp(row))  # type: ignore[arg-type]
        gone = {s.id for s in by_name.values()}
        for inbox in tx.session.exec(select(Inbox).where(Inbox.default_pipeline_id == target.id)):
            if inbox.default_stage_id in gone or inbox.default_stage_id is None:
                inbox.default_stage_id = kept[0].id
                tx.stamp(inbox)
        for row in by_name.values():
            tx.delete(row)
        tx.stamp(target)
        return True


def remove_pipeline(ws: Workspace, pipeline: str, *, actor: str | None = None) -> None:
    """Remove a pipeline no inbox starts tickets in (its tickets keep the names)."""
    with ws.write() as tx:
        require_admin(tx, actor, "remove pipelines")
        target = pipeline_ref(tx, pipeline)
        if len(pipelines(tx)) == 1:
            raise InvalidRequest(f"{target.name!r} is the only pipeline; add another first")
        using = list(tx.session.exec(select(Inbox).where(Inbox.default_pipeline_id == target.id)))
        if using:
            names = ", ".join(repr(i.name) for i in using)
            raise InvalidRequest(
                f"inbox {names} starts tickets in {target.name!r}; give it another "
                f"(`unibox inbox pipeline INBOX PIPELINE`) first"
            )
        for stage in stages(tx, target):
            tx.delete(stage)
        tx.delete(target)


def set_inbox_pipeline(
    ws: Workspace,
    inbox: str,
    pipeline: str,
    stage: str | None = None,
    *,
    actor: str | None = None,
) -> bool:
    """Where tickets from `inbox` start: `pipeline` at `stage` (default: its first stage)."""
    with ws.write() as tx:
        require_admin(tx, actor, "change inboxes")
        target = inbox_ref(tx, inbox)
        if not start_tickets_at(tx, target, pipeline, stage):
            return False
        tx.stamp(target)
        return True


def start_tickets_at(tx: Tx, inbox: Inbox, pipeline: str, stage: str | None) -> bool:
    """Set (not stamp) an inbox's default pipeline and stage; whether they changed."""
    chosen = pipeline_ref(tx, pipeline)
    start = stage_ref(tx, chosen, stage) if stage else next(iter(stages(tx, chosen)), None)
    after = (chosen.id, start.id if start else None)
    if (inbox.default_pipeline_id, inbox.default_stage_id) == after:
        return False
    inbox.default_pipeline_id, inbox.default_stage_id = after
    return True
