"""A study as one YAML file: parse and validate it, and write it back.

No database here: :func:`study_file_parse` turns text into a :class:`StudySpec`
(or raises :class:`StudyFileError` listing every problem, each naming its key),
:func:`study_file_dump` turns a spec into text. Each key's value is checked in
``apps.studies.studyfile_keys`` (:class:`PromptFileSpec` is defined there and
imported from here). ``apps.studies.loading`` applies a spec to the database and
builds one from a study.

The format (``apps/studies/seed/demo/study.yaml`` is a complete example)::

    slug: classical-demo                # required; letters, digits, - and _
    title: 中国古典名画 · 图像生成盲评     # required
    description: |                      # optional, may span lines
      …
    protocol: rating                    # rating | pairwise | both (default rating)
    media: image                        # image | video | text (default image)
    rubric: classical-painting-v1       # a rubric code, or {code: …, version: 2}
    tag_set: bias-tags-v1               # optional
    k: 3                                # ratings per item (default 3)
    replicates: 1                       # generations per prompt and model (default 1)
    media_normalisation:                # optional: one size and format for every output
      image: {format: png, size: [1024, 683]}        # or max_side; fit, quality, background
      video: {max_side: 720, fps: 24, max_duration_s: 5}   # or size; fit, keep_audio, crf
    prompts:                            # files relative to this YAML file
      - file: prompts.csv
        images_zip: references.zip      # optional
        batch: 经典名画                  # optional; default: the file name
    endpoints: [...]                    # optional; see apps.registry
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from apps.studies.studyfile_keys import (
    PromptFileSpec,
    _choice,
    _count,
    _endpoints,
    _media_normalisation,
    _prompts,
    _rubric,
    _text,
)

PROTOCOLS = ("rating", "pairwise", "both")
MEDIA = ("image", "video", "text")
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
TOP_KEYS = (
    "slug",
    "title",
    "description",
    "protocol",
    "media",
    "rubric",
    "tag_set",
    "k",
    "replicates",
    "media_normalisation",
    "prompts",
    "endpoints",
)
HEADER = "# evalsite study file: python manage.py study_load <this file>\n"


class StudyFileError(ValueError):
    """The study file cannot be used; ``errors`` lists every problem, each
    starting with the key it is about."""

    def __init__(self, errors: list[str], *, source: str = "study file") -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__("\n".join(f"{source}: {error}" for error in self.errors))


@dataclass(frozen=True)
class StudySpec:
    slug: str
    title: str
    rubric: str
    rubric_version: int | None = None
    description: str = ""
    protocol: str = "rating"
    media: str = "image"
    tag_set: str | None = None
    k: int = 3
    replicates: int = 1
    media_normalisation: dict[str, Any] = field(default_factory=dict)
    prompts: tuple[PromptFileSpec, ...] = ()
    endpoints: list[dict[str, Any]] | None = field(default=None, compare=True)


def study_spec_from_dict(data: Any, *, source: str = "study file") -> StudySpec:
    """Validate a parsed study file; raise :class:`StudyFileError` with every problem."""
    if not isinstance(data, dict):
        raise StudyFileError(
            ["(top level): must be a mapping of keys (slug, title, …)"], source=source
        )
    errors: list[str] = []
    for key in data:
        if key not in TOP_KEYS:
            errors.append(f"{key}: unknown key (expected one of {', '.join(TOP_KEYS)})")
    slug = _text(data, "slug", errors, required=True)
    if slug and not SLUG.match(slug):
        errors.append(f"slug: only letters, digits, '-' and '_' are allowed; got {slug!r}")
    if len(slug) > 80:
        errors.append("slug: at most 80 characters")
    title = _text(data, "title", errors, required=True)
    if len(title) > 200:
        errors.append("title: at most 200 characters")
    description = _text(data, "description", errors)
    protocol = _choice(data, "protocol", PROTOCOLS, "rating", errors)
    media = _choice(data, "media", MEDIA, "image", errors)
    rubric, rubric_version = _rubric(data, errors)
    tag_set = data.get("tag_set")
    if tag_set is not None and (not isinstance(tag_set, str) or not tag_set.strip()):
        errors.append(f"tag_set: must be a tag-set code; got {tag_set!r}")
        tag_set = None
    k = _count(data, "k", 3, errors)
    replicates = _count(data, "replicates", 1, errors)
    media_normalisation = _media_normalisation(data, errors)
    prompts = _prompts(data, errors)
    endpoints = _endpoints(data, errors)
    if errors:
        raise StudyFileError(errors, source=source)
    return StudySpec(
        slug=slug,
        title=title,
        description=description,
        protocol=protocol,
        media=media,
        rubric=rubric,
        rubric_version=rubric_version,
        tag_set=tag_set.strip() if tag_set else None,
        k=k,
        replicates=replicates,
        media_normalisation=media_normalisation,
        prompts=prompts,
        endpoints=endpoints,
    )


def study_file_parse(text: str | bytes, *, source: str = "study file") -> StudySpec:
    """Parse the YAML text of a study file (``yaml.safe_load``) and validate it."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise StudyFileError(
                [f"(file): not UTF-8 text ({exc.reason} at byte {exc.start})"], source=source
            ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise StudyFileError([f"(YAML) {where}{problem}"], source=source) from exc
    if data is None:
        raise StudyFileError(["(file): empty; expected slug, title, rubric, …"], source=source)
    return study_spec_from_dict(data, source=source)


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line text as literal blocks, and list items indented
    under their key, so the file reads like the hand-written example."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str):
    style = (
        "|"
        if "\n" in value and not any(line != line.rstrip() for line in value.split("\n"))
        else None
    )
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def study_spec_to_dict(spec: StudySpec) -> dict[str, Any]:
    """The spec as the mapping written to YAML (keys in a fixed order)."""
    data: dict[str, Any] = {"slug": spec.slug, "title": spec.title}
    if spec.description:
        data["description"] = spec.description
    data["protocol"] = spec.protocol
    data["media"] = spec.media
    data["rubric"] = (
        {"code": spec.rubric, "version": spec.rubric_version}
        if spec.rubric_version is not None
        else spec.rubric
    )
    if spec.tag_set:
        data["tag_set"] = spec.tag_set
    data["k"] = spec.k
    data["replicates"] = spec.replicates
    if spec.media_normalisation:
        # keys sorted: a JSON column may hand them back in another order (PostgreSQL's does)
        data["media_normalisation"] = _sorted_keys(spec.media_normalisation)
    data["prompts"] = [
        {
            key: value
            for key, value in (
                ("file", entry.file),
                ("images_zip", entry.images_zip),
                ("batch", entry.batch),
            )
            if value is not None
        }
        for entry in spec.prompts
    ]
    if spec.endpoints:
        data["endpoints"] = spec.endpoints
    return data


def study_file_dump(spec: StudySpec) -> str:
    """The YAML text of ``spec``; parsing it gives ``spec`` back."""
    body = yaml.dump(
        study_spec_to_dict(spec),
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=4096,
    )
    return HEADER + body
