"""Alerts of one kind raised close together go out as one message (core/alerts.py fold)."""

from __future__ import annotations

import asyncio

import pytest

from bot.delivery import render_alert
from core.alerts import Alerter, AlertText, folded_names


def flood_body(names: list[str]) -> AlertText:
    channels = folded_names(names)
    return AlertText("alert_resolve_flood", n=len(names), seconds=600, channels=channels)


async def test_a_burst_of_one_kind_is_one_message_naming_the_count() -> None:
    alerter = Alerter(fold_quiet=0.05, fold_max=5)
    names = [f'Channel {i} <b>&"x" (@c{i:04d})' for i in range(800)]
    for name in names:
        alerter.fold("resolve-flood", name, flood_body)
    assert alerter.pending() == []  # held until the burst is over
    await asyncio.sleep(0.2)
    (alert,) = alerter.pending()
    en, ru = render_alert(alert.body, "en"), render_alert(alert.body, "ru")
    assert "800 channels wait" in en and "Channel 4 &lt;b&gt;" in en and "and 795 more" in en
    assert "Channel 5 " not in en
    assert "800 каналов" in ru and "и ещё 795" in ru
    assert max(len(en), len(ru)) <= 4096 and "<b>" not in en + ru


async def test_one_alone_names_its_channel_and_the_window_holds_per_key() -> None:
    alerter = Alerter(fold_quiet=0.01)
    assert alerter.fold("resolve-flood", "News (@news)", flood_body, key="k1")
    assert not alerter.fold("resolve-flood", "News (@news)", flood_body, key="k1")
    await asyncio.sleep(0.1)
    (alert,) = alerter.pending()
    assert "1 channel waits for it" in render_alert(alert.body, "en")
    assert "News (@news)." in render_alert(alert.body, "en")


@pytest.mark.parametrize("count", [1, 5, 6])
def test_folded_names(count: int) -> None:
    names = [f"n{i}" for i in range(count)]
    got = folded_names(names)
    assert (isinstance(got, str)) == (count <= 5)
