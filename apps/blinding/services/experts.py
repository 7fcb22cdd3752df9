"""Experts joining and leaving a running study: their membership changes, and
unstarted work moves between them and the other experts."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from django.db import transaction

from apps.blinding import planning
from apps.blinding.models import Assignment, AssignmentPlan, AttentionCheck, PlanEvent
from apps.blinding.planning import PlanItem
from apps.blinding.services.inputs import (
    _active_plan_locked,
    _attention_inputs,
    _event_seed,
    _expert_ids,
    _live,
    _plan_outputs,
    _prompt_of,
)
from apps.blinding.services.queues import (
    _holders_and_load,
    _next_positions,
    _queues_write,
    _reassign,
    _withdraw,
)
from apps.generation.models import Output
from apps.studies import services as study_services
from apps.studies.models import Membership, Study

Status = Assignment.Status


@transaction.atomic
def expert_leave(*, study: Study, user, by) -> int:
    """``user`` stops being an expert of ``study``: their membership is revoked,
    their pending items are withdrawn, and the real (non-QC) ones go to the
    remaining experts who do not hold them yet, least loaded first. Their
    submitted judgments stay. Returns how many items were reassigned."""
    plan = _active_plan_locked(study)
    study_services.membership_revoke(study=study, user=user, role=Membership.Role.EXPERT)
    if plan is None:
        return 0
    pending = list(
        Assignment.objects.select_for_update()
        .filter(plan=plan, expert=user, status=Status.PENDING)
        .order_by("position")
    )
    _withdraw(pending, Assignment.Withdrawn.EXPERT_LEFT)
    real = [a for a in pending if a.qc == Assignment.QC.NONE]
    moved = _reassign(plan, real, _expert_ids(study))
    PlanEvent.objects.create(
        plan=plan,
        action=PlanEvent.Action.EXPERT_LEFT,
        expert=user,
        by=by if getattr(by, "pk", None) else None,
        detail={"withdrawn": len(pending), "reassigned": moved},
    )
    return moved


def _movable(plan: AssignmentPlan, experts: Sequence[int], newcomer: int) -> list[Assignment]:
    """Unstarted real items of the other experts: pending, never opened, no draft,
    not the original of a repeat (the repeat would then show something new)."""
    return list(
        Assignment.objects.select_for_update(of=("self",))
        .filter(
            plan=plan,
            expert_id__in=experts,
            status=Status.PENDING,
            qc=Assignment.QC.NONE,
            first_opened_at__isnull=True,
            draft__isnull=True,
            repeats__isnull=True,
        )
        .exclude(expert_id=newcomer)
        .order_by("expert_id", "position")
    )


@transaction.atomic
def expert_join(*, study: Study, user, by) -> int:
    """``user`` becomes an expert of ``study``. If a plan is running, unstarted
    items move to them from the most loaded experts until loads are within one
    (each item keeps ``k`` distinct experts), and quality-control items are added
    to their queue at the plan's rates. Returns how many items moved."""
    study_services.membership_grant(study=study, user=user, role=Membership.Role.EXPERT)
    plan = _active_plan_locked(study)
    if plan is None:
        return 0
    experts = _expert_ids(study)
    _, load = _holders_and_load(plan, experts)
    held = {
        planning.item_key(PlanItem(kind=kind, left=left, right=right))
        for kind, left, right in _live(plan)
        .filter(expert=user, qc="")
        .values_list("kind", "left_id", "right_id")
    }
    candidates = _movable(plan, experts, user.pk)
    by_expert: dict[int, list] = defaultdict(list)
    for a in candidates:
        by_expert[a.expert_id].append(
            (a.pk, PlanItem(kind=a.kind, left=a.left_id, right=a.right_id))
        )
    model_of = dict(
        Output.objects.filter(generation__study=study).values_list("id", "generation__endpoint_id")
    )
    seed = _event_seed(plan)
    moves = planning.newcomer_moves(
        by_expert, user.pk, current_load=load, held=held, model_of=model_of, seed=seed
    )
    moving = {a.pk: a for a in candidates}
    taken = [moving[ref] for _, ref in moves]
    _withdraw(taken, Assignment.Withdrawn.MOVED)
    items = [PlanItem(kind=a.kind, left=a.left_id, right=a.right_id) for a in taken]
    rng = random.Random(seed)
    rng.shuffle(items)
    had_queue = _live(plan).filter(expert=user).exists()
    if not had_queue and items:
        checks = list(AttentionCheck.objects.filter(study=study).select_related("output"))
        attention_ids, partners = _attention_inputs(checks, _plan_outputs(study))
        items = planning.add_quality_control(
            items,
            attention_ids=attention_ids if plan.attention_rate else [],
            attention_rate=plan.attention_rate,
            repeat_rate=plan.repeat_rate,
            rng=rng,
            attention_partners=partners,
        )
    prompt_of = _prompt_of(study)
    _queues_write(
        plan, {user.pk: items}, prompt_of=prompt_of, first_position=_next_positions(plan, [user.pk])
    )
    PlanEvent.objects.create(
        plan=plan,
        action=PlanEvent.Action.EXPERT_JOINED,
        expert=user,
        by=by if getattr(by, "pk", None) else None,
        detail={"moved": len(taken), "queue": len(items)},
    )
    return len(taken)
