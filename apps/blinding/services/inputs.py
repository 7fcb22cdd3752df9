"""Reading what the planner and the plan changes need from the database: the
study's outputs, experts and prompts as the planner sees them, and the active
plan (locked) with its live assignments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from apps.blinding.models import Assignment, AssignmentPlan, AttentionCheck
from apps.blinding.planning import PlanOutput
from apps.generation.models import Generation, Output
from apps.studies.models import Membership, Study

Status = Assignment.Status


def _plan_outputs(study: Study) -> list[PlanOutput]:
    """The study's real, non-excluded outputs as the planner sees them: the model is
    the endpoint, the prompt its prompt."""
    rows = (
        Output.objects.filter(
            generation__study=study,
            generation__status=Generation.Status.SUCCEEDED,
            excluded=False,
        )
        .order_by("id")
        .values_list("id", "generation__endpoint_id", "generation__prompt_id")
    )
    return [PlanOutput(id=i, model=model, prompt=prompt) for i, model, prompt in rows]


def _expert_ids(study: Study) -> list[int]:
    """Experts with an active membership. Invited experts who have not set their
    password yet count: the plan is usually built before everyone has accepted."""
    return sorted(
        Membership.objects.filter(
            study=study, role=Membership.Role.EXPERT, is_active=True
        ).values_list("user_id", flat=True)
    )


def _prompt_of(study: Study) -> dict[int, int]:
    """output id -> the prompt shown with it, for real and attention outputs."""
    prompts = dict(
        Output.objects.filter(generation__study=study).values_list("id", "generation__prompt_id")
    )
    prompts.update(AttentionCheck.objects.filter(study=study).values_list("output_id", "prompt_id"))
    return prompts


def _attention_inputs(
    checks: Sequence[AttentionCheck], outputs: Sequence[PlanOutput]
) -> tuple[list[int], dict[int, list[int]]]:
    """The planner's attention inputs: the checks' output ids (not excluded), and
    for each the real outputs of the prompt it is shown under, to pair it with."""
    by_prompt: dict[int, list[int]] = defaultdict(list)
    for output in outputs:
        by_prompt[output.prompt].append(output.id)
    ids = [check.output_id for check in checks if not check.output.excluded]
    partners = {check.output_id: by_prompt.get(check.prompt_id, []) for check in checks}
    return ids, partners


def _active_plan_locked(study: Study) -> AssignmentPlan | None:
    return AssignmentPlan.objects.select_for_update().filter(study=study, is_active=True).first()


def _live(plan: AssignmentPlan):
    return Assignment.objects.filter(plan=plan).exclude(status=Status.WITHDRAWN)


def _event_seed(plan: AssignmentPlan) -> int:
    """A seed for one change of a plan: derived from the plan's seed and how many
    changes came before, so that replaying the same changes gives the same result."""
    return (plan.seed * 1_000_003 + plan.events.count()) & 0x7FFFFFFF
