"""TEMPORARY: the `services` workflow-data key of the routers not yet on `BotDeps`.

The login and parse routers still read
`services.extras["..."]`; each goes when its router takes its typed API key
(bot/api/). Nothing new may be added here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BotServices:
    extras: dict[str, Any] = field(default_factory=dict)
