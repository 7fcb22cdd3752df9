from django.apps import AppConfig


class BlindingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.blinding"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.studies.models import Dimension, Rubric, Tag, TagSet

        from .expert_rubric import forget

        for model in (Rubric, Dimension, TagSet, Tag):
            post_save.connect(forget, sender=model, dispatch_uid=f"expert_rubric_{model.__name__}")
            post_delete.connect(
                forget, sender=model, dispatch_uid=f"expert_rubric_del_{model.__name__}"
            )
