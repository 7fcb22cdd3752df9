"""A study as one YAML file: parse and validate it, and write it back.

No database here: :func:`study_file_parse` turns text into a :class:`StudySpec`
(or raises :class:`StudyFileError` listing every problem, each naming its key),
:func:`study_file_dump` turns a spec into text. ``apps.studies.loading`` applies
a spec to the database and builds one from a study.

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
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

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
PROMPT_KEYS = ("file", "images_zip", "batch")
# media_normalisation: what each setting of the sanitiser's ImageNorm / VideoNorm holds
NORM_SETTINGS = {
    "format": "text",
    "fit": "text",
    "max_side": "a whole number",
    "quality": "a whole number",
    "crf": "a whole number",
    "fps": "a number",
    "max_duration_s": "a number",
    "keep_audio": "true or false",
    "size": "[width, height]",
    "background": "[red, green, blue]",
}
MAX_K = 1000
HEADER = "# evalsite study file: python manage.py study_load <this file>\n"


class StudyFileError(ValueError):
    """The study file cannot be used; ``errors`` lists every problem, each
    starting with the key it is about."""

    def __init__(self, errors: list[str], *, source: str = "study file") -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__("\n".join(f"{source}: {error}" for error in self.errors))


@dataclass(frozen=True)
class PromptFileSpec:
    file: str
    images_zip: str | None = None
    batch: str | None = None

    @property
    def batch_name(self) -> str:
        return self.batch or self.file


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(data: dict, key: str, errors: list[str], *, required: bool = False) -> str:
    value = data.get(key)
    if value is None:
        if required:
            errors.append(f"{key}: required")
        return ""
    if not isinstance(value, str):
        errors.append(f"{key}: must be text, got {type(value).__name__} {value!r}")
        return ""
    if required and not value.strip():
        errors.append(f"{key}: must not be empty")
    return value


def _choice(data: dict, key: str, choices: tuple[str, ...], default: str, errors: list[str]):
    value = data.get(key, default)
    if value not in choices:
        errors.append(f"{key}: must be one of {', '.join(choices)}; got {value!r}")
    return value


def _count(data: dict, key: str, default: int, errors: list[str]) -> int:
    value = data.get(key, default)
    if not _is_int(value) or not 1 <= value <= MAX_K:
        errors.append(f"{key}: must be a whole number from 1 to {MAX_K}; got {value!r}")
        return default
    return value


def _rubric(data: dict, errors: list[str]) -> tuple[str, int | None]:
    value = data.get("rubric")
    if value is None:
        errors.append("rubric: required (a rubric code, or {code: …, version: …})")
        return "", None
    if isinstance(value, str) and value.strip():
        return value.strip(), None
    if isinstance(value, dict):
        unknown = sorted(set(map(str, value)) - {"code", "version"})
        if unknown:
            errors.append(f"rubric.{unknown[0]}: unknown key (expected code, version)")
        code, version = value.get("code"), value.get("version")
        if not isinstance(code, str) or not code.strip():
            errors.append("rubric.code: required, a rubric code")
            code = ""
        if version is not None and (not _is_int(version) or version < 1):
            errors.append(f"rubric.version: must be a whole number from 1; got {version!r}")
            version = None
        return code.strip(), version
    errors.append(f"rubric: must be a code or {{code: …, version: …}}; got {value!r}")
    return "", None


def _prompts(data: dict, errors: list[str]) -> tuple[PromptFileSpec, ...]:
    value = data.get("prompts", [])
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.append("prompts: must be a list of {file: …, images_zip: …, batch: …}")
        return ()
    specs = []
    for index, entry in enumerate(value):
        where = f"prompts[{index}]"
        if isinstance(entry, str):
            entry = {"file": entry}
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be a file name or {{file: …, images_zip: …, batch: …}}")
            continue
        unknown = sorted(set(map(str, entry)) - set(PROMPT_KEYS))
        if unknown:
            errors.append(f"{where}.{unknown[0]}: unknown key (expected {', '.join(PROMPT_KEYS)})")
        found = []
        for key in PROMPT_KEYS:
            item = entry.get(key)
            if item is not None and (not isinstance(item, str) or not item.strip()):
                errors.append(f"{where}.{key}: must be non-empty text; got {item!r}")
                item = None
            found.append(item)
        if found[0] is None:
            if "file" not in entry:
                errors.append(f"{where}.file: required")
            continue
        specs.append(PromptFileSpec(file=found[0], images_zip=found[1], batch=found[2]))
    names = [spec.batch_name for spec in specs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"prompts: batch {name!r} appears twice; give each entry its own batch")
    return tuple(specs)


def _norm_setting_ok(name: str, value: Any) -> bool:
    """Whether ``value`` has the type that setting ``name`` takes; its range (and
    whether it may be null) is the sanitiser's to check."""
    what = NORM_SETTINGS.get(name)
    if value is None or what is None:
        return True
    if what == "text":
        return isinstance(value, str)
    if what == "a whole number":
        return _is_int(value)
    if what == "a number":
        return _is_int(value) or isinstance(value, float)
    if what == "true or false":
        return isinstance(value, bool)
    length = 2 if name == "size" else 3
    return isinstance(value, list) and len(value) == length and all(map(_is_int, value))


def _media_normalisation(data: dict, errors: list[str]) -> dict[str, Any]:
    """``Study.media_normalisation``, checked here with the sanitiser's own settings so
    that every problem names its key (``media_normalisation.video.fps: …``)."""
    from apps.generation.outputs import media_norms  # generation depends on studies
    from apps.generation.sanitize import ImageNorm, VideoNorm

    key = "media_normalisation"
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(f"{key}: must be a mapping {{image: {{…}}, video: {{…}}}}; got {value!r}")
        return {}
    found = len(errors)
    for kind, settings in value.items():
        norm = {"image": ImageNorm, "video": VideoNorm}.get(kind)
        if norm is None:
            errors.append(f"{key}.{kind}: unknown media kind (expected image, video)")
            continue
        if settings is None:
            continue
        if not isinstance(settings, dict):
            errors.append(f"{key}.{kind}: must be a mapping of settings; got {settings!r}")
            continue
        names = [f.name for f in fields(norm)]
        unknown = sorted(set(map(str, settings)) - set(names))
        if unknown:
            errors.append(f"{key}.{kind}.{unknown[0]}: unknown key (expected {', '.join(names)})")
            continue
        wrong = [name for name, item in settings.items() if not _norm_setting_ok(name, item)]
        for name in wrong:
            errors.append(
                f"{key}.{kind}.{name}: must be {NORM_SETTINGS[name]}; got {settings[name]!r}"
            )
        if wrong:
            continue
        try:
            media_norms({kind: settings})
        except (TypeError, ValueError) as exc:
            errors.append(f"{key}.{kind}: {exc}")
    return value if len(errors) == found else {}


def _endpoints(data: dict, errors: list[str]) -> list[dict[str, Any]] | None:
    if "endpoints" not in data:
        return None
    value = data["endpoints"]
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        errors.append("endpoints: must be a list of mappings (one per model endpoint)")
        return None
    return value


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
