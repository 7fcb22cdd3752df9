"""The small JSON endpoints the rating page's script talks to: autosave a draft,
submit a judgment, report a problem with an item.

Plain ``JsonResponse`` with every field named here. A missing id and someone
else's id give the same 404 body; an expired session gives 401 (not a redirect
to the login page, which a script cannot follow usefully).

Answers:
    200 {"ok": true, ...}
    400 {"ok": false, "errors": {field or dimension code: [message, ...]}}
    401 {"ok": false, "error": "login"}
    404 {"ok": false, "error": "not_found"}
    409 {"ok": false, "error": "closed" | "not_open", "message": "..."}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.blinding.models import Assignment
from apps.blinding.selectors import assignment_to_write, queue_progress
from apps.scoring import services
from apps.scoring.services import JudgmentRefused

MAX_BODY_BYTES = 64 * 1024


class BadRequest(Exception):
    pass


def _not_found() -> JsonResponse:
    return JsonResponse({"ok": False, "error": "not_found"}, status=404)


def _errors(errors: dict[str, list[str]]) -> JsonResponse:
    return JsonResponse({"ok": False, "errors": errors}, status=400)


def json_endpoint(view: Callable | None = None, *, find_item: bool = True) -> Callable:
    """POST only, logged in (else 401), JSON object body; maps the domain's
    exceptions to the answers listed in the module docstring. The view gets the
    item (``assignment_to_write``), or with ``find_item=False`` its public id, for
    a service that reads the item itself."""
    if view is None:
        return partial(json_endpoint, find_item=find_item)

    @wraps(view)
    def wrapper(request: HttpRequest, public_id: str) -> JsonResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"ok": False, "error": "login"}, status=401)
        try:
            if len(request.body) > MAX_BODY_BYTES:
                raise BadRequest
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise BadRequest
            item = assignment_to_write(request.user, public_id) if find_item else public_id
            return view(request, item, body)
        except (BadRequest, ValueError):
            return _errors({"__all__": [_("请求格式不正确。")]})
        except Http404:
            return _not_found()
        except ValidationError as exc:
            return _errors(_message_dict(exc))
        except JudgmentRefused as exc:
            return JsonResponse(
                {"ok": False, "error": exc.code, "message": exc.message}, status=409
            )

    return never_cache(require_POST(wrapper))


def _message_dict(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {str(k): [str(m) for m in v] for k, v in exc.message_dict.items()}
    return {"__all__": [str(m) for m in exc.messages]}


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({name: [_("必须是文字。")]})
    return value


def _string_list(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({name: [_("格式不正确。")]})
    return value


@json_endpoint(find_item=False)
def draft(request: HttpRequest, public_id: str, body: dict[str, Any]) -> JsonResponse:
    # the service checks the item first (404) and then the draft (400)
    services.draft_save(assignment=public_id, user=request.user, data=body.get("data"))
    return JsonResponse({"ok": True, "saved_at": timezone.now().isoformat()})


@json_endpoint
def submit(request: HttpRequest, item: Assignment, body: dict[str, Any]) -> JsonResponse:
    common = {
        "assignment": item,
        "user": request.user,
        "tags": _string_list(body, "tags"),
        "comment": _text(body, "comment"),
        "problem": _text(body, "problem"),
        "time_on_task_ms": body.get("time_on_task_ms") or 0,
        "submission_key": _text(body, "submission_key"),
    }
    if item.kind == Assignment.Kind.RATING:
        scores = body.get("scores") or {}
        if not isinstance(scores, dict):
            raise ValidationError({"scores": [_("格式不正确。")]})
        judgment, created = services.rating_submit(
            scores=scores, na=set(_string_list(body, "na")), **common
        )
    else:
        choices = body.get("dimension_choices") or {}
        if not isinstance(choices, dict):
            raise ValidationError({"dimension_choices": [_("格式不正确。")]})
        judgment, created = services.pairwise_submit(
            choice=_text(body, "choice"), dimension_choices=choices, **common
        )
    progress = queue_progress(item)
    next_id = progress["next_public_id"]
    return JsonResponse(
        {
            "ok": True,
            "created": created,
            "revision": judgment.revision,
            # the next unfinished item (wrapping round), else the dashboard
            "next_url": reverse("scoring:assignment", kwargs={"public_id": next_id})
            if next_id
            else reverse("scoring:dashboard"),
            "done": progress["done"],
            "total": progress["total"],
        }
    )


@json_endpoint
def problem(request: HttpRequest, item: Assignment, body: dict[str, Any]) -> JsonResponse:
    services.problem_report(assignment=item, user=request.user, text=_text(body, "text"))
    return JsonResponse({"ok": True})
