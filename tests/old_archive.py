"""An SQLite archive as an older version left it: migrated only up to a given migration.

Runs in a child process, so the caller's own Tortoise setup (if any) is untouched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = (
    "import asyncio, sys\n"
    "from tortoise import Tortoise\n"
    "from tortoise.migrations.api import migrate\n"
    "from db.config import tortoise_config\n"
    "async def main():\n"
    "    await migrate(config=tortoise_config('sqlite://' + sys.argv[1]),"
    " target='tg_parser.' + sys.argv[2])\n"
    "    await Tortoise.close_connections()\n"
    "asyncio.run(main())\n"
)


def migrate_to(path: Path, migration: str, timeout: float | None = 60) -> None:
    """Create (or bring) the SQLite database at `path` up to `migration` (e.g.
    "0005_content") and no further. Raises CalledProcessError when migrating fails."""
    subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(path), migration],
        cwd=ROOT,
        check=True,
        timeout=timeout,
    )
