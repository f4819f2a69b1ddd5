"""Suite-wide collection rules.

With pytest-xdist (`make test`: `-n auto --dist loadgroup`) each test module runs on one
worker, and every end-to-end module on the SAME worker, one after another: two app
stacks (an app process with its own MTProto and Bot API doubles) started at the same
time by two workers once left an app unable to use the session seeded for it
(AuthKeyNotFound from its own double), which was never seen with one stack at a time.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = "e2e" if path.startswith("tests/e2e/") else path
        item.add_marker(pytest.mark.xdist_group(group))
