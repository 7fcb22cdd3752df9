"""The study file key by key: each check takes the parsed mapping and the list of
problems, appends any problem naming its key (``rubric.version: …``), and returns
the value to use. ``apps.studies.studyfile`` checks the document as a whole
(unknown top-level keys, slug and title) and builds the spec from these.

No database here either; ``media_normalisation`` is checked with the
generation app's own settings, imported when it is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

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


@dataclass(frozen=True)
class PromptFileSpec:
    file: str
    images_zip: str | None = None
    batch: str | None = None

    @property
    def batch_name(self) -> str:
        return self.batch or self.file


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
