"""Generations (one per study × prompt × endpoint × replicate) and their blind outputs.

A generation moves ``pending → running → succeeded | failed``. It goes back from
running to pending to wait — for an asynchronous provider task to be polled, for a
retry after a transient error, or for a free slot under the endpoint's limits —
with ``next_attempt_at`` saying when. A worker owns a running generation through
``claim_token`` until ``lease_expires_at``; a generation whose worker died is claimed
again once its lease has expired (see ``steps.generation_step``).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.registry.models import ModelEndpoint
from apps.studies.models import Prompt, Study


class GenerationQuerySet(models.QuerySet):
    def for_study(self, study: Study) -> GenerationQuerySet:
        return self.filter(study=study)

    def waiting_for_slot(self, endpoint_id: int, now: datetime) -> GenerationQuerySet:
        """Pending, due and not yet submitted: what a freed slot can take next."""
        return self.filter(
            endpoint_id=endpoint_id,
            status=Generation.Status.PENDING,
            provider_task_id="",
            next_attempt_at__lte=now,
        )

    def unfinished(self) -> GenerationQuerySet:
        return self.filter(status__in=[Generation.Status.PENDING, Generation.Status.RUNNING])


class Generation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("等待")
        RUNNING = "running", _("进行中")
        SUCCEEDED = "succeeded", _("成功")
        FAILED = "failed", _("失败")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="generations")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="generations")
    endpoint = models.ForeignKey(
        ModelEndpoint, on_delete=models.PROTECT, related_name="generations"
    )
    replicate = models.PositiveSmallIntegerField(_("重复序号"), default=1)
    seed = models.BigIntegerField(_("随机种子"), null=True, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=Status, default=Status.PENDING)

    attempts = models.PositiveIntegerField(_("提交次数"), default=0)
    retries = models.PositiveIntegerField(
        _("重试次数"), default=0, help_text=_("transient errors so far")
    )
    slot_waits = models.PositiveIntegerField(
        _("排队次数"), default=0, help_text=_("times it waited for a free slot")
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    provider_task_id = models.CharField(_("服务商任务号"), max_length=200, blank=True)
    staged_file = models.CharField(
        max_length=255,
        blank=True,
        editable=False,
        help_text=_("a file written but not yet committed"),
    )

    error_code = models.CharField(_("错误代码"), max_length=40, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    latency_ms = models.PositiveIntegerField(_("耗时（毫秒）"), null=True, blank=True)
    cost = models.DecimalField(_("费用"), max_digits=12, decimal_places=4, null=True, blank=True)
    revised_prompt = models.TextField(_("改写后的提示词"), blank=True)
    request = models.JSONField(
        _("请求"), default=dict, blank=True, help_text=_("what was sent: model, parameters, seed")
    )
    metadata = models.JSONField(
        _("原始元数据"),
        default=dict,
        blank=True,
        help_text=_("the provider's response metadata (organizers only)"),
    )

    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        verbose_name = _("生成任务")
        verbose_name_plural = _("生成任务")
        ordering = ["study", "prompt__position", "prompt_id", "endpoint_id", "replicate"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "prompt", "endpoint", "replicate"], name="one_generation_per_slot"
            ),
            models.CheckConstraint(condition=Q(replicate__gte=1), name="generation_replicate_ge_1"),
        ]
        indexes = [
            models.Index(
                fields=["endpoint", "status", "next_attempt_at"], name="generation_endpoint_queue"
            ),
            models.Index(fields=["status", "lease_expires_at"], name="generation_leases"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.prompt_id}×{self.endpoint_id} r{self.replicate} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


def new_public_id() -> str:
    return secrets.token_urlsafe(16)


class Output(models.Model):
    """A blind item: the sanitised result of one generation (or, with no generation, an
    attention check made by the blinding app), served under ``public_id``.

    The file lives under a content-hash path (``outputs/ab/abcd….png``) that says
    nothing about the model; Output → Generation → ModelEndpoint is organizers-only.
    """

    # null for an output that is no generation's answer: the blinding app's attention
    # checks (degraded copies shown like any other output)
    generation = models.OneToOneField(
        Generation, on_delete=models.CASCADE, related_name="output", null=True, blank=True
    )
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    sha256 = models.CharField(max_length=64, db_index=True)
    file = models.FileField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    # frames per second of a video, probed at collection (frame-by-frame stepping);
    # null for images, texts and videos collected before it was stored
    fps = models.FloatField(null=True, blank=True)
    text = models.TextField(blank=True)
    text_flags = models.JSONField(
        default=list, blank=True, help_text=_("phrases where the text names its maker")
    )
    excluded = models.BooleanField(_("已排除"), default=False)
    excluded_reason = models.TextField(_("排除原因"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("生成结果")
        verbose_name_plural = _("生成结果")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(excluded=False) | ~Q(excluded_reason=""),
                name="output_exclusion_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class EndpointSlot(models.Model):
    """A slot under an endpoint's concurrency limit, held by one generation until it
    is released or expires. The database limiter's table (Redis is used instead when
    the broker is Redis)."""

    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.CASCADE, related_name="+")
    holder = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "holder"], name="one_slot_per_holder"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_id}:{self.holder} until {self.expires_at:%H:%M:%S}"


class EndpointThrottle(models.Model):
    """The database limiter's per-endpoint row: locked to serialise slot accounting,
    and holding the rate limit's theoretical arrival time (GCRA)."""

    endpoint = models.OneToOneField(
        ModelEndpoint, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    tat = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.endpoint_id} next at {self.tat}"


class StudyCollection(Study):
    """The studies seen from the collection side, for the admin's progress pages."""

    class Meta:
        proxy = True
        verbose_name = _("采集进度")
        verbose_name_plural = _("采集进度")
