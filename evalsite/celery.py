"""The Celery application. Workers start with ``celery -A evalsite worker``, the one
scheduler of periodic jobs with ``celery -A evalsite beat``.

Its configuration is the ``CELERY_*`` settings, the periodic jobs included
(``CELERY_BEAT_SCHEDULE``). Nothing here reads a setting: this module is imported
while a settings module that begins with ``from evalsite.settings import *`` is still
being imported.

Logging stays Django's (``CELERY_WORKER_HIJACK_ROOT_LOGGER = False``), so that the
filter that redacts secrets sees every line a worker writes.
"""

import os

from celery import Celery
from celery.signals import after_setup_task_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")

app = Celery("evalsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_task_logger.connect
def _task_logs_through_django(logger, **kwargs) -> None:
    # Celery gives the task loggers (get_task_logger) a handler of its own that does
    # not propagate: it would bypass the redaction. The root logger's handlers do.
    logger.handlers.clear()
    logger.propagate = True
