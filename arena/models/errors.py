"""What can go wrong with a model endpoint, and the one HTTP answer for each."""

from __future__ import annotations

from arena.errors import ArenaError


class ModelError(ValueError):
    """A registration or lookup that cannot be done; the message is shown to the user."""


class NameTaken(ModelError):
    pass


class ModelNotFound(ModelError):
    pass


class StatusConflict(ModelError):
    """The model's status does not allow this change."""


def as_http_error(exc: ModelError) -> ArenaError:
    """The same failure reads the same on the owner's and the admin's API."""
    if isinstance(exc, ModelNotFound):
        return ArenaError(404, "model_not_found", str(exc))
    if isinstance(exc, NameTaken):
        return ArenaError(409, "model_name_taken", str(exc))
    if isinstance(exc, StatusConflict):
        return ArenaError(409, "invalid_status", str(exc))
    return ArenaError(400, "invalid_model", str(exc))
