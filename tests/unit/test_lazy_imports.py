"""The app's start does not import what only an optional feature uses (#20 P3: peak RSS
<= 200 MB): networkx (22 MB, the first /graph export imports it) and aiobotocore /
botocore (~20 MB, only with MEDIA_URL=s3://...). A fresh interpreter, as the app starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from bot.aiogram_lazy import defer_aiogram_models
defer_aiogram_models()
import app.cli, app.service
from app.media_storage import build_media_store
from app.settings import Settings
from services.graph import build_graph, write_files
print(json.dumps(sorted(m for m in ("networkx", "botocore", "aiobotocore") if m in sys.modules)))
"""


def test_the_app_starts_without_networkx_and_botocore() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
