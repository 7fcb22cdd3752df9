"""The organizer's admin for a study: its form, inlines (prompt batches, members,
status history) and the status transitions with their confirmation page.

Thin: every write goes through ``apps.studies.services`` (study_save,
study_transition, membership_*); this module only turns their errors into form
errors and messages. Prompt upload lives in ``admin_import`` and is hooked into
the study's URLs and change page here. Registered when ``apps.studies.admin``
imports it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from apps.studies import selectors, services
from apps.studies.models import Membership, PromptBatch, Study, StudyStatusChange

Status = Study.Status


def _service_error(form: forms.Form, exc: services.StudyError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


class StudyForm(forms.ModelForm):
    class Meta:
        model = Study
        fields = services.EDITABLE_STUDY_FIELDS

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is not None:
            stored = Study.objects.get(pk=self.instance.pk)
            changes = {name: cleaned[name] for name in self.changed_data if name in cleaned}
            try:
                services.study_changes_check(study=stored, changes=changes)
            except services.StudyError as exc:
                _service_error(self, exc)
        return cleaned


class PromptBatchInline(admin.TabularInline):
    model = PromptBatch
    extra = 0
    fields = ("name", "source_filename", "prompt_count", "uploaded_by", "created_at")
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = _("提示词批次（在“上传提示词”中添加）")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("uploaded_by")
            .annotate(_n=Count("prompts"))
        )

    @admin.display(description=_("提示词数"))
    def prompt_count(self, batch: PromptBatch) -> int:
        return batch._n

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return (
            obj is not None
            and obj.status == Status.DRAFT
            and super().has_delete_permission(request, obj)
        )


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "is_active", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke (untick "有效") instead: ratings keep their author


class StudyStatusChangeInline(admin.TabularInline):
    model = StudyStatusChange
    extra = 0
    fields = ("at", "from_status", "to_status", "by", "note")
    readonly_fields = fields
    verbose_name_plural = _("状态变更记录")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TransitionForm(forms.Form):
    note = forms.CharField(
        label=_("备注（写入审计记录）"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


TRANSITION_LABELS = {
    Status.COLLECTING: _("开始收集生成结果"),
    Status.SCORING: _("开始专家评分"),
    Status.CLOSED: _("结束研究"),
    Status.UNBLINDED: _("揭盲（不可撤销）"),
}


def _transition_action(to_status: str):
    def action(modeladmin: StudyAdmin, request, queryset):
        return modeladmin.transition_confirm(request, list(queryset), to_status, from_action=True)

    action.__name__ = f"transition_to_{to_status}"
    return admin.action(description=TRANSITION_LABELS[to_status], permissions=["change"])(action)


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    form = StudyForm
    list_display = (
        "title",
        "slug",
        "status",
        "protocol",
        "media_kind",
        "rubric",
        "prompt_count",
        "batch_count",
        "member_count",
        "created_at",
    )
    list_filter = ("status", "protocol", "media_kind")
    search_fields = ("title", "slug")
    readonly_fields = ("status", "created_by", "created_at", "updated_at")
    inlines = [PromptBatchInline, MembershipInline, StudyStatusChangeInline]
    actions = [_transition_action(status) for status in TRANSITION_LABELS]
    change_form_template = "admin/studies/study/change_form.html"
    fieldsets = (
        (None, {"fields": ("title", "slug", "description", "status")}),
        (
            _("评价设计"),
            {
                "fields": (
                    "protocol",
                    "media_kind",
                    "rubric",
                    "tag_set",
                    "ratings_per_item",
                    "replicates",
                    "media_normalisation",
                )
            },
        ),
        (_("记录"), {"fields": ("created_by", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return selectors.studies_with_counts(super().get_queryset(request))

    @admin.display(description=_("提示词"), ordering="prompt_count")
    def prompt_count(self, study: Study) -> int:
        return study.prompt_count

    @admin.display(description=_("批次"), ordering="batch_count")
    def batch_count(self, study: Study) -> int:
        return study.batch_count

    @admin.display(description=_("成员"), ordering="member_count")
    def member_count(self, study: Study) -> int:
        return study.member_count

    def get_readonly_fields(self, request, obj=None):
        frozen = services.study_frozen_fields(obj) if obj is not None else ()
        return (*self.readonly_fields, *frozen)

    def has_delete_permission(self, request, obj=None):
        # a study past draft has generations and ratings behind it: close it instead
        if obj is not None and obj.status != Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj: Study, form, change: bool) -> None:
        services.study_save(study=obj, by=request.user)

    def save_formset(self, request, form, formset, change: bool) -> None:
        if formset.model is not Membership:
            formset.save()
            return
        for membership in formset.save(commit=False):
            study, user, role = form.instance, membership.user, membership.role
            if membership.is_active:
                services.membership_grant(study=study, user=user, role=role)
            else:
                services.membership_revoke(study=study, user=user, role=role)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        study = self.get_object(request, object_id)
        if study is not None:
            following = services.NEXT_STATUS.get(study.status)
            extra_context["next_status"] = following
            extra_context["next_status_label"] = TRANSITION_LABELS.get(following)
            extra_context["prompts_open"] = services.study_accepts_prompts(study)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        urls = [
            path(
                "<int:study_id>/transition/<str:to_status>/",
                self.admin_site.admin_view(self.transition_view),
                name="studies_study_transition",
            ),
        ]
        try:
            from apps.studies.admin_import import import_urls
        except ImportError:  # the upload views are not installed
            import_urls = None
        if import_urls is not None:
            urls += import_urls(self)
        return [*urls, *super().get_urls()]

    def transition_view(self, request: HttpRequest, study_id: int, to_status: str):
        study = get_object_or_404(Study, pk=study_id)
        if not self.has_change_permission(request, study) or to_status not in TRANSITION_LABELS:
            raise PermissionDenied
        return self.transition_confirm(request, [study], to_status, from_action=False)

    def transition_confirm(
        self, request: HttpRequest, studies: list[Study], to_status: str, *, from_action: bool
    ):
        """Ask for confirmation and a note, then move each study (one service call each)."""
        form = TransitionForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            for study in studies:
                try:
                    services.study_transition(
                        study=study,
                        to_status=to_status,
                        by=request.user,
                        note=form.cleaned_data["note"],
                    )
                except services.StudyError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    self.message_user(
                        request,
                        _("研究“%(study)s”现为“%(status)s”。")
                        % {"study": study.title, "status": Status(to_status).label},
                        messages.SUCCESS,
                    )
            if from_action:
                return None  # back to the list
            return HttpResponseRedirect(reverse("admin:studies_study_change", args=[studies[0].pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": TRANSITION_LABELS[to_status],
            "studies": studies,
            "to_status": to_status,
            "to_label": Status(to_status).label,
            "irreversible": to_status == Status.UNBLINDED,
            "form": form,
            "from_action": from_action,
            "action_name": f"transition_to_{to_status}",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/studies/study_transition.html", context)
