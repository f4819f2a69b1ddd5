"""The failure policy: a pure function of the error, no database, no scheduler."""

from __future__ import annotations

import pytest

from core.errors import (
    ChannelUnavailable,
    ClockSkew,
    LocalError,
    NoAnswer,
    RateLimited,
    ServerTrouble,
    SessionDead,
    TelegramError,
    TransportError,
    UnknownTelegramError,
)
from core.parsing import RunStatus
from services.parsing.policy import LONG_FLOOD_SECONDS, Action, Decision, decide


@pytest.mark.parametrize(
    ("seconds", "alert"), [(5, False), (LONG_FLOOD_SECONDS - 1, False), (LONG_FLOOD_SECONDS, True)]
)
def test_a_flood_wait_defers_the_channel_and_a_long_one_is_told(seconds: int, alert: bool) -> None:
    assert decide(RateLimited(seconds)) == Decision(
        Action.DEFER, RunStatus.DEFERRED, seconds=seconds, reason=f"flood wait {seconds}s",
        alert=alert,
    )


def test_an_unavailable_channel_is_disabled_with_its_reason_and_told() -> None:
    d = decide(ChannelUnavailable("private"))
    assert (d.action, d.status, d.reason, d.metric, d.alert) == (
        Action.DISABLE, RunStatus.DISABLED, "private", "channel", True
    )


def test_a_dead_session_is_the_session_s_trouble_not_the_channel_s() -> None:
    d = decide(SessionDead("AuthKeyUnregistered"))
    assert (d.action, d.status, d.reason, d.metric, d.alert) == (
        Action.SESSION_DEAD, RunStatus.FAILED, "AuthKeyUnregistered", "session", False
    )


@pytest.mark.parametrize(
    "error", [TransportError("ConnectionError"), NoAnswer(30), ClockSkew(120)]
)
def test_network_trouble_goes_to_the_breaker(error: TransportError) -> None:
    d = decide(error)
    assert (d.action, d.status, d.metric) == (Action.BREAKER, RunStatus.FAILED, "transport")
    assert d.reason == error.detail and not d.alert


def test_other_telegram_errors_are_recorded_by_code() -> None:
    d = decide(TelegramError("boom"))
    assert (d.action, d.status, d.metric, d.reason, d.alert) == (
        Action.RECORD, RunStatus.FAILED, "telegram_error", "boom", False
    )


def test_a_bug_is_recorded_by_its_type_and_message_and_told_once_per_type() -> None:
    d = decide(KeyError("x"))
    assert (d.action, d.metric, d.reason, d.alert, d.once) == (
        Action.RECORD, "unexpected", "KeyError: 'x'", True, "bug:KeyError"
    )


@pytest.mark.parametrize(
    "error",
    [ServerTrouble("INTERNAL", "ServerError: RPCError 500: INTERNAL"),
     ServerTrouble("retries_exhausted", "ValueError: Request was unsuccessful 3 time(s)")],
)
def test_server_trouble_is_a_transport_failure(error: ServerTrouble) -> None:
    d = decide(error)
    assert (d.action, d.status, d.metric, d.reason) == (
        Action.BREAKER, RunStatus.FAILED, "transport", error.detail
    )


def test_an_unknown_telegram_error_is_told_once_by_its_name() -> None:
    d = decide(UnknownTelegramError("SOME_NEW_ERROR", 400))
    assert (d.action, d.status, d.reason, d.alert, d.once) == (
        Action.RECORD, RunStatus.FAILED, "SOME_NEW_ERROR (400)", True, "rpc:SOME_NEW_ERROR"
    )


@pytest.mark.parametrize("cause", ["disk_full", "db_locked"])
def test_local_trouble_is_not_the_network_s(cause: str) -> None:
    d = decide(LocalError(cause, "OperationalError: database or disk is full", "/data"))
    assert (d.action, d.status, d.metric, d.alert) == (
        Action.LOCAL, RunStatus.FAILED, "local", True
    )
    assert d.reason == "OperationalError: database or disk is full"


@pytest.mark.parametrize(
    "error", [RateLimited(600), SessionDead("SessionRevoked"), TransportError("OSError")]
)
def test_a_client_taken_away_mid_run_only_interrupts_it(error: TelegramError) -> None:
    """/logout while a run goes on: its requests fail, but that is no Telegram trouble."""
    assert decide(error, client_replaced=True) == Decision(
        Action.INTERRUPTED, RunStatus.INTERRUPTED
    )
