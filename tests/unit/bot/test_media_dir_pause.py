"""/status and the alerts when the media folder cannot be written (#16 review 6):
texts of bot/locales/*/downloads.po, valid HTML, the folder and error escaped."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.delivery import render_alert
from bot.routers.media import status_section
from core.alerts import AlertText
from core.media import MediaCounts


@dataclass
class Api:
    figures: MediaCounts

    async def counts(self) -> MediaCounts:
        return self.figures


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_status_names_an_unusable_media_folder(lang: str) -> None:
    text = await status_section(Api(MediaCounts(queued=2, paused="media_dir")), lang)
    assert "media_dir" not in text
    assert ("media folder cannot be written" if lang == "en" else "в папку медиафайлов") in text


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize(
    "alert",
    [
        AlertText("alert_media_dir", where="/srv/<media>", error="Not a directory (ENOTDIR)"),
        AlertText("alert_media_dir_ok", where="/srv/<media>"),
        AlertText(
            "alert_media_disk_error", where="/srv/<media>", free_mb=900, min_mb=500,
            error="Disk quota exceeded (EDQUOT)", retry_s=60,
        ),
    ],
)
def test_the_media_folder_alerts_render(lang: str, alert: AlertText) -> None:
    text = str(render_alert(alert, lang))
    assert "/srv/&lt;media&gt;" in text and "{" not in text
