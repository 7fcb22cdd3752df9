"""Starting Django does not load the statistics stack.

Every ``manage.py`` command, web worker and Celery worker sets Django up, loads
the URLconf (a web worker on its first request, Celery's system check at worker
start) and registers the tasks; SciPy, pandas and the report writers cost
seconds and a hundred megabytes there, and are needed only while a report is
built (``apps.analysis.build``, imported inside ``services.report_run``). The
check runs in a fresh interpreter, since this test process has long imported
them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATISTICS = ("scipy", "pandas", "weasyprint")
# openpyxl imports NumPy whenever it is installed; the spreadsheet writers import
# it when they write.
SPREADSHEETS = ("numpy", "openpyxl")
# This app's modules that import NumPy, pandas, SciPy or openpyxl at the top.
ANALYSIS_HEAVY = (
    "apps.analysis.build",
    "apps.analysis.exports",
    "apps.analysis.report",
    "apps.analysis.report_pairwise",
    "apps.analysis.stats",
    "apps.analysis.tidy",
    "apps.analysis.tidy_csv",
    "apps.analysis.tidy_tables",
    "apps.analysis.writers",
)

START_UP = """
import json, sys

def loaded():
    return sorted(sys.modules)

import django

django.setup()  # apps, models, admin autodiscovery, signals
after_setup = loaded()

from django.urls import get_resolver

get_resolver().url_patterns  # a web worker, on its first request

from evalsite.celery import app

# A Celery worker at start: imports every app's tasks.py and runs the system
# checks (which load the URLconf as well).
app.loader.import_default_modules()

print(json.dumps({
    "after_setup": after_setup,
    "after_urls_and_tasks": loaded(),
    "tasks": sorted(name for name in app.tasks if name.startswith("analysis.")),
}))
"""


def start_up() -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "evalsite.settings"}
    done = subprocess.run(
        [sys.executable, "-c", START_UP],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def among(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(
        {p for p in packages for m in modules if m == p or m.startswith(f"{p}.")},
    )


def test_start_up_loads_no_statistics_stack_and_registers_the_analysis_tasks():
    # given a fresh interpreter
    # when it sets Django up, loads the URLconf and discovers the Celery tasks
    loaded = start_up()

    # then django.setup() imported neither the statistics stack nor the spreadsheets
    assert among(loaded["after_setup"], STATISTICS + SPREADSHEETS) == []
    # and nothing after it imported the statistics stack or a heavy module of this app
    assert among(loaded["after_urls_and_tasks"], STATISTICS + SPREADSHEETS + ANALYSIS_HEAVY) == []
    # and the analysis tasks are registered by name all the same
    assert loaded["tasks"] == ["analysis.report_build", "analysis.reports_resume"]
