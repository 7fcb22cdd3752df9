"""The rubric and bias tags as an expert sees them, read once per process.

Every expert request needs the study's rubric: the page draws it, a submit checks
scores and tags against it. A rubric and a tag set are frozen once a study using
them has started scoring (``Rubric.is_locked``: changes then make a new version),
so for such a study what is read here stays true for the life of the process and
is kept, keyed by the rubric's and the tag set's ids and the study's medium.
Before scoring (a study being prepared, its rubric still editable) it is read
every time. A save or delete of a rubric, dimension, tag set or tag in this
process forgets everything kept, which also covers tests that build and roll
back rubrics; a frozen rubric changed by hand from another process (a shell)
reaches the running web processes when they restart.

``ExpertRubric.key`` is a hash of the content: a cache key for what is rendered
from it (the rating page's fields), right whether the rubric is frozen or not.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from apps.studies.models import Study


@dataclass(frozen=True)
class ExpertRubric:
    """Read-only: ``dimensions`` analytic first, holistic last; ``tags`` in order,
    only those for the study's medium."""

    dimensions: tuple[dict[str, Any], ...]
    tags: tuple[dict[str, str], ...]
    key: str

    @property
    def dimension_codes(self) -> frozenset[str]:
        return frozenset(d["code"] for d in self.dimensions)

    @property
    def tag_codes(self) -> tuple[str, ...]:
        return tuple(t["code"] for t in self.tags)


_kept: dict[tuple[int, int | None, str], ExpertRubric] = {}
_lock = threading.Lock()


def expert_rubric(study: Study) -> ExpertRubric:
    """``study``'s rubric dimensions and bias tags, as experts see them."""
    if study.status not in Study.Status.scoring_started():
        return _read(study)
    key = (study.rubric_id, study.tag_set_id, study.media_kind)
    kept = _kept.get(key)
    if kept is None:
        kept = _read(study)
        with _lock:
            _kept[key] = kept
    return kept


def forget(**_signal_kwargs: Any) -> None:
    """Drop everything kept (connected to the rubric models' save and delete)."""
    with _lock:
        _kept.clear()


def _read(study: Study) -> ExpertRubric:
    from apps.studies.models import Dimension, Tag

    dimensions = tuple(
        {
            "id": d.id,
            "code": d.code,
            "name_zh": d.name_zh,
            "name_en": d.name_en,
            "scale_min": d.scale_min,
            "scale_max": d.scale_max,
            "anchors": {
                str(point): d.anchors.get(str(point))
                for point in range(d.scale_min, d.scale_max + 1)
                if isinstance(d.anchors, dict) and str(point) in d.anchors
            },
            "allow_na": d.allow_na,
            "holistic": d.holistic,
        }
        for d in Dimension.objects.filter(rubric_id=study.rubric_id).order_by(
            "holistic", "order", "id"
        )
    )
    tags: tuple[dict[str, str], ...] = ()
    if study.tag_set_id is not None:
        tags = tuple(
            {"code": t.code, "name_zh": t.name_zh, "name_en": t.name_en}
            for t in Tag.objects.filter(tag_set_id=study.tag_set_id).order_by("order", "id")
            if not t.media or study.media_kind in t.media
        )
    content = json.dumps([dimensions, tags], sort_keys=True, ensure_ascii=False)
    return ExpertRubric(
        dimensions=dimensions, tags=tags, key=hashlib.sha256(content.encode()).hexdigest()[:20]
    )
