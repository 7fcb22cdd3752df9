"""The expert's side: recording that an expert opened an item."""

from __future__ import annotations

from django.utils import timezone

from apps.blinding.models import Assignment


def assignment_opened(*, assignment: Assignment) -> bool:
    """Record when the expert first opened ``assignment`` (a conditional update:
    the first call wins, later ones do nothing). Opened items are not moved to
    experts who join later."""
    return bool(
        Assignment.objects.filter(pk=assignment.pk, first_opened_at__isnull=True).update(
            first_opened_at=timezone.now()
        )
    )
