"""The organizer's admin for studies, rubrics, tag sets, prompts and members.

Thin: every write goes through ``apps.studies.services`` (membership_*, and the
study and rubric services in the modules below). The study itself (form,
inlines, status transitions) is in ``admin_study``, prompt upload in
``admin_import`` (hooked into the study's URLs there), rubrics and tag sets in
``admin_rubrics``; importing them here registers them, in this order, before
the prompt and membership admins below.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from apps.studies import services
from apps.studies.admin_rubrics import RubricAdmin, TagSetAdmin
from apps.studies.admin_study import StudyAdmin
from apps.studies.models import Membership, Prompt, PromptBatch, Study

__all__ = ["RubricAdmin", "StudyAdmin", "TagSetAdmin"]

Status = Study.Status


# --- prompts -----------------------------------------------------------------------


@admin.register(PromptBatch)
class PromptBatchAdmin(admin.ModelAdmin):
    list_display = ("name", "study", "source_filename", "prompt_count", "uploaded_by", "created_at")
    list_filter = ("study",)
    search_fields = ("name", "source_filename", "study__slug", "study__title")
    list_select_related = ("study", "uploaded_by")
    readonly_fields = (
        "study",
        "name",
        "source_filename",
        "source_sha256",
        "uploaded_by",
        "created_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_n=Count("prompts"))

    @admin.display(description=_("提示词数"), ordering="_n")
    def prompt_count(self, batch: PromptBatch) -> int:
        return batch._n

    def has_add_permission(self, request):
        return False  # batches come from the study's "上传提示词"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.study.status != Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "title_zh",
        "artist_zh",
        "dynasty_zh",
        "genre",
        "technique",
        "format",
        "media",
        "study",
    )
    list_display_links = ("code", "title_zh")
    list_filter = ("study", "media", "genre", "technique", "dynasty_zh", "format")
    search_fields = (
        "code",
        "title_zh",
        "title_en",
        "artist_zh",
        "artist_en",
        "genre",
        "technique",
        "dynasty_zh",
        "dynasty_en",
        "text_zh",
    )
    list_select_related = ("study",)
    readonly_fields = ("study", "batch")
    fieldsets = (
        (None, {"fields": ("study", "batch", "code", "media", "text_zh", "text_en")}),
        (
            _("参考作品"),
            {
                "fields": (
                    "title_zh",
                    "title_en",
                    "artist_zh",
                    "artist_en",
                    "dynasty_zh",
                    "dynasty_en",
                    "genre",
                    "technique",
                    "format",
                    "collection",
                    "reference_image",
                )
            },
        ),
    )

    def has_add_permission(self, request):
        return False  # prompts come from the study's "上传提示词"

    def has_change_permission(self, request, obj=None):
        # once generation starts, a changed prompt would no longer match its outputs
        if obj is not None and obj.study.status != Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.study.status != Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)


# --- memberships -------------------------------------------------------------------


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("study", "user", "role", "is_active")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipForm
    list_display = ("user", "study", "role", "is_active", "created_at")
    list_filter = ("role", "is_active", "study")
    search_fields = (
        "user__username",
        "user__email",
        "user__display_name",
        "study__slug",
        "study__title",
    )
    list_select_related = ("user", "study")
    autocomplete_fields = ("study", "user")
    actions = ["grant", "revoke"]

    def get_readonly_fields(self, request, obj=None):
        return ("study", "user", "role", "created_at") if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: ratings keep their author

    def save_model(self, request, obj: Membership, form, change: bool) -> None:
        who = {"study": obj.study, "user": obj.user, "role": obj.role}
        if obj.is_active or obj.pk is None:
            obj.pk = services.membership_grant(**who).pk
        if not obj.is_active:
            services.membership_revoke(**who)

    @admin.action(description=_("恢复所选成员资格"), permissions=["change"])
    def grant(self, request, queryset):
        for membership in queryset.select_related("study", "user"):
            services.membership_grant(
                study=membership.study, user=membership.user, role=membership.role
            )

    @admin.action(description=_("撤销所选成员资格"), permissions=["change"])
    def revoke(self, request, queryset):
        for membership in queryset.select_related("study", "user"):
            services.membership_revoke(
                study=membership.study, user=membership.user, role=membership.role
            )
