"""Quality control: attention-check media, what counts as passing a check or
answering a repeat consistently, and each expert's results so far.

An attention check is an output deliberately degraded — a blank sheet, a heavy
blur of a real answer, or a real answer to a *different* prompt — whose expected
answer is known. To an expert it must look like any other item: it is an
``Output`` row (same ``/m/<public_id>`` URL shape), its pixels go through the
same sanitiser in the same format and size as the study's real outputs, and it
is stored under its content hash like them. Only :class:`AttentionCheck`, which
no expert-facing code reads, says what it is.

Images get all three degradations (Pillow); videos and texts only "wrong
prompt", which needs no re-encoding.
"""

from __future__ import annotations

import io
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from PIL import Image, ImageFilter

from apps.blinding.models import Assignment, AssignmentPlan, AttentionCheck
from apps.generation import storage
from apps.generation.models import Generation, Output
from apps.generation.sanitize import ImageNorm, sanitize_image
from apps.studies.models import Dimension, MediaKind, Study

Degradation = AttentionCheck.Degradation

IMAGE_DEGRADATIONS = (Degradation.BLANK, Degradation.BLUR, Degradation.WRONG_PROMPT)
OTHER_DEGRADATIONS = (Degradation.WRONG_PROMPT,)
PAPER = (236, 228, 210)  # an untouched sheet of xuan paper, roughly


class AttentionUnavailable(RuntimeError):
    """Attention checks cannot be made (yet) for this study or this schema."""


def attention_checks_available() -> bool:
    """Attention outputs are Output rows without a generation; that needs
    ``Output.generation`` to be nullable (requested from the generation app)."""
    return Output._meta.get_field("generation").null


# --- pixels (pure) ------------------------------------------------------------------


