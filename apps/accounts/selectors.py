"""Reads of the accounts app: invitations by token, consent."""

from __future__ import annotations

import hashlib

from apps.accounts.models import Consent, Invitation
from apps.studies.models import Study


def is_person(user) -> bool:
    """A logged-in, active account: the first thing every access check asks."""
    return bool(user is not None and user.is_authenticated and user.is_active)


def token_hash(token: str) -> str:
    """The stored form of an invitation token (the token itself is never stored)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a link's token belongs to (its ``state`` says whether it can
    still be used), or None for a token that was never issued."""
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        return None
    return (
        Invitation.objects.select_related("user", "study")
        .filter(token_hash=token_hash(token))
        .first()
    )


def consent_version(study: Study) -> str:
    """The version of ``study``'s information an expert consents to: a short hash
    of its title and description, so that changing what experts were told asks
    them again."""
    text = f"{study.title}\x1f{study.description}".encode()
    return hashlib.sha256(text).hexdigest()[:16]


def has_consented(user, study: Study) -> bool:
    """Whether ``user`` agreed to the current version of ``study``'s information."""
    if user is None or not user.is_authenticated:
        return False
    return Consent.objects.filter(user=user, study=study, version=consent_version(study)).exists()


def consents_of(user) -> list[Consent]:
    return list(Consent.objects.filter(user=user).select_related("study"))
