"""Suite-wide collection rules.

With pytest-xdist (`make test`: `-n auto --dist loadgroup`) each test module runs on one
worker, one test after another (module-scoped fixtures such as a PostgreSQL cluster are
made once). End-to-end modules are spread like the others: on 2 cores two app
processes with their doubles may run at once. Their waits are generous for that (an
e2e test waits for what it expects, never a fixed time shorter than a loaded machine
needs). (The AuthKeyNotFound once blamed on two stacks at once was the MTProto double
keeping 255-byte auth keys: see tests/doubles/mtproto/crypto.py auth_key_bytes.)
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
