"""The userbot as the background services see it (services/counters, services/media:
their `Session` protocols): a client, a state, and `session_dead`, which drops the
client as parser/userbot.py Userbot does and keeps the reasons for the test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeSession:
    client: Any
    state: str = "ready"
    dead: list[str] = field(default_factory=list)

    async def session_dead(self, reason: str) -> None:
        self.dead.append(reason)
        self.client, self.state = None, "invalid"
