"""Load benchmark: experts doing the real flow against the production stack.

    .venv/bin/python tests/bench/bench_load.py                      # 30, 100, 300 experts
    .venv/bin/python tests/bench/bench_load.py --levels 300 --duration 60 --profile

It starts its own PostgreSQL and redis-server (tests/reliability/stack.py),
migrates, runs collectstatic, seeds a study in scoring with one consenting expert
account per virtual expert, and serves it with gunicorn (deploy/gunicorn.conf.py,
production settings, ``EVALSITE_BENCH=1``) plus a Celery worker, all on 127.0.0.1.

Each virtual expert (an ``aiohttp`` client session with its own cookies) does what the
rating page does: open the item, load its media, autosave a draft ``--drafts``
times (the page saves 1.5 s after the expert stops changing something: about once
per dimension scored), submit, follow ``next_url`` to the next item — with a
random pause of ``--think`` seconds on average (uniform on ±50 %) before each
request. The default, 4 s between requests and 6 drafts, is an expert scoring a
12-dimension rubric on an ink painting in about 35 s an item: quicker than the
experts of a real study, who look for a minute or more. ``--think 1 --drafts 1``
is the stress pace of earlier runs (an item every 3–4 s, which no expert keeps up).
Logging in is measured apart, with ``--logins`` real password logins: it is
PBKDF2 on purpose (~0.3–1 s of CPU each) and happens once per expert per fortnight.

For each level it prints, over ``--duration`` seconds after a ramp-up,
p50/p95/p99 latency, throughput and errors, per request kind and overall, and
the latency of ``/bench/ping`` (a view doing nothing, through the same
middleware) probed during the same run: the ratio page/ping says how much of
the page's time is its own work. ``--profile`` samples the gunicorn workers
with py-spy during the last level and prints where their time goes.

Not a test (pytest does not collect ``tests/bench``); run it alone on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import string
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import httpx  # noqa: E402

from tests.bench.load_report import (  # noqa: E402
    cpu_seconds,
    ms,
    percentile,
    print_profile,
    print_table,
    profile,
    summarize,
)
from tests.reliability.stack import Stack, gunicorn, seed_experts  # noqa: E402
from tests.services import celery_worker, manage  # noqa: E402

PASSWORD = "bench-password-0123"
MEDIA = re.compile(r'src="(/m/[A-Za-z0-9_-]+)"')


class Recorder:
    def __init__(self) -> None:
        self.active = False
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter = Counter()
        self.error_samples: list[str] = []

    def add(self, kind: str, seconds: float, ok: bool, detail: str = "") -> None:
        if not self.active:
            return
        self.latency[kind].append(seconds)
        if not ok:
            self.errors[kind] += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{kind}: {detail}")


def csrf_secret() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


@dataclass
class Answer:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> dict:
        return json.loads(self.body)


class VirtualExpert:
    """One expert's browser: its own session cookie and at most two connections.
    aiohttp, whose HTTP parser is C, so that the load generator takes as little as
    it can of the two cores it shares with the server (httpx took 2.8 ms a request)."""

    def __init__(self, base: str, session: str, queue: list[str], dimensions: list[str]):
        csrf = csrf_secret()
        self.base = base
        self.queue = queue
        self.dimensions = dimensions
        self.headers = {
            "Cookie": f"sessionid={session}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "X-Forwarded-Proto": "https",  # as nginx says; settings trust 127.0.0.1
            "Origin": "https://" + base.removeprefix("http://"),
        }
        self._client: aiohttp.ClientSession | None = None

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._client is None:  # made inside the running event loop
            self._client = aiohttp.ClientSession(
                base_url=self.base,
                timeout=aiohttp.ClientTimeout(total=30),
                cookie_jar=aiohttp.DummyCookieJar(),
                # A client lets an idle connection go before the server does
                # (gunicorn closes after 5 s): reusing one the server is closing
                # fails the request. Browsers retry that case on their own.
                connector=aiohttp.TCPConnector(limit=2, keepalive_timeout=3.0),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def timed(self, recorder: Recorder, kind: str, method: str, url: str, **kwargs):
        started = time.perf_counter()
        try:
            async with self.client.request(method, url, headers=self.headers, **kwargs) as got:
                response = Answer(got.status, await got.read())
        except (TimeoutError, aiohttp.ClientError) as exc:
            recorder.add(kind, time.perf_counter() - started, False, repr(exc))
            return None
        ok = response.status == 200
        recorder.add(kind, time.perf_counter() - started, ok, f"{response.status} {url}")
        return response if ok else None

    async def run(self, recorder: Recorder, think: float, drafts: int, stop: asyncio.Event) -> None:
        url = f"/a/{self.queue[0]}/"
        position = 0

        async def pause() -> None:
            await asyncio.sleep(random.uniform(0.5 * think, 1.5 * think))

        while not stop.is_set():
            await pause()
            page = await self.timed(recorder, "page", "GET", url)
            if page is None:
                continue
            public_id = url.strip("/").split("/")[-1]
            for media in MEDIA.findall(page.text)[:2]:
                await self.timed(recorder, "media", "GET", media)
            scores: dict[str, int] = {}
            for code in self.dimensions[:drafts]:
                await pause()
                scores[code] = random.randint(1, 5)
                draft = {"data": {"v": 1, "scores": scores, "comment": "墨色尚可"}}
                await self.timed(recorder, "draft", "POST", f"/a/{public_id}/draft/", json=draft)
            await pause()
            body = {
                "scores": {code: random.randint(1, 5) for code in self.dimensions},
                "submission_key": secrets.token_hex(8),
                "time_on_task_ms": 20_000,
                "comment": "",
            }
            answer = await self.timed(
                recorder, "submit", "POST", f"/a/{public_id}/submit/", json=body
            )
            next_url = answer.json().get("next_url", "") if answer is not None else ""
            if next_url.startswith("/a/"):
                url = next_url
            else:  # the queue is done: go round again (revisions of the same items)
                position = (position + 1) % len(self.queue)
                url = f"/a/{self.queue[position]}/"


async def baseline(base: str, expert: dict, dimensions: list[str], rounds: int) -> Recorder:
    """One expert, one request at a time, no pause: each kind's own service time."""
    recorder = Recorder()
    recorder.active = True
    client = VirtualExpert(base, expert["session"], expert["queue"], dimensions)
    stop = asyncio.Event()

    async def stop_after() -> None:
        while sum(len(v) for k, v in recorder.latency.items() if k == "submit") < rounds:
            await asyncio.sleep(0.05)
        stop.set()

    waiter = asyncio.create_task(stop_after())
    await client.run(recorder, 0.0, 1, stop)
    await waiter
    async with httpx.AsyncClient(base_url=base, timeout=30) as plain:
        for _ in range(rounds):
            started = time.perf_counter()
            response = await plain.get("/bench/ping")
            recorder.add("ping", time.perf_counter() - started, response.status_code == 200)
    await client.close()
    return recorder


