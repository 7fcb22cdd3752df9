"""No secret in error pages or logs: with DEBUG off and a provider's API key in the
environment, a request that fails with an exception carrying the key and the
SECRET_KEY gets a plain 500 page, and the log lines the configured handler
writes hold neither (evalsite.security.RedactSecrets)."""

from __future__ import annotations

import io
import logging

import pytest
from django.conf import settings as django_settings
from django.test import Client

from evalsite.security import RedactSecrets

PROVIDER_KEY = "sk-live-3f9c2a7be81d4c55a0e9d7b6c4f1a2e0"


@pytest.fixture
def provider_key(monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", PROVIDER_KEY)
    monkeypatch.setenv("KLING_SECRET", PROVIDER_KEY[::-1])
    return PROVIDER_KEY


@pytest.fixture
def site_log():
    """What the site's configured stderr handler writes, during the test."""
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    assert handlers, "the LOGGING 'stderr' handler is not on the root logger"
    buffer = io.StringIO()
    # swapped without setStream, which flushes the old stream: after some other
    # test it is pytest's capture file of that test, closed by then
    previous = [handler.stream for handler in handlers]
    for handler in handlers:
        handler.stream = buffer
    yield buffer
    for handler, stream in zip(handlers, previous, strict=True):
        handler.stream = stream


@pytest.mark.django_db
def test_a_server_error_shows_and_logs_no_secret(settings, monkeypatch, provider_key, site_log):
    # given DEBUG off, and a view failing with an exception that carries secrets
    settings.DEBUG = False
    secret_key = django_settings.SECRET_KEY

    def failing_health(**kwargs):
        api_key = provider_key  # noqa: F841 (a local a debug page would show)
        raise RuntimeError(
            f"provider refused Authorization: Bearer {provider_key} "
            f"(signing with {secret_key}, kling {provider_key[::-1]})"
        )

    monkeypatch.setattr("apps.core.views.system_health", failing_health)

    # when the page is requested
    response = Client(raise_request_exception=False).get("/healthz")

    # then a plain 500, and neither the page nor the log holds a secret
    assert response.status_code == 500
    page = response.content.decode()
    log = site_log.getvalue()
    assert "Internal Server Error: /healthz" in log
    assert "RuntimeError" in log  # the traceback is still there, minus the secrets
    for secret in (provider_key, provider_key[::-1], secret_key):
        assert secret not in page
        assert secret not in log
    assert "[redacted]" in log


def test_the_filter_cleans_messages_arguments_and_tracebacks(provider_key, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://evalsite:db-pass-123@db:5432/evalsite")
    record = logging.LogRecord(
        "apps.generation", logging.ERROR, __file__, 1, "call failed: %s", (provider_key,), None
    )
    try:
        raise ValueError(f"connect failed for postgres://evalsite:db-pass-123@db/ {provider_key}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactSecrets().filter(record)
    text = logging.Formatter().format(record)
    assert provider_key not in text
    assert "db-pass-123" not in text
    assert "call failed: [redacted]" in text
    assert "ValueError" in text


def test_short_or_unnamed_values_are_left_alone(monkeypatch):
    # a variable whose name says nothing secret, and a secret too short to redact safely
    monkeypatch.setenv("TIME_ZONE", "Asia/Shanghai")
    monkeypatch.setenv("TINY_TOKEN", "abc")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Asia/Shanghai abc", None, None)
    RedactSecrets().filter(record)
    assert record.getMessage() == "Asia/Shanghai abc"
