"""Benchmark: server time of the expert's rating page on PostgreSQL (not collected
by pytest: timings depend on the machine).

    cd /work/main && .venv/bin/python tests/bench/bench_rating_page.py
    .venv/bin/python tests/bench/bench_rating_page.py --iterations 1000 --profile
    .venv/bin/python tests/bench/bench_rating_page.py --profile submit --profile-sort tottime

A study of the issue's size — 45 prompts × 3 models, 30 experts, k = 3, rating
and pairwise protocols, repeats (and attention checks when the schema allows
them), the seeded 12-dimension classical-painting rubric and the bias tag set —
on a throw-away PostgreSQL server started as ``tests/services.py`` does. One
expert has done half of their queue (the pages then show stored judgments) and
has a draft on the item measured.

The measured part is Django's test ``Client`` in-process, the full middleware
stack included (sessions, auth, CSRF, locale, CSP, login throttling): GET
``/a/<public_id>/`` for the expert's rating items in turn, after a warm-up.
Prints the wall-clock median, p95 and min per request, and — because on a shared
2-core machine other processes stretch the wall clock — the median CPU time of
this process and the median time spent waiting for PostgreSQL; then the SQL
queries of one render and the page size; for the rating page, the pairwise page
and the dashboard. Goal: median < 50 ms for the rating page.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.services import PostgresServer, postgres_bindir  # noqa: E402

GOAL_MS = 50.0


def django_setup(database_url: str, var_dir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "evalsite.settings",
            "DATABASE_URL": database_url,
            "EVALSITE_VAR_DIR": str(var_dir),
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()


def _png_file(key: int) -> str:
    """A small stored PNG (attention checks are made from real outputs' pixels)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    image = Image.new("RGB", (192, 128), ((key * 37) % 256, (key * 91) % 256, (key * 13) % 256))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return default_storage.save(
        f"outputs/{key % 256:02x}/{key:064x}.png", ContentFile(buffer.getvalue())
    )


