"""What handlers may call: the bot's view of the rest of the app.

`app/` builds one `BotServices` and passes it to the Dispatcher as workflow data.
Feature sections of /status are contributed as callables so the bot never imports
Telethon or Tortoise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.texts import Html, keys, t

StatusSection = Callable[[str], Awaitable[str]]


@dataclass
class BotServices:
    admin_ids: set[int]
    default_lang: str
    health: Any  # app.health.HealthRegistry
    extras: dict[str, Any] = field(default_factory=dict)
    status_sections: list[StatusSection] = field(default_factory=list)

    async def status_text(self, lang: str) -> str:
        lines = [f"<b>{t('status_title', lang)}</b>"]
        for section in self.status_sections:
            text = await section(lang)
            if text:
                lines.append(text)
        lines.append(t("status_components", lang))
        for comp in self.health.components.values():
            extra = t("status_restarts", lang, n=comp.restarts) if comp.restarts else ""
            if comp.last_error and comp.state != "running":
                error = t("status_component_error", lang, error=comp.last_error[:120])
                extra = Html(extra + error)
            name = _word("status_component_", comp.name, lang)
            state = _word("status_state_", comp.state, lang)
            lines.append(t("status_component", lang, name=name, state=state, extra=extra))
        return "\n".join(lines)


def _word(prefix: str, value: str, lang: str) -> str:
    """A component's name or state in the operator's language (as is when unknown)."""
    key = prefix + value
    return t(key, lang) if key in keys() else value
