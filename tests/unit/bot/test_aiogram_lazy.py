"""aiogram's models are built on first use, and every one of them still can be.

Runs in a fresh interpreter: the deferral only applies when `bot` is imported before
anything else imports aiogram (as in the app), and this test process has long
imported aiogram by the time it runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import bot  # defers aiogram's model builds
    from bot.aiogram_lazy import defer_aiogram_models
    from pydantic import BaseModel
    import aiogram
    from aiogram import types as t
    from aiogram.methods import SendMessage
    from aiogram.methods.base import Response

    def aiogram_models():
        seen, todo = set(), [BaseModel]
        while todo:
            for sub in todo.pop().__subclasses__():
                if sub not in seen:
                    seen.add(sub)
                    todo.append(sub)
        return [c for c in seen if c.__module__.startswith("aiogram.")
                and not c.__pydantic_generic_metadata__["parameters"]]

    out = {"again": defer_aiogram_models()}
    out["types_built_at_import"] = sorted(
        c.__name__ for c in aiogram_models()
        if c.__module__.startswith("aiogram.types.") and c.__pydantic_complete__
    )
    update = t.Update.model_validate({
        "update_id": 7,
        "callback_query": {
            "id": "1", "from": {"id": 5, "is_bot": False, "first_name": "Ann"},
            "chat_instance": "x", "data": "page:2",
            "message": {"message_id": 3, "date": 0, "chat": {"id": 5, "type": "private"},
                        "text": "hi", "entities": [{"type": "bold", "offset": 0, "length": 2}]},
        },
    })
    out["update"] = [update.callback_query.data, update.callback_query.message.text,
                     update.callback_query.message.entities[0].type]
    reply = Response[t.Message].model_validate({"ok": True, "result": {
        "message_id": 9, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "ok",
        "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}}})
    out["reply"] = type(reply.result.reply_markup).__name__
    send = SendMessage(chat_id=5, text="x", reply_markup=t.InlineKeyboardMarkup(
        inline_keyboard=[[t.InlineKeyboardButton(text="a", callback_data="b")]]))
    out["send"] = send.model_dump(exclude_none=True)["reply_markup"]

    def build(cls, depth=8):
        # pydantic resolves a deferred model from a few frames up the caller's stack.
        if depth:
            return build(cls, depth - 1)
        getattr(cls.__pydantic_validator__, "validate_python")
        getattr(cls.__pydantic_serializer__, "to_python")
        return cls.__pydantic_complete__

    failed = []
    models = aiogram_models()
    for cls in models:
        try:
            if not build(cls):
                failed.append(cls.__name__)
        except Exception as exc:
            failed.append(f"{cls.__name__}: {exc!r}"[:200])
    out["models"] = len(models)
    out["failed"] = failed
    print(json.dumps(out))
    """
)


def test_aiogram_models_build_lazily_and_all_still_build() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # Deferred: aiogram.types models are not built at import (it was all ~400).
    assert out["again"] is False
    assert len(out["types_built_at_import"]) < 10, out["types_built_at_import"]
    # Built on demand, with the forward references aiogram hides under TYPE_CHECKING.
    assert out["update"] == ["page:2", "hi", "bold"]
    assert out["reply"] == "InlineKeyboardMarkup"
    assert out["send"] == {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}
    assert out["models"] > 600 and out["failed"] == []
