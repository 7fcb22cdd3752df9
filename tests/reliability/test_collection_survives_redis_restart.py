"""Generation collection survives a Redis restart mid-run.

A real Celery worker collects 24 images from a fake provider (0.3 s each, at
most 3 at once); midway, Redis is killed, stays away for 3 seconds and comes
back empty, as a server without persistence does (everything queued is gone,
and the endpoint's concurrency slots, which live in Redis, with it). The database is the
source of truth: the collection must still finish, every generation once, with
no duplicate output. The worker runs celery beat too (``--beat``), which queues the
periodic recovery every 2 seconds here (every minute in production).
"""

from __future__ import annotations

import pytest

from tests.generation.collect_support import (
    ImageAPI,
    all_finished,
    seed_script,
    serve_images,
    status_counts_postgres,
)
from tests.generation.fakeserver import fake_server  # noqa: F401  (a fixture)
from tests.services import celery_worker, manage, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

PROMPTS = 24
LIMIT = 3


def test_a_collection_finishes_after_redis_restarts_empty(stack, tmp_path, fake_server):  # noqa: F811
    # given a collection under way on a real worker
    base_url = serve_images(fake_server, ImageAPI(delay_s=0.3))
    url = stack.database("collection")
    env = stack.env(
        url,
        redis_db=1,
        FAKE_PROVIDER_KEY="sk-redis-restart-0123456789",
        # the recovery every 2 s, for generations due and untouched for 2 s
        GENERATION_RECOVER_EVERY_S="2",
        GENERATION_RECOVER_AFTER_S="2",
    )
    seeded = manage(
        "shell",
        "-c",
        seed_script(
            slug="redis",
            prompts=PROMPTS,
            base_url=base_url,
            limit=LIMIT,
            timeout_s=5,
            key_env="FAKE_PROVIDER_KEY",
            start=True,
        ),
        env=env,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stdout[-2000:] + seeded.stderr[-4000:]
    log = tmp_path / "worker.log"
    with celery_worker(env, concurrency=LIMIT, log=log, extra=("--beat",)):
        wait_for(
            lambda: status_counts_postgres(url).get("succeeded", 0) >= 4,
            timeout=120,
            what="the collection to be under way: " + log.read_text(errors="replace")[-2000:],
        )

        # when Redis dies and comes back empty
        before = status_counts_postgres(url)
        stack.redis.crash_and_restart(down_s=3.0)
        assert not all_finished(before, PROMPTS), "restarted too late to test anything"

        # then the same worker finishes the collection
        wait_for(
            lambda: all_finished(status_counts_postgres(url), PROMPTS),
            timeout=60,  # unhindered, the rest takes ~10 s
            what=(
                "the collection to finish after the Redis restart; statuses "
                f"{status_counts_postgres(url)}; worker log: "
                + log.read_text(errors="replace")[-3000:]
            ),
        )

    # and every generation succeeded once, with one output each
    import psycopg

    with psycopg.connect(url) as conn:
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM generation_generation GROUP BY 1")
        )
        outputs = conn.execute(
            "SELECT g.prompt_id, count(o.id) FROM generation_generation g "
            "LEFT JOIN generation_output o ON o.generation_id = g.id GROUP BY 1"
        ).fetchall()
        failures = conn.execute(
            "SELECT error_code, last_error FROM generation_generation WHERE status = 'failed'"
        ).fetchall()
    assert statuses == {"succeeded": PROMPTS}, failures
    assert sorted(n for _, n in outputs) == [1] * PROMPTS
