"""One running instance per database."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from app.instance_lock import AlreadyRunning, InstanceLock
from tests.e2e.harness import ADMIN2_ID, ROOT, running_stack


async def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    db = tmp_path / "data" / "tg.sqlite3"
    url = f"sqlite://{db}"
    first = InstanceLock(url, db)
    await first.acquire()
    second = InstanceLock(url, db)
    with pytest.raises(AlreadyRunning, match="already running"):
        await second.acquire()
    await first.release()
    await second.acquire()  # free again once released
    await second.release()


async def test_lock_dies_with_its_process(tmp_path: Path) -> None:
    db = tmp_path / "tg.sqlite3"
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import asyncio, sys, pathlib\n"
        "from app.instance_lock import InstanceLock\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "asyncio.run(InstanceLock('sqlite://' + str(p), p).acquire())\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n",
        str(db),
        cwd=str(ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
    with pytest.raises(AlreadyRunning):
        await InstanceLock(f"sqlite://{db}", db).acquire()
    holder.kill()  # SIGKILL: no cleanup code runs, the kernel drops the lock
    await holder.wait()
    lock = InstanceLock(f"sqlite://{db}", db)
    await lock.acquire()
    await lock.release()


async def test_second_run_refuses_while_the_first_keeps_running(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "run",
            cwd=str(ROOT),
            env=stack.app.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(second.communicate(), 30)
        text = out.decode()
        assert second.returncode not in (0, None)
        assert "already running" in text and "refusing to start" in text
        assert "Traceback" not in text
        assert stack.app.alive()
        # The first one still serves operators.
        api = stack.botapi
        await api.send_text(api.users[ADMIN2_ID], "/start")
        reply = await api.wait_for_message(ADMIN2_ID, r"/login", timeout=15)
        assert "Hello" in reply.text
        assert await stack.app.terminate() == 0
