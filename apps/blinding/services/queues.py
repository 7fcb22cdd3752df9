"""Writing experts' queues: creating assignments from planner items, withdrawing
them, and giving withdrawn items to other experts."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from django.utils.translation import gettext as _

from apps.blinding import planning
from apps.blinding.models import Assignment, AssignmentPlan
from apps.blinding.planning import PlanItem
from apps.blinding.services.errors import PlanRefused
from apps.blinding.services.inputs import _event_seed, _live

Status = Assignment.Status


def _queues_write(
    plan: AssignmentPlan,
    queues: dict[int, list[PlanItem]],
    *,
    prompt_of: dict[int, int],
    first_position: dict[int, int] | None = None,
) -> list[Assignment]:
    """Create the assignments of ``queues`` (expert id -> items in order), starting
    each expert at ``first_position`` (default 0); repeats point at their original."""
    first_position = first_position or {}
    rows: list[Assignment] = []
    for expert_id, items in queues.items():
        base = first_position.get(expert_id, 0)
        for index, item in enumerate(items):
            rows.append(
                Assignment(
                    plan=plan,
                    study_id=plan.study_id,
                    expert_id=expert_id,
                    kind=item.kind,
                    prompt_id=prompt_of[item.left],
                    left_id=item.left,
                    right_id=item.right,
                    position=base + index,
                    qc=item.qc,
                )
            )
    created = Assignment.objects.bulk_create(rows)
    at = {(a.expert_id, a.position): a for a in created}
    repeats = []
    for expert_id, items in queues.items():
        base = first_position.get(expert_id, 0)
        for index, item in enumerate(items):
            if item.qc == Assignment.QC.REPEAT and item.repeat_of is not None:
                repeat = at[(expert_id, base + index)]
                repeat.repeat_of = at[(expert_id, base + item.repeat_of)]
                repeats.append(repeat)
    Assignment.objects.bulk_update(repeats, ["repeat_of"])
    return created


def _next_positions(plan: AssignmentPlan, experts: Iterable[int]) -> dict[int, int]:
    positions: dict[int, int] = {expert: 0 for expert in experts}
    rows = Assignment.objects.filter(plan=plan, expert_id__in=positions).values_list(
        "expert_id", "position"
    )
    for expert, position in rows:
        positions[expert] = max(positions[expert], position + 1)
    return positions


def _withdraw(assignments: Sequence[Assignment], reason: str) -> None:
    Assignment.objects.filter(pk__in=[a.pk for a in assignments]).update(
        status=Status.WITHDRAWN, withdrawn_reason=reason
    )


def _holders_and_load(plan: AssignmentPlan, experts: Sequence[int]) -> tuple[dict, Counter]:
    holders: dict[tuple, set] = defaultdict(set)
    load: Counter = Counter({expert: 0 for expert in experts})
    rows = _live(plan).filter(qc="").values_list("expert_id", "kind", "left_id", "right_id")
    for expert, kind, left, right in rows:
        holders[planning.item_key(PlanItem(kind=kind, left=left, right=right))].add(expert)
        if expert in load:
            load[expert] += 1
    return holders, load


def _reassign(plan: AssignmentPlan, items: Sequence[Assignment], experts: Sequence[int]) -> int:
    """Give ``items`` (already withdrawn) to ``experts``, appended to their queues."""
    if not items:
        return 0
    holders, load = _holders_and_load(plan, experts)
    unstarted = [
        (a.expert_id, PlanItem(kind=a.kind, left=a.left_id, right=a.right_id)) for a in items
    ]
    try:
        moved = planning.reassign(
            unstarted, experts, current_load=load, holders=holders, seed=_event_seed(plan)
        )
    except planning.PlanError as exc:
        raise PlanRefused(
            _("无法重新分配：%(reason)s。请先邀请新的专家加入。") % {"reason": exc}
        ) from None
    queues: dict[int, list[PlanItem]] = defaultdict(list)
    for expert, item in moved:
        queues[expert].append(item)
    prompt_of = {a.left_id: a.prompt_id for a in items}
    _queues_write(
        plan, dict(queues), prompt_of=prompt_of, first_position=_next_positions(plan, queues)
    )
    return len(moved)
