"""Building a study's assignment plan from the pure planner and making it the
active one."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils.translation import gettext as _

from apps.blinding import planning, qc
from apps.blinding.models import Assignment, AssignmentPlan, PlanEvent
from apps.blinding.planning import PlanOutput
from apps.blinding.services.errors import PlanRefused
from apps.blinding.services.inputs import (
    _active_plan_locked,
    _attention_inputs,
    _expert_ids,
    _plan_outputs,
    _prompt_of,
)
from apps.blinding.services.queues import _queues_write
from apps.studies.models import Study

Status = Assignment.Status
MAX_QC_RATE = 0.5


def _queue_length_estimate(study: Study, outputs: list[PlanOutput], n_experts: int) -> int:
    items = 0
    if study.protocol in (Study.Protocol.RATING, Study.Protocol.BOTH):
        items += len(outputs)
    if study.protocol in (Study.Protocol.PAIRWISE, Study.Protocol.BOTH):
        items += len(planning.model_pairs(outputs))
    return -(-items * study.ratings_per_item // max(1, n_experts))


def _check_rate(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise PlanRefused(_("%(name)s 必须是数字。") % {"name": name}) from None
    if not 0 <= value <= MAX_QC_RATE:
        raise PlanRefused(
            _("%(name)s 必须在 0 到 %(max)s 之间（现为 %(value)s）。")
            % {"name": name, "max": MAX_QC_RATE, "value": value}
        )
    return value


@transaction.atomic
def assignment_plan_build(
    *,
    study: Study,
    seed: int | None = None,
    attention_rate: float = 0.0,
    repeat_rate: float = 0.0,
    by=None,
) -> AssignmentPlan:
    """Build the study's assignment plan and make it the active one.

    Experts are the active expert memberships; items are the study's non-excluded
    outputs (and, for the pairwise protocol, their cross-model pairs per prompt).
    The seed (random when not given) and the rates are recorded, so the same
    inputs and seed give the same plan. An earlier plan is replaced only while
    nothing has been judged in it; after that, use :func:`expert_join`,
    :func:`expert_leave` and :func:`output_exclude`. Raises :class:`PlanRefused`.
    """
    study = Study.objects.select_for_update().select_related("rubric").get(pk=study.pk)
    if study.status in (Study.Status.CLOSED, Study.Status.UNBLINDED):
        raise PlanRefused(_("研究“%(study)s”已结束，不能再生成分配计划。") % {"study": study.slug})
    attention_rate = _check_rate(_("注意力检查比例"), attention_rate)
    repeat_rate = _check_rate(_("重复项比例"), repeat_rate)
    previous = _active_plan_locked(study)
    if previous is not None and previous.assignments.filter(status=Status.DONE).exists():
        raise PlanRefused(
            _(
                "研究“%(study)s”的当前计划中已有专家提交了评价，不能整体重建；"
                "专家加入或退出、排除生成结果时计划会自动调整。"
            )
            % {"study": study.slug}
        )
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    outputs = _plan_outputs(study)
    experts = _expert_ids(study)
    attention_ids: list[int] = []
    partners: dict[int, list[int]] = {}
    if attention_rate > 0 and outputs and experts:
        estimate = _queue_length_estimate(study, outputs, len(experts))
        try:
            checks = qc.attention_outputs_ensure(
                study=study,
                count=qc.attention_count_for(queue_length=estimate, rate=attention_rate),
                seed=seed,
            )
        except qc.AttentionUnavailable as exc:
            raise PlanRefused(_("无法加入注意力检查：%(reason)s") % {"reason": exc}) from None
        attention_ids, partners = _attention_inputs(checks, outputs)
    try:
        plan = planning.plan_build(
            outputs,
            experts,
            protocol=study.protocol,
            k=study.ratings_per_item,
            seed=seed,
            attention_ids=attention_ids,
            attention_rate=attention_rate,
            repeat_rate=repeat_rate,
            attention_partners=partners,
        )
    except planning.PlanError as exc:
        raise PlanRefused(
            _("研究“%(study)s”无法生成分配计划：%(reason)s。")
            % {"study": study.slug, "reason": exc}
        ) from None
    if previous is not None:
        previous.is_active = False
        previous.save(update_fields=["is_active"])
    stored = AssignmentPlan.objects.create(
        study=study,
        seed=seed,
        protocol=study.protocol,
        ratings_per_item=study.ratings_per_item,
        attention_rate=attention_rate,
        repeat_rate=repeat_rate,
        created_by=by if getattr(by, "pk", None) else None,
    )
    _queues_write(stored, plan.queues, prompt_of=_prompt_of(study))
    PlanEvent.objects.create(
        plan=stored,
        action=PlanEvent.Action.BUILD,
        by=stored.created_by,
        detail={
            "seed": seed,
            "experts": len(experts),
            "outputs": len(outputs),
            "assignments": sum(len(q) for q in plan.queues.values()),
            "replaced_plan": previous.pk if previous else None,
        },
    )
    return stored