def blank_image(width: int, height: int, *, seed: int) -> Image.Image:
    """A blank sheet: paper colour with a faint grain (so it is not a flat fill that
    compresses to a telltale few bytes), the same for the same seed."""
    noise = Image.frombytes("L", (width, height), random.Random(seed).randbytes(width * height))
    return Image.merge(
        "RGB",
        [noise.point(lambda v, base=base: base - 3 + v * 7 // 256) for base in PAPER],
    )


def heavy_blur(image: Image.Image) -> Image.Image:
    """So blurred that nothing of the brushwork is left."""
    radius = max(6, max(image.size) // 20)
    return image.convert("RGB").filter(ImageFilter.GaussianBlur(radius))


def _format_of(content_type: str) -> str:
    return {"image/jpeg": "jpeg", "image/webp": "webp"}.get(content_type, "png")


# --- expected answers ----------------------------------------------------------------


def low_score_threshold(dimension: Dimension) -> int:
    """The highest score an attentive expert might still give a degraded output:
    the bottom quarter of the scale (2 on 1–5, 25 on 0–100)."""
    return dimension.scale_min + (dimension.scale_max - dimension.scale_min) // 4


def expected_answer(study: Study) -> dict[str, Any]:
    """What passes an attention check in ``study`` (stored with the check)."""
    dimensions = list(study.rubric.dimensions.all())
    judged = [d for d in dimensions if d.holistic] or dimensions
    return {
        "rating_at_most": {d.code: low_score_threshold(d) for d in judged},
        "pair": ["other", "both_poor"],
        "problem_report_passes": True,
    }


def attention_passed(
    expected: Mapping[str, Any],
    *,
    kind: str,
    check_side: str,
    scores: Mapping[str, int | None] | None = None,
    choice: str = "",
    problem_reported: bool = False,
) -> bool:
    """Whether a submitted judgment passes an attention check.

    ``scores`` maps dimension code to value (None for N/A); ``check_side`` is
    "left" or "right", the side of the degraded output in a pair.
    """
    if problem_reported and expected.get("problem_report_passes", True):
        return True
    if kind == "pair":
        allowed = set(expected.get("pair", ["other", "both_poor"]))
        other = "right" if check_side == "left" else "left"
        return (choice == other and "other" in allowed) or (
            choice == "both_poor" and "both_poor" in allowed
        )
    limits = expected.get("rating_at_most", {})
    scores = scores or {}
    judged = [code for code in limits if code in scores]
    if not judged:
        return False
    return all(scores[code] is None or scores[code] <= limits[code] for code in judged)


MIRROR = {"left": "right", "right": "left", "tie": "tie", "both_poor": "both_poor"}


def repeat_tolerance(scale_min: int, scale_max: int) -> int:
    """How far a repeated score may move and still count as consistent: one
    point on short scales, a tenth of the range on long ones."""
    return max(1, round((scale_max - scale_min) / 10))


def repeat_consistent(
    *,
    kind: str,
    first_scores: Mapping[str, int | None] | None = None,
    again_scores: Mapping[str, int | None] | None = None,
    tolerances: Mapping[str, int] | None = None,
    first_choice: str = "",
    again_choice: str = "",
) -> bool:
    """Whether the answer to a repeated item agrees with the first answer. Pairs
    are repeated with sides swapped, so the same preference is the mirrored choice."""
    if kind == "pair":
        return MIRROR.get(first_choice) == again_choice
    first_scores, again_scores = first_scores or {}, again_scores or {}
    tolerances = tolerances or {}
    for code in set(first_scores) & set(again_scores):
        a, b = first_scores[code], again_scores[code]
        if a is None or b is None:
            if (a is None) != (b is None):
                return False
            continue
        if abs(a - b) > tolerances.get(code, 1):
            return False
    return True


# --- making the outputs ----------------------------------------------------------


def _real_outputs(study: Study) -> list[Output]:
    return list(
        Output.objects.filter(
            generation__study=study,
            generation__status=Generation.Status.SUCCEEDED,
            excluded=False,
        )
        .select_related("generation")
        .order_by("id")
    )


def _attention_output_new(*, fields: dict[str, Any]) -> Output:
    """The one place that makes an Output that is not a generation's answer."""
    if not attention_checks_available():
        raise AttentionUnavailable(
            "attention checks need Output.generation to be nullable "
            "(requested in var/requests-blinding.txt); build the plan without them for now"
        )
    return Output.objects.create(generation=None, **fields)


def _image_fields(image: Image.Image, content_type: str) -> dict[str, Any]:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    item = sanitize_image(buf.getvalue(), normalise=ImageNorm(format=_format_of(content_type)))
    name = storage.output_name(item.sha256, item.extension)
    storage.output_write(name, item.content)
    return {
        "sha256": item.sha256,
        "file": name,
        "content_type": item.content_type,
        "width": item.width,
        "height": item.height,
        "duration_s": None,
    }


def _copied_fields(source: Output) -> dict[str, Any]:
    return {
        "sha256": source.sha256,
        "file": source.file.name if source.file else "",
        "content_type": source.content_type,
        "width": source.width,
        "height": source.height,
        "duration_s": source.duration_s,
        "fps": source.fps,
        "text": source.text,
        "text_flags": list(source.text_flags or []),
    }


def _degraded_fields(degradation: str, source: Output, seed: int) -> dict[str, Any]:
    if degradation == Degradation.WRONG_PROMPT:
        return _copied_fields(source)
    width, height = source.width or 1024, source.height or 1024
    if degradation == Degradation.BLANK or not source.file:
        return _image_fields(blank_image(width, height, seed=seed), source.content_type)
    with source.file.open("rb") as handle, Image.open(handle) as image:
        image.load()
        return _image_fields(heavy_blur(image), source.content_type)


def _plan_checks(
    study: Study, outputs: list[Output], count: int, rng: random.Random
) -> Iterable[tuple[str, int, Output]]:
    """(degradation, prompt id shown, source output) for ``count`` new checks."""
    by_prompt: dict[int, list[Output]] = {}
    for output in outputs:
        by_prompt.setdefault(output.generation.prompt_id, []).append(output)
    prompts = sorted(by_prompt)
    kinds = IMAGE_DEGRADATIONS if study.media_kind == MediaKind.IMAGE else OTHER_DEGRADATIONS
    if len(prompts) < 2:
        kinds = tuple(k for k in kinds if k != Degradation.WRONG_PROMPT)
    if not kinds or not prompts:
        return
    order = list(prompts)
    rng.shuffle(order)
    for index in range(count):
        degradation = kinds[index % len(kinds)]
        prompt_id = order[index % len(order)]
        if degradation == Degradation.WRONG_PROMPT:
            others = [p for p in prompts if p != prompt_id]
            source = rng.choice(by_prompt[rng.choice(others)])
        else:
            source = rng.choice(by_prompt[prompt_id])
        yield degradation, prompt_id, source


@transaction.atomic
def attention_outputs_ensure(*, study: Study, count: int, seed: int) -> list[AttentionCheck]:
    """At least ``count`` attention checks for ``study``: the existing ones, plus new
    ones made reproducibly from ``seed``. Returns all of the study's checks."""
    existing = list(AttentionCheck.objects.filter(study=study).order_by("id"))
    missing = count - len(existing)
    if missing <= 0:
        return existing
    outputs = _real_outputs(study)
    if not outputs:
        raise AttentionUnavailable("the study has no outputs to make attention checks from")
    rng = random.Random(f"attention:{study.pk}:{seed}:{len(existing)}")
    expected = expected_answer(study)
    made = []
    for degradation, prompt_id, source in _plan_checks(study, outputs, missing, rng):
        output = _attention_output_new(
            fields=_degraded_fields(degradation, source, rng.randrange(2**31))
        )
        made.append(
            AttentionCheck.objects.create(
                study=study,
                output=output,
                prompt_id=prompt_id,
                degradation=degradation,
                source=source,
                expected=expected,
            )
        )
    if not made:
        raise AttentionUnavailable("no attention check can be made for this study's media")
    return existing + made


def attention_count_for(*, queue_length: int, rate: float) -> int:
    """How many distinct checks a study needs so that one expert sees none twice."""
    return max(3, math.ceil(queue_length * rate) + 1)


# --- results so far ------------------------------------------------------------------


def qc_results(plan: AssignmentPlan) -> dict[int, dict[str, Counter]]:
    """Per expert: attention checks passed / failed, repeats consistent / not."""
    from apps.scoring.models import PairwiseJudgment, ProblemReport, Rating

    results: dict[int, dict[str, Counter]] = defaultdict(
        lambda: {"attention": Counter(), "repeat": Counter()}
    )
    qc_items = list(
        Assignment.objects.filter(plan=plan, qc__in=[Assignment.QC.ATTENTION, Assignment.QC.REPEAT])
        .exclude(status=Assignment.Status.WITHDRAWN)
        .values("id", "expert_id", "kind", "qc", "status", "left_id", "right_id", "repeat_of_id")
    )
    wanted = {row["id"] for row in qc_items} | {
        row["repeat_of_id"] for row in qc_items if row["repeat_of_id"]
    }
    scores: dict[int, dict[str, int | None]] = defaultdict(dict)
    rated = Rating.objects.filter(assignment_id__in=wanted)
    for assignment_id, code, value in rated.values_list(
        "assignment_id", "scores__dimension__code", "scores__value"
    ):
        if code is not None:
            scores[assignment_id][code] = value
    problems = dict(rated.values_list("assignment_id", "problem"))
    choices = dict(
        PairwiseJudgment.objects.filter(assignment_id__in=wanted).values_list(
            "assignment_id", "choice"
        )
    )
    problems.update(
        PairwiseJudgment.objects.filter(assignment_id__in=wanted).values_list(
            "assignment_id", "problem"
        )
    )
    reported = set(
        ProblemReport.objects.filter(assignment_id__in=wanted).values_list(
            "assignment_id", flat=True
        )
    )
    expected = dict(
        AttentionCheck.objects.filter(study_id=plan.study_id).values_list("output_id", "expected")
    )
    tolerances = {
        d.code: repeat_tolerance(d.scale_min, d.scale_max)
        for d in plan.study.rubric.dimensions.all()
    }
    for row in qc_items:
        counts = results[row["expert_id"]]
        if row["status"] != Assignment.Status.DONE:
            counts[row["qc"]]["pending"] += 1
            continue
        if row["qc"] == Assignment.QC.ATTENTION:
            side = "left" if row["left_id"] in expected else "right"
            check = expected.get(row["left_id"]) or expected.get(row["right_id"]) or {}
            passed = attention_passed(
                check,
                kind=row["kind"],
                check_side=side,
                scores=scores.get(row["id"]),
                choice=choices.get(row["id"], ""),
                problem_reported=bool(problems.get(row["id"])) or row["id"] in reported,
            )
            counts["attention"]["passed" if passed else "failed"] += 1
            continue
        original = row["repeat_of_id"]
        if original is None or (original not in scores and original not in choices):
            counts["repeat"]["pending"] += 1
            continue
        consistent = repeat_consistent(
            kind=row["kind"],
            first_scores=scores.get(original),
            again_scores=scores.get(row["id"]),
            tolerances=tolerances,
            first_choice=choices.get(original, ""),
            again_choice=choices.get(row["id"], ""),
        )
        counts["repeat"]["consistent" if consistent else "inconsistent"] += 1
    return results