async def probe(base: str, recorder: Recorder, stop: asyncio.Event, interval: float) -> None:
    """The minimal view, every ``interval`` seconds, through its own connection."""
    async with aiohttp.ClientSession(
        base_url=base, timeout=aiohttp.ClientTimeout(total=30)
    ) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                async with client.get("/bench/ping") as response:
                    await response.read()
                    ok = response.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            recorder.add("ping", time.perf_counter() - started, ok, "ping")
            await asyncio.sleep(interval)


async def run_level(
    base: str, experts: list[dict], dimensions, args, level: int, pids: dict[str, int]
) -> dict:
    recorder = Recorder()
    stop = asyncio.Event()
    chosen = experts[:level]
    clients = [VirtualExpert(base, e["session"], e["queue"], dimensions) for e in chosen]

    async def start(client: VirtualExpert, delay: float) -> None:
        await asyncio.sleep(delay)
        await client.run(recorder, args.think, args.drafts, stop)

    # started spread over the ramp, so that they do not march in step
    tasks = [
        asyncio.create_task(start(client, args.ramp * index / len(clients)))
        for index, client in enumerate(clients)
    ]
    tasks.append(asyncio.create_task(probe(base, recorder, stop, args.ping_interval)))
    await asyncio.sleep(args.ramp + args.think)
    recorder.active = True
    measured_from = time.perf_counter()
    cpu_before = cpu_seconds(pids)
    await asyncio.sleep(args.duration)
    recorder.active = False
    elapsed = time.perf_counter() - measured_from
    cpu_after = cpu_seconds(pids)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.close()
    result = summarize(level, recorder, elapsed)
    result["cpu"] = {k: (cpu_after[k] - cpu_before[k]) / elapsed for k in cpu_after}
    return result


