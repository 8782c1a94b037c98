"""Settings: names from DESIGN.md, safe defaults, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import Settings, default_content_dir
from tests.conftest import CONTENT_DIR

REPO = Path(__file__).resolve().parent.parent


def test_defaults_need_no_tokens() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_path == Path("./safetybot.db")
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert settings.twilio_api_base_url == "https://api.twilio.com"
    assert settings.timezone == "Europe/London"
    assert settings.telegram_bot_token is None


def test_default_content_dir_is_the_clones_content() -> None:
    assert default_content_dir() == CONTENT_DIR


def test_secrets_are_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:very-secret")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "very-secret" not in repr(settings)
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123:very-secret"


def test_coordinators_are_parsed() -> None:
    settings = Settings(_env_file=None, coordinators="telegram:123456, whatsapp:+447700900123")  # type: ignore[call-arg]
    assert settings.coordinator_ids == {("telegram", "123456"), ("whatsapp", "+447700900123")}


@pytest.mark.parametrize(
    ("field", "value"),
    [("timezone", "Mars/Olympus"), ("coordinators", "amina"), ("telegram_community_channel", "https://t.me/x")],
)
def test_bad_values_fail_with_a_hint(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=r"Europe/London|channel:user_id|@name"):
        Settings(_env_file=None, **{field: value})  # type: ignore[call-arg]


def test_a_community_channel_is_its_name_or_its_id() -> None:
    for value in ("@faithsafety_ldn", "-1001234567890"):
        assert Settings(_env_file=None, telegram_community_channel=value).telegram_community_channel == value  # type: ignore[call-arg]


def test_paid_broadcasts_are_off_unless_asked_and_cap_the_rate_at_telegrams() -> None:
    assert Settings(_env_file=None).telegram_paid_broadcast is False  # type: ignore[call-arg]
    paid = Settings(_env_file=None, telegram_paid_broadcast=True, telegram_rate_limit=1000)  # type: ignore[call-arg]
    assert paid.telegram_paid_broadcast and paid.telegram_rate_limit == 1000
    with pytest.raises(ValidationError, match="at most 1000"):
        Settings(_env_file=None, telegram_paid_broadcast=True, telegram_rate_limit=1500)  # type: ignore[call-arg]


def test_env_example_lists_every_setting() -> None:
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in example, name


def test_a_copied_env_example_behaves_like_no_settings(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text((REPO / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.content_dir == default_content_dir()
    assert settings.telegram_bot_token is None and settings.twilio_auth_token is None
    assert settings.coordinator_ids == frozenset()
