"""Writes of the blind side: building the assignment plan from the database,
changing it when experts leave or join, excluding outputs, opening an item.

The plan itself is computed by the pure functions of :mod:`apps.blinding.planning`;
this package reads their inputs from the database, writes their result, and keeps
the rules the planner cannot see (nothing judged yet before a rebuild, unstarted
work only is moved, every change is recorded in :class:`PlanEvent`).

Errors an organizer can fix are raised as :class:`PlanRefused` with a message fit
to show them.

The public services are imported from here; the modules behind them are
:mod:`.plan` (building a plan), :mod:`.experts` (experts joining and leaving),
:mod:`.outputs` (excluding and including outputs), :mod:`.opening` (an expert
opening an item), with the shared :mod:`.inputs` (reading the planner's inputs
and the active plan) and :mod:`.queues` (writing and reassigning queue items).
"""

from apps.blinding.services.errors import PlanRefused
from apps.blinding.services.experts import expert_join, expert_leave
from apps.blinding.services.opening import assignment_opened
from apps.blinding.services.outputs import output_exclude, output_include
from apps.blinding.services.plan import MAX_QC_RATE, assignment_plan_build

__all__ = [
    "MAX_QC_RATE",
    "PlanRefused",
    "assignment_opened",
    "assignment_plan_build",
    "expert_join",
    "expert_leave",
    "output_exclude",
    "output_include",
]
