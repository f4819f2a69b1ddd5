"""Suite-wide collection rules.

With pytest-xdist (`make test`: `-n auto --dist loadgroup`) each test module runs on one
worker, and every end-to-end module on the SAME worker, one after another: an app
process with its two doubles takes a core of its own, and two at once on 2 cores
made their wall-clock waits flaky. (The AuthKeyNotFound once blamed on two stacks at
once was the MTProto double keeping 255-byte auth keys: see
tests/doubles/mtproto/crypto.py auth_key_bytes.)
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = "e2e" if path.startswith("tests/e2e/") else path
        item.add_marker(pytest.mark.xdist_group(group))
