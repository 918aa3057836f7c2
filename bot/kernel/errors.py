"""Typed domain refusals. Each carries a message-catalogue key and its parameters, so every
channel can tell the person what went wrong in their own language."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    key = "error.generic"

    def __init__(self, key: str | None = None, **params: Any) -> None:
        self.key = key or type(self).key
        self.params = params
        super().__init__(f"{self.key} {params}" if params else self.key)


class NotAllowed(DomainError):
    key = "error.not_allowed"


class NotFound(DomainError):
    key = "error.not_found"


class InvalidInput(DomainError):
    key = "error.invalid"


class InsufficientPoints(DomainError):
    key = "error.insufficient_points"


class AlreadyDecided(DomainError):
    key = "error.already_decided"


class IdempotencyConflict(DomainError):
    """The same idempotency key was used again with different arguments."""

    key = "error.idempotency_conflict"


class OutOfStock(DomainError):
    """Fewer goods on the shelf than asked for; `left` says how many there are."""

    key = "error.out_of_stock"


class LooksRepeated(DomainError):
    """The same thing was already done (e.g. the same hours logged for the same day): ask first."""

    key = "error.looks_repeated"
