"""Helpers for the collection tests (not a test module)."""

from __future__ import annotations

import io
import re
import tempfile
import threading
from pathlib import Path

import pytest
from PIL import Image

from tests.generation.fakeserver import Recorded, Reply
from tests.services import manage, project_env


def png(seed: int, size: tuple[int, int] = (24, 16)) -> bytes:
    """A small PNG whose pixels depend on ``seed`` (distinct outputs, distinct hashes)."""
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    image.putpixel((0, 0), (seed % 256, (seed >> 8) % 256, (seed >> 16) % 256))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


class ImageAPI:
    """An OpenAI-style ``/v1/images/generations`` that answers after ``delay_s`` with a
    different image for every request, and can be told to refuse some prompts."""

    def __init__(self, *, delay_s: float = 0.0, refuse: str = "", echo_key_on_refusal=False):
        self.delay_s = delay_s
        self.refuse = refuse
        self.echo_key = echo_key_on_refusal
        self._count = 0
        self._lock = threading.Lock()

    def __call__(self, request: Recorded) -> Reply:
        import base64

        with self._lock:
            self._count += 1
            number = self._count
        prompt = request.json().get("prompt", "")
        if self.refuse and self.refuse in prompt:
            auth = request.headers.get("authorization", "")
            detail = f" (key {auth.removeprefix('Bearer ')})" if self.echo_key else ""
            return Reply(
                status=400,
                delay_s=self.delay_s,
                json={
                    "error": {
                        "message": f"prompt refused by the content policy{detail}",
                        "code": "content_policy_violation",
                    }
                },
            )
        data = base64.b64encode(png(number)).decode()
        return Reply(delay_s=self.delay_s, json={"created": number, "data": [{"b64_json": data}]})


def serve_images(server, api: ImageAPI) -> str:
    """Route the fake server's image endpoint to ``api``; returns the base URL."""
    server.on("POST", "/v1/images/generations", api)
    return server.url + "/v1"


def prompts_in(requests: list[Recorded]) -> list[str]:
    return [r.json().get("prompt", "") for r in requests if r.path.endswith("/generations")]


def code_of(prompt_text: str) -> str:
    match = re.search(r"\[(\w+)\]", prompt_text)
    return match[1] if match else ""


# --- real workers -------------------------------------------------------------------

SEED = """
from apps.registry.models import ModelEndpoint
from apps.registry.services import study_endpoints_link
from apps.studies.models import Prompt, PromptBatch, Rubric, Study
rubric = Rubric.objects.create(code="worker-test", name_zh="测试量表")
study = Study.objects.create(title="Worker test", slug={slug!r}, rubric=rubric, replicates=1)
batch = PromptBatch.objects.create(study=study, name="batch")
Prompt.objects.bulk_create([
    Prompt(study=study, batch=batch, code=f"P{{i:03d}}", media="image", position=i,
           text_zh=f"{prefix} [P{{i:03d}}]" + (" REFUSE" if i in {refuse} else ""))
    for i in range({prompts})
])
endpoint = ModelEndpoint.objects.create(name="Fake images", slug="fake-images",
    adapter="openai-images", base_url={base_url!r}, model_id="fake-image-1",
    params={{"dialect": "compatible"}}, concurrency_limit={limit}, timeout_s={timeout_s},
    api_key_env={key_env!r})
endpoint.full_clean()
study_endpoints_link(study=study, endpoints=[endpoint])
if {start}:
    from django.core.management import call_command
    call_command("collect", study.slug)
"""


def seed_script(
    *,
    slug: str,
    prompts: int,
    base_url: str,
    limit: int,
    timeout_s: int = 5,
    key_env: str = "",
    prefix: str = "溪山行旅",
    refuse: tuple[int, ...] = (),
    start: bool = False,
) -> str:
    """Python for ``manage.py shell -c``: a study of ``prompts`` prompts (those numbered
    in ``refuse`` say REFUSE) and one openai-images endpoint at ``base_url``; with
    ``start``, the collection is started too (``manage.py collect``)."""
    return SEED.format(
        slug=slug,
        prompts=prompts,
        base_url=base_url,
        limit=limit,
        timeout_s=timeout_s,
        key_env=key_env,
        prefix=prefix,
        refuse=set(refuse) or "()",
        start=start,
    )


def status_counts_sqlite(path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=20) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM generation_generation GROUP BY status"
        ).fetchall()
    return dict(rows)


def status_counts_postgres(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM generation_generation GROUP BY status"
        ).fetchall()
    return dict(rows)


def all_finished(counts: dict[str, int], total: int) -> bool:
    return counts.get("succeeded", 0) + counts.get("failed", 0) == total


# --- migrated databases, made once per session and copied per test -----------------


# Test modules import these fixtures, and pytest then makes one per module: the cache
# keeps it to one migration per session.
_migrated: dict[str, object] = {}


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A migrated SQLite database file; copy it into a test's var folder."""
    if "sqlite" not in _migrated:
        folder = tmp_path_factory.mktemp("sqlite-template")
        env = project_env(EVALSITE_VAR_DIR=str(folder))
        manage("migrate", "--no-input", env=env, timeout=300)
        _migrated["sqlite"] = folder / "evalsite.sqlite3"
    return _migrated["sqlite"]


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server) -> str:
    """The name of a migrated PostgreSQL database to clone with :func:`postgres_clone`."""
    key = f"postgres:{postgres_server.port}"
    if key not in _migrated:
        name = "generation_template"
        url = postgres_server.create_database(name)
        env = project_env(EVALSITE_VAR_DIR=tempfile.mkdtemp(), DATABASE_URL=url)
        manage("migrate", "--no-input", env=env, timeout=300)
        _migrated[key] = name
    return _migrated[key]


def postgres_clone(server, template: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return server.url(name)


def redis_db(url: str, number: int) -> str:
    """``url`` pointing at Redis database ``number``, emptied."""
    import redis

    url = url.rsplit("/", 1)[0] + f"/{number}"
    redis.Redis.from_url(url).flushdb()
    return url


def make_generations(endpoint, count: int = 1) -> list:
    """``count`` pending generations of a new study linked to ``endpoint``, due now."""
    from django.utils import timezone

    from apps.generation.models import Generation
    from tests.registry.factories import link_endpoints
    from tests.studies.factories import PromptFactory, StudyFactory

    study = StudyFactory()
    link_endpoints(study, endpoint)
    now = timezone.now()
    return [
        Generation.objects.create(
            study=study,
            prompt=PromptFactory(study=study, code=f"P{i}", text_zh=f"富春山居 [P{i}]"),
            endpoint=endpoint,
            seed=i,
            next_attempt_at=now,
        )
        for i in range(count)
    ]


def make_due(generation) -> None:
    """As if the countdown had run out."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.generation.models import Generation

    Generation.objects.filter(pk=generation.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
