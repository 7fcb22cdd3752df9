"""A study to and from a folder of files: ``study.yaml`` plus its prompt files.

:func:`study_load` creates or updates a study from a study file (see
``studyfile``), importing its prompt files with the prompt-batch import service
and its endpoints with the registry's; :func:`study_export` writes a study back
so that loading the folder reproduces it.

Idempotent. A prompt file is matched to a batch of the study by batch name
(``batch:``, default the file name without its suffix). A batch whose file is
byte-identical to what was imported (same sha256) or to what ``study_export``
writes for it is left alone. A changed file is an error once the study has left
draft (its prompts may have generations); in draft the batch is replaced: its
prompts are deleted and the file imported again, so the file is the truth while
a study is being prepared. Batches of the study that the file does not list are
kept and reported (removing prompts is done in the admin, on purpose).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.registry.services import endpoints_export, endpoints_sync
from apps.studies.exports import prompts_to_csv
from apps.studies.imports import ImportErrors, prompt_batch_import
from apps.studies.models import Prompt, PromptBatch, Rubric, Study, TagSet
from apps.studies.services import StudyError, study_accepts_prompts, study_save
from apps.studies.studyfile import (
    PromptFileSpec,
    StudyFileError,
    StudySpec,
    study_file_dump,
    study_file_parse,
)

STUDY_FILE = "study.yaml"
# study field -> the study-file key that sets it
KEY_OF_FIELD = {
    "slug": "slug",
    "title": "title",
    "description": "description",
    "protocol": "protocol",
    "media_kind": "media",
    "rubric": "rubric",
    "tag_set": "tag_set",
    "ratings_per_item": "k",
    "replicates": "replicates",
    "media_normalisation": "media_normalisation",
}


@dataclass
class LoadReport:
    study: Study
    created: bool = False
    changed_fields: list[str] = field(default_factory=list)
    imported: list[tuple[str, int]] = field(default_factory=list)  # (batch, prompts)
    replaced: list[tuple[str, int]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_in_file: list[str] = field(default_factory=list)
    endpoints: int | None = None

    def changed(self) -> bool:
        return bool(self.created or self.changed_fields or self.imported or self.replaced)


@dataclass(frozen=True)
class _PromptFile:
    spec: PromptFileSpec
    index: int
    data: bytes
    images_zip: bytes | None

    @property
    def batch_name(self) -> str:
        return self.spec.batch or PurePosixPath(self.spec.file.replace("\\", "/")).stem

    @property
    def where(self) -> str:
        return f"prompts[{self.index}]"


def _read(base: Path, name: str, key: str, problems: list[str]) -> bytes:
    path = base / name
    try:
        return path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{key}: file not found: {path}")
    except (IsADirectoryError, PermissionError) as exc:
        problems.append(f"{key}: cannot read {path}: {exc.strerror}")
    return b""


def study_load(*, path: Path, by=None) -> LoadReport:
    """Create or update the study that the study file at ``path`` describes.

    Raises :class:`StudyFileError` (every message names its key: ``rubric: …``,
    ``prompts[0].file: …``, ``endpoints[1].name: …``); nothing is written then.
    Missing files and unknown rubric or tag-set codes are reported together.
    """
    path = Path(path)
    source = path.name
    problems: list[str] = []
    text = _read(path.parent, path.name, "(file)", problems)
    if problems:
        raise StudyFileError(problems, source=source)
    spec = study_file_parse(text, source=source)
    files = []
    for index, entry in enumerate(spec.prompts):
        where = f"prompts[{index}]"
        data = _read(path.parent, entry.file, f"{where}.file", problems)
        images = (
            _read(path.parent, entry.images_zip, f"{where}.images_zip", problems)
            if entry.images_zip
            else None
        )
        files.append(_PromptFile(spec=entry, index=index, data=data, images_zip=images or None))
    existing = Study.objects.select_related("rubric").filter(slug=spec.slug).first()
    problems += [
        found
        for found in (_rubric_for(spec, existing), _tag_set_for(spec))
        if isinstance(found, str)
    ]
    if problems:
        raise StudyFileError(problems, source=source)
    return study_apply(spec=spec, files=files, by=by, source=source)


def _rubric_for(spec: StudySpec, study: Study | None) -> Rubric | str:
    rubrics = Rubric.objects.filter(code=spec.rubric)
    if spec.rubric_version is not None:
        rubric = rubrics.filter(version=spec.rubric_version).first()
        if rubric is None:
            known = sorted(rubrics.values_list("version", flat=True))
            return (
                f"rubric.version: rubric {spec.rubric!r} has no version {spec.rubric_version}"
                + (f" (it has {', '.join(map(str, known))})" if known else "")
            )
        return rubric
    if study is not None and study.rubric.code == spec.rubric:
        return study.rubric  # no version named: keep the one the study has
    rubric = rubrics.order_by("-version").first()
    if rubric is None:
        known = sorted(set(Rubric.objects.values_list("code", flat=True)))
        return f"rubric: no rubric with code {spec.rubric!r} (known: {', '.join(known)})"
    return rubric


def _tag_set_for(spec: StudySpec) -> TagSet | str | None:
    if spec.tag_set is None:
        return None
    tag_set = TagSet.objects.filter(code=spec.tag_set).first()
    if tag_set is None:
        known = sorted(TagSet.objects.values_list("code", flat=True))
        return f"tag_set: no tag set with code {spec.tag_set!r} (known: {', '.join(known)})"
    return tag_set


def _study_write(spec: StudySpec, by, source: str) -> tuple[Study, bool, list[str]]:
    study = Study.objects.select_for_update().filter(slug=spec.slug).first()
    rubric = _rubric_for(spec, study)
    tag_set = _tag_set_for(spec)
    problems = [found for found in (rubric, tag_set) if isinstance(found, str)]
    if problems:
        raise StudyFileError(problems, source=source)
    values: dict[str, Any] = {
        "slug": spec.slug,
        "title": spec.title,
        "description": spec.description,
        "protocol": spec.protocol,
        "media_kind": spec.media,
        "rubric": rubric,
        "tag_set": tag_set,
        "ratings_per_item": spec.k,
        "replicates": spec.replicates,
        "media_normalisation": spec.media_normalisation,
    }
    created = study is None
    target = Study() if created else Study.objects.get(pk=study.pk)
    changed = [name for name, value in values.items() if getattr(target, name, None) != value]
    if created or changed:
        for name, value in values.items():
            setattr(target, name, value)
        try:
            study_save(study=target, by=by)
        except StudyError as exc:
            key = KEY_OF_FIELD.get(exc.field or "", "(study)")
            raise StudyFileError([f"{key}: {exc.message}"], source=source) from exc
    return target, created, [] if created else [KEY_OF_FIELD[name] for name in changed]


def _batch_unchanged(study: Study, batch: PromptBatch, file: _PromptFile) -> bool:
    if batch.source_sha256 == hashlib.sha256(file.data).hexdigest():
        return True
    return prompts_to_csv(study, batch=batch) == file.data


def _import_errors(exc: ImportErrors, file: _PromptFile, source: str) -> StudyFileError:
    shown = [f"{file.where}.file ({file.spec.file}): {error}" for error in exc.errors[:50]]
    if len(exc.errors) > 50:
        shown.append(f"{file.where}.file: … and {len(exc.errors) - 50} more problems")
    return StudyFileError(shown, source=source)


@transaction.atomic
def study_apply(
    *, spec: StudySpec, files: list[_PromptFile], by=None, source: str = STUDY_FILE
) -> LoadReport:
    """Write a parsed study file (with its prompt files read) to the database."""
    study, created, changed = _study_write(spec, by, source)
    report = LoadReport(study=study, created=created, changed_fields=changed)
    listed = set()
    for file in files:
        listed.add(file.batch_name)
        batch = study.batches.filter(name=file.batch_name).first()
        if batch is not None and _batch_unchanged(study, batch, file):
            report.unchanged.append(file.batch_name)
            continue
        if batch is not None and study.status != Study.Status.DRAFT:
            raise StudyFileError(
                [
                    f"{file.where}.file: {file.spec.file!r} differs from the batch "
                    f"{file.batch_name!r} loaded before, and study {study.slug!r} is "
                    f"{study.status}: prompts can be replaced only while it is a draft"
                ],
                source=source,
            )
        if batch is None and not study_accepts_prompts(study):
            raise StudyFileError(
                [
                    f"{file.where}: batch {file.batch_name!r} is new, and study "
                    f"{study.slug!r} is {study.status}: prompts can be added only while "
                    "it is a draft or collecting"
                ],
                source=source,
            )
        if batch is not None:
            batch.delete()
        try:
            result = prompt_batch_import(
                study=study,
                data=file.data,
                filename=PurePosixPath(file.spec.file.replace("\\", "/")).name,
                images_zip=file.images_zip,
                user=by if getattr(by, "pk", None) else None,
                batch_name=file.batch_name,
            )
        except ImportErrors as exc:
            raise _import_errors(exc, file, source) from exc
        (report.replaced if batch is not None else report.imported).append(
            (file.batch_name, result.created)
        )
    report.not_in_file = [
        name for name in study.batches.values_list("name", flat=True) if name not in listed
    ]
    if spec.endpoints is not None:
        try:
            report.endpoints = len(endpoints_sync(study=study, specs=spec.endpoints))
        except ValidationError as exc:
            raise StudyFileError(list(exc.messages), source=source) from exc
    return report


# --- export -------------------------------------------------------------------------

# a fixed time stamp makes the ZIP of the same images the same bytes every time
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _images_zip(study: Study, batch: PromptBatch) -> bytes | None:
    prompts = Prompt.objects.filter(study=study, batch=batch).exclude(reference_image="")
    prompts = list(prompts.order_by("position", "id"))
    if not prompts:
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for prompt in prompts:
            info = zipfile.ZipInfo(PurePosixPath(prompt.reference_image.name).name, _ZIP_TIME)
            with prompt.reference_image.open("rb") as image:
                archive.writestr(info, image.read())
    return buffer.getvalue()


def _endpoints_sorted(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # by name, not in the registry's blind-label order: labels are drawn per study
    # id, so a study loaded afresh would list the same endpoints in another order
    return sorted(specs, key=lambda spec: str(spec.get("name", "")))


def study_export_files(study: Study) -> dict[str, bytes]:
    """The files that describe ``study``: ``study.yaml``, one CSV per prompt batch
    (``prompts.csv``, ``prompts-2.csv``, …) and a ZIP of each batch's reference
    images, if it has any. Loading them reproduces the study (not its status,
    memberships or results)."""
    files: dict[str, bytes] = {}
    entries = []
    for number, batch in enumerate(study.batches.order_by("created_at", "id"), start=1):
        suffix = "" if number == 1 else f"-{number}"
        csv_name = f"prompts{suffix}.csv"
        files[csv_name] = prompts_to_csv(study, batch=batch)
        images = _images_zip(study, batch)
        zip_name = None
        if images is not None:
            zip_name = f"references{suffix}.zip"
            files[zip_name] = images
        entries.append(PromptFileSpec(file=csv_name, images_zip=zip_name, batch=batch.name))
    spec = StudySpec(
        slug=study.slug,
        title=study.title,
        description=study.description,
        protocol=study.protocol,
        media=study.media_kind,
        rubric=study.rubric.code,
        rubric_version=study.rubric.version,
        tag_set=study.tag_set.code if study.tag_set else None,
        k=study.ratings_per_item,
        replicates=study.replicates,
        media_normalisation=study.media_normalisation or {},
        prompts=tuple(entries),
        endpoints=_endpoints_sorted(endpoints_export(study)) or None,
    )
    files[STUDY_FILE] = study_file_dump(spec).encode("utf-8")
    return files


def study_export(*, study: Study, out_dir: Path) -> list[Path]:
    """Write :func:`study_export_files` into ``out_dir`` (created if need be);
    returns the paths written, ``study.yaml`` first."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = study_export_files(study)
    written = []
    for name in [STUDY_FILE, *sorted(set(files) - {STUDY_FILE})]:
        target = out_dir / name
        target.write_bytes(files[name])
        written.append(target)
    return written
