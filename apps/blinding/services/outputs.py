"""Excluding an output from scoring and including it again: its pending items are
withdrawn, and come back (or go to other experts) when it is included."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from apps.blinding.models import Assignment, AttentionCheck, PlanEvent
from apps.blinding.services.errors import PlanRefused
from apps.blinding.services.inputs import _active_plan_locked, _expert_ids
from apps.blinding.services.queues import _reassign, _withdraw
from apps.generation.models import Output
from apps.studies.models import Study

Status = Assignment.Status


def _study_of_output(output: Output) -> Study:
    if output.generation_id is not None:
        return Study.objects.get(generations__output=output)
    return AttentionCheck.objects.select_related("study").get(output=output).study


@transaction.atomic
def output_exclude(*, output: Output, reason: str, by) -> int:
    """Exclude ``output`` from scoring (broken, unsafe, off-topic) with a reason.
    Pending items showing it are withdrawn; submitted judgments stay but are left
    out of the analysis. Returns how many items were withdrawn."""
    reason = (reason or "").strip()
    if not reason:
        raise PlanRefused(_("排除生成结果时必须写明原因。"))
    output = Output.objects.select_for_update().get(pk=output.pk)
    study = _study_of_output(output)
    plan = _active_plan_locked(study)
    output.excluded, output.excluded_reason = True, reason
    output.save(update_fields=["excluded", "excluded_reason"])
    if plan is None:
        return 0
    pending = list(
        Assignment.objects.select_for_update().filter(
            Q(left=output) | Q(right=output), plan=plan, status=Status.PENDING
        )
    )
    _withdraw(pending, Assignment.Withdrawn.OUTPUT_EXCLUDED)
    PlanEvent.objects.create(
        plan=plan,
        action=PlanEvent.Action.OUTPUT_EXCLUDED,
        by=by if getattr(by, "pk", None) else None,
        detail={"output": output.public_id, "reason": reason, "withdrawn": len(pending)},
    )
    return len(pending)


@transaction.atomic
def output_include(*, output: Output, by) -> int:
    """Undo :func:`output_exclude`: the items withdrawn because of the exclusion
    come back to their experts, or, for experts who have left since, go to others.
    Returns how many items are back in queues."""
    output = Output.objects.select_for_update().get(pk=output.pk)
    study = _study_of_output(output)
    plan = _active_plan_locked(study)
    output.excluded, output.excluded_reason = False, ""
    output.save(update_fields=["excluded", "excluded_reason"])
    if plan is None:
        return 0
    withdrawn = list(
        Assignment.objects.select_for_update(of=("self",))
        .filter(
            Q(left=output) | Q(right=output),
            plan=plan,
            status=Status.WITHDRAWN,
            withdrawn_reason=Assignment.Withdrawn.OUTPUT_EXCLUDED,
        )
        .select_related("left", "right")
    )
    still_excluded = [
        a for a in withdrawn if any(o.excluded for o in a.outputs() if o.pk != output.pk)
    ]
    back = [a for a in withdrawn if a not in still_excluded]
    experts = set(_expert_ids(study))
    restore = [a for a in back if a.expert_id in experts]
    Assignment.objects.filter(pk__in=[a.pk for a in restore]).update(
        status=Status.PENDING, withdrawn_reason=""
    )
    orphans = [a for a in back if a.expert_id not in experts and a.qc == Assignment.QC.NONE]
    moved = _reassign(plan, orphans, sorted(experts))
    PlanEvent.objects.create(
        plan=plan,
        action=PlanEvent.Action.OUTPUT_INCLUDED,
        by=by if getattr(by, "pk", None) else None,
        detail={"output": output.public_id, "restored": len(restore), "reassigned": moved},
    )
    return len(restore) + moved
