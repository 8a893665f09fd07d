"""A short admin token is refused at start: the admin API has no lockout."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from arena.settings import MIN_ADMIN_TOKEN_CHARS, Settings


def test_a_short_admin_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(admin_token="guessable")  # type: ignore[arg-type]


def test_a_long_admin_token_and_no_token_are_accepted() -> None:
    token = "x" * MIN_ADMIN_TOKEN_CHARS
    settings = Settings(admin_token=token)  # type: ignore[arg-type]
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == token
    assert Settings().admin_token is None
