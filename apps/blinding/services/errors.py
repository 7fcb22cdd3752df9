"""The one error of the blind side's services."""

from __future__ import annotations


class PlanRefused(Exception):
    """A plan change that cannot be made, with a message for the organizer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