def study_build(*, prompts: int, models: int, experts: int, k: int, seed: int):
    """The study, its outputs (no files: the page only names their URLs), the experts
    (consented) and the plan. Returns (study, [expert, ...])."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from apps.accounts.services import consent_record
    from apps.blinding import qc
    from apps.blinding.services import assignment_plan_build
    from apps.generation.models import Generation, Output
    from apps.registry.models import ModelEndpoint
    from apps.registry.services import study_endpoints_link
    from apps.studies.models import Membership, Prompt, PromptBatch, Rubric, Study, TagSet

    call_command("migrate", verbosity=0)
    with contextlib.redirect_stdout(io.StringIO()):
        call_command("seed_rubrics", verbosity=0)
    study = Study.objects.create(
        title="古画新生：基准研究",
        slug="bench",
        description="基准测试用研究。",
        protocol=Study.Protocol.BOTH,
        rubric=Rubric.objects.filter(code="classical-painting-v1").order_by("-version").first(),
        tag_set=TagSet.objects.get(code="bias-tags-v1"),
        ratings_per_item=k,
        status=Study.Status.SCORING,
    )
    batch = PromptBatch.objects.create(study=study, name="bench")
    Prompt.objects.bulk_create(
        Prompt(
            study=study,
            batch=batch,
            code=f"P{n:03d}",
            media="image",
            text_zh=f"以北宋王希孟《千里江山图》为本，作山水一幅，青绿，手卷画幅（{n}）。",
            text_en=f"A blue-green landscape after Wang Ximeng ({n}).",
            genre="山水",
            technique="青绿",
            format="手卷",
            dynasty_zh="北宋",
            dynasty_en="Northern Song",
            title_zh="千里江山图",
            title_en="A Thousand Li of Rivers and Mountains",
            artist_zh="王希孟",
            artist_en="Wang Ximeng",
            position=n,
        )
        for n in range(prompts)
    )
    endpoints = [
        ModelEndpoint.objects.create(
            name=f"Bench model {m}",
            slug=f"bench-model-{m}",
            adapter="local",
            model_id=f"bench-{m}",
            params={"size": "768x512", "style": "ink"},
        )
        for m in range(models)
    ]
    study_endpoints_link(study=study, endpoints=endpoints)
    generations = Generation.objects.bulk_create(
        Generation(
            study=study, prompt=prompt, endpoint=endpoint, status=Generation.Status.SUCCEEDED
        )
        for prompt in Prompt.objects.filter(study=study)
        for endpoint in endpoints
    )
    Output.objects.bulk_create(
        Output(
            generation=g,
            sha256=f"{g.pk:064x}",
            file=_png_file(g.pk),
            content_type="image/png",
            width=192,
            height=128,
        )
        for g in generations
    )
    User = get_user_model()
    people = User.objects.bulk_create(
        User(
            username=f"expert{n:02d}",
            email=f"expert{n:02d}@example.org",
            display_name=f"专家 {n:02d}",
            password="!",
        )
        for n in range(experts)
    )
    Membership.objects.bulk_create(
        Membership(study=study, user=u, role=Membership.Role.EXPERT) for u in people
    )
    for person in people:
        consent_record(user=person, study=study)
    assignment_plan_build(
        study=study,
        seed=seed,
        repeat_rate=0.05,
        attention_rate=0.05 if qc.attention_checks_available() else 0.0,
    )
    return study, people


def half_done(study, expert) -> None:
    """The expert has submitted the first half of their queue."""
    from apps.blinding.models import Assignment
    from apps.scoring.services import pairwise_submit, rating_submit

    codes = [d.code for d in study.rubric.dimensions.all()]
    queue = list(Assignment.objects.filter(expert=expert).order_by("position"))
    for n, item in enumerate(queue[: len(queue) // 2]):
        common = {
            "assignment": item,
            "user": expert,
            "tags": ["SURFACE_INK"] if n % 3 == 0 else [],
            "comment": "墨色层次尚可，留白不足。" if n % 2 else "",
            "problem": "",
            "time_on_task_ms": 40_000 + n * 1000,
            "submission_key": f"bench-{item.pk}",
        }
        if item.kind == Assignment.Kind.RATING:
            scores = {code: 1 + (n + i) % 5 for i, code in enumerate(codes)}
            rating_submit(scores=scores, na=set(), **common)
        else:
            pairwise_submit(choice="left", dimension_choices={}, **common)


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)  # ms per request, as a client sees it
    cpu: list[float] = field(default_factory=list)  # ms of this process's CPU per request
    db: list[float] = field(default_factory=list)  # ms waiting for PostgreSQL per request


def measure(client, urls: list, iterations: int, warmup: int) -> Timings:
    """Send each request in turn: ``warmup`` unmeasured, then ``iterations``. A request
    is a URL (GET) or a ``(url, body)`` pair (POST of ``body()`` as JSON)."""
    from django.db import connection

    def send(request):
        if isinstance(request, str):
            response = client.get(request)
        else:
            url, body = request
            response = client.post(url, body(), content_type="application/json")
        if request_ok(response):
            return response
        raise AssertionError(f"{response.status_code} {response.content[:200]!r}")

    for n in range(warmup):
        send(urls[n % len(urls)])
    timings = Timings()
    waited = [0.0]

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            waited[0] += time.perf_counter() - started

    with connection.execute_wrapper(timed):
        for n in range(iterations):
            request = urls[n % len(urls)]
            waited[0] = 0.0
            cpu, started = time.thread_time(), time.perf_counter()
            send(request)
            timings.wall.append((time.perf_counter() - started) * 1000)
            timings.cpu.append((time.thread_time() - cpu) * 1000)
            timings.db.append(waited[0] * 1000)
    return timings


def request_ok(response) -> bool:
    if response.status_code != 200:
        return False
    if response.get("Content-Type", "").startswith("application/json"):
        return response.json().get("ok") is True
    return True


def queries_of(client, request) -> tuple[int, int, list[str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        if isinstance(request, str):
            response = client.get(request)
        else:
            response = client.post(request[0], request[1](), content_type="application/json")
    assert request_ok(response), response.status_code
    size = len(b"".join(response.streaming_content) if response.streaming else response.content)
    return len(captured), size, [q["sql"] for q in captured.captured_queries]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def report(label: str, timings: Timings, queries: int, size: int) -> float:
    wall = timings.wall
    median = statistics.median(wall)
    print(
        f"{label:<14} n={len(wall):<4} median {median:5.1f} ms  p95 {_p95(wall):5.1f} ms  "
        f"min {min(wall):5.1f} ms │ CPU median {statistics.median(timings.cpu):5.1f} ms, "
        f"PostgreSQL median {statistics.median(timings.db):5.1f} ms │ "
        f"{queries} SQL queries, {size / 1024:.0f} KiB"
    )
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=45)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--experts", type=int, default=30)
    parser.add_argument("-k", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument(
        "--profile",
        nargs="?",
        const="rating page",
        default="",
        help="cProfile one kind of request (default: the rating page; or draft, submit, media)",
    )
    parser.add_argument("--profile-sort", default="cumulative", help="e.g. tottime")
    parser.add_argument(
        "--sql",
        nargs="?",
        const="rating page",
        default="",
        help="print the SQL of one request (default: the rating page; or draft, submit, media)",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="measure before PostgreSQL has table statistics (no ANALYZE after loading)",
    )
    args = parser.parse_args()

    if postgres_bindir() is None:
        sys.exit("PostgreSQL server binaries not found (apt-get install postgresql)")
    server = PostgresServer.start()
    try:
        with tempfile.TemporaryDirectory(prefix="evalsite-bench-") as tmp:
            django_setup(server.create_database("bench"), Path(tmp))
            return run(args)
    finally:
        server.stop()


def run(args) -> int:
    from django.test import Client

    from apps.blinding.models import Assignment
    from apps.scoring.services import draft_save

    started = time.perf_counter()
    study, experts = study_build(
        prompts=args.prompts, models=args.models, experts=args.experts, k=args.k, seed=args.seed
    )
    expert = experts[0]
    half_done(study, expert)
    queue = Assignment.objects.filter(expert=expert).order_by("position")
    ratings = [a for a in queue if a.kind == Assignment.Kind.RATING]
    pairs = [a for a in queue if a.kind == Assignment.Kind.PAIR]
    pending = next(a for a in ratings if a.status == Assignment.Status.PENDING)
    draft_save(
        assignment=pending, user=expert, data={"v": 1, "scores": {"bifa": 4}, "client_ts": 1}
    )
    if not args.no_analyze:  # a running site has table statistics
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        f"study: {args.prompts} prompts × {args.models} models, {args.experts} experts, "
        f"k={args.k}; {Assignment.objects.count()} assignments, this expert's queue "
        f"{queue.count()} ({len(ratings)} rating, {len(pairs)} pairwise, half done); "
        f"set up in {time.perf_counter() - started:.1f} s"
    )
    client = Client()
    client.force_login(expert)
    rating_urls = [f"/a/{a.public_id}/" for a in ratings]
    pair_urls = [f"/a/{a.public_id}/" for a in pairs]

    n_queries, size, sql = queries_of(client, f"/a/{pending.public_id}/")
    median = report(
        "rating page", measure(client, rating_urls, args.iterations, args.warmup), n_queries, size
    )
    if pair_urls:
        pair_queries, pair_size, _ = queries_of(client, pair_urls[0])
        report(
            "pairwise page",
            measure(client, pair_urls, args.iterations // 2, args.warmup),
            pair_queries,
            pair_size,
        )
    dash_queries, dash_size, _ = queries_of(client, "/studies/")
    report(
        "dashboard",
        measure(client, ["/studies/"], args.iterations // 4, 5),
        dash_queries,
        dash_size,
    )
    # the page's script: autosave a draft, submit (a revision, with a new key each
    # time), and the browser's media request
    codes = [d.code for d in study.rubric.dimensions.all()]
    done_ratings = [a for a in ratings if a.status == Assignment.Status.DONE]
    draft_requests = [
        (f"/a/{a.public_id}/draft/", lambda: {"data": {"scores": {codes[0]: 3}, "comment": "墨色"}})
        for a in ratings
        if a.status == Assignment.Status.PENDING
    ]
    counter = iter(range(10**9))

    def submit_body():
        return {
            "scores": {code: 1 + (i % 5) for i, code in enumerate(codes)},
            "submission_key": f"bench-submit-{next(counter)}",
            "time_on_task_ms": 20_000,
        }

    submit_requests = [(f"/a/{a.public_id}/submit/", submit_body) for a in done_ratings]
    media_requests = [f"/m/{a.left.public_id}" for a in ratings]
    kinds = {"rating page": rating_urls, "draft": draft_requests}
    kinds |= {"submit": submit_requests, "media": media_requests}
    for label in ("draft", "submit", "media"):
        n_q, n_size, _ = queries_of(client, kinds[label][0])
        report(label, measure(client, kinds[label], args.iterations // 2, 10), n_q, n_size)
    if args.sql:
        _, _, sql = queries_of(client, kinds[args.sql][-1])
        for statement in sql:
            print("  ", statement[:200])
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        measure(client, kinds[args.profile], 200, 0)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.profile_sort).print_stats(40)
        print(out.getvalue())
    verdict = "OK" if median < GOAL_MS else "ABOVE GOAL"
    print(f"goal: rating page median < {GOAL_MS:.0f} ms — {verdict} ({median:.1f} ms)")
    return 0 if median < GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
