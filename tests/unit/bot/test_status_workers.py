"""/status's processes (#18): host/pid, role, the accounts and channel runs each holds,
the last heartbeat; valid Telegram HTML within bounds at any number of workers."""

from __future__ import annotations

import pytest

from bot.status import WORKERS_SHOWN, worker_lines
from core.status import ComponentStatus, StatusReport, WorkerStatus
from tests.doubles.botapi.formatting import parse_text, utf16_len

# The processes' part may take this much of /status's 4,096 characters at most.
SECTION_MAX = 2000


def _worker(i: int, **kw: object) -> WorkerStatus:
    fields: dict[str, object] = dict(
        where=f"host-{i}.example.internal/{1000 + i}", role="worker",
        accounts=(str(i),), channels=("3", "9"), heartbeat_age=1.5, alive=True,
    )
    fields.update(kw)
    return WorkerStatus(**fields)  # type: ignore[arg-type]


def _shown(lines: list[str]) -> str:
    text, _ = parse_text("\n".join(lines), "HTML")  # raises what Telegram would refuse
    return text


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_each_process_with_its_leases_and_heartbeat(lang: str) -> None:
    report = StatusReport(
        (ComponentStatus("leases", "running"),),
        workers=(
            _worker(1, role="all", this=True, channels=("3",)),
            _worker(2, accounts=(), channels=()),
            _worker(3, alive=False, heartbeat_age=75, where="<b>&evil/7"),
        ),
    )
    text = _shown(worker_lines(report, lang))
    if lang == "en":
        assert "Processes (3):" in text
        assert "host-1.example.internal/1001, bot and parser (this one): accounts #1, " \
            "channel runs: 1, heartbeat 1.5 s ago" in text
        assert "host-2.example.internal/1002, worker: accounts none, channel runs: 0" in text
        assert "<b>&evil/7, worker: ⚠️ no heartbeat for 75 s" in text
    else:
        assert "Процессы (3):" in text
        assert (
            "бот и сбор данных (этот): аккаунты #1, сборы каналов: 1, отклик 1,5 с назад" in text
        )
        assert "аккаунты нет, сборы каналов: 0" in text
        assert "нет отклика 75 с" in text


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_bounded_at_any_number_of_workers_and_leases(lang: str) -> None:
    many = tuple(
        _worker(
            i, where="h" * 300 + f"/{i}", accounts=tuple(str(10**9 + a) for a in range(400)),
            channels=tuple(str(c) for c in range(5000)),
        )
        for i in range(1000)
    )
    lines = worker_lines(StatusReport((), workers=many), lang)
    text = _shown(lines)
    assert utf16_len(text) <= SECTION_MAX
    assert len(lines) == 1 + WORKERS_SHOWN + 1
    assert ("… and 990 more" if lang == "en" else "… и ещё 990") in text
    assert "+395" in text  # accounts past the first five are counted
    assert "5000" in text


def test_none_on_sqlite_and_the_error_when_they_cannot_be_read() -> None:
    assert worker_lines(StatusReport(()), "en") == []
    text = _shown(
        worker_lines(StatusReport((), workers_error="ConnectionRefusedError: <x>"), "en")
    )
    assert text == "⚠️ The processes could not be read: ConnectionRefusedError: <x>"