async def measure_logins(base: str, usernames: list[str]) -> dict:
    latencies, errors = [], 0
    semaphore = asyncio.Semaphore(4)

    async def one(username: str) -> None:
        nonlocal errors
        async with semaphore, httpx.AsyncClient(base_url=base, timeout=60) as client:
            headers = {"X-Forwarded-Proto": "https", "Origin": "https://" + base[7:]}
            page = await client.get("/accounts/login/", headers=headers)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            # the CSRF cookie is Secure (production) and this is plain HTTP behind
            # "nginx": send it by hand, as the browser would over HTTPS
            cookie = re.search(r"csrftoken=([^;]+)", page.headers.get("set-cookie", ""))
            headers["Cookie"] = f"csrftoken={cookie.group(1) if cookie else ''}"
            client.cookies.clear()
            started = time.perf_counter()
            response = await client.post(
                "/accounts/login/",
                headers=headers,
                data={
                    "username": username,
                    "password": PASSWORD,
                    "csrfmiddlewaretoken": token.group(1) if token else "",
                },
            )
            latencies.append(time.perf_counter() - started)
            if response.status_code != 302:
                errors += 1

    await asyncio.gather(*(one(u) for u in usernames))
    return {
        "n": len(usernames),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "errors": errors,
    }


def postgres_pid(stack: Stack) -> int:
    return int((stack.postgres.datadir / "postmaster.pid").read_text().split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="30,100,300")
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("--ramp", type=float, default=5.0)
    parser.add_argument("--think", type=float, default=4.0, help="mean pause between requests, s")
    parser.add_argument("--drafts", type=int, default=6, help="autosaves per item")
    parser.add_argument("--ping-interval", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=0, help="default: gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--settings", default="", help="DJANGO_SETTINGS_MODULE for the stack")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    args.workers = args.workers or (os.cpu_count() or 1) * 2 + 1

    root = Path(tempfile.mkdtemp(prefix="evalsite-bench-"))
    with ExitStack() as stack_exit:
        print(f"starting PostgreSQL and Redis, migrating (in {root}) …", flush=True)
        stack = stack_exit.enter_context(Stack.start(root))
        url = stack.database("bench")
        env = stack.env(url, EVALSITE_BENCH="1", CONN_MAX_AGE="600")
        if args.settings:
            env["DJANGO_SETTINGS_MODULE"] = args.settings
        manage("collectstatic", "--no-input", env=env, timeout=600)
        experts_needed = max(levels)
        print(f"seeding {experts_needed} experts …", flush=True)
        seed = seed_experts(
            env,
            experts=experts_needed,
            prompts=60,
            models=4,
            k=max(2, experts_needed * 12 // 240),
            with_files=True,
            password=PASSWORD,
        )
        web = stack_exit.enter_context(
            gunicorn(env, root / "web.log", workers=args.workers, threads=args.threads)
        )
        worker = stack_exit.enter_context(celery_worker(env, log=root / "worker.log"))
        if httpx.get(f"{web.url}/bench/ping").status_code != 200:
            sys.exit(
                "/bench/ping is missing: evalsite/urls.py must include apps.core.bench "
                '(path("", include("apps.core.bench")))'
            )
        logins = None
        if args.logins:
            usernames = [e["username"] for e in seed["experts"][: args.logins]]
            logins = asyncio.run(measure_logins(web.url, usernames))
        unloaded = asyncio.run(
            baseline(web.url, seed["experts"][-1], seed["dimensions"], rounds=40)
        )
        pids = {"gunicorn": web.proc.pid, "PostgreSQL": postgres_pid(stack), "celery": worker.pid}
        results = []
        for level in levels:
            print(f"{level} experts …", flush=True)
            spy = None
            if args.profile and level == levels[-1]:
                spy = profile(web.proc.pid, args.ramp + args.duration, root / "profile.txt")
            results.append(
                asyncio.run(
                    run_level(web.url, seed["experts"], seed["dimensions"], args, level, pids)
                )
            )
            if spy is not None:
                spy.wait(timeout=120)
        print_table(results, args, logins)
        print()
        print("unloaded (one expert, one request at a time): p50 / p95 ms")
        print(
            "  "
            + "; ".join(
                f"{kind} {ms(percentile(v, 50)).strip()} / {ms(percentile(v, 95)).strip()}"
                for kind, v in unloaded.latency.items()
            )
        )
        if args.profile:
            print_profile(root / "profile.txt")
        if args.json:
            args.json.write_text(json.dumps({"results": results, "logins": logins}, indent=2))
        print(f"\nlogs: {root}")


if __name__ == "__main__":
    main()
