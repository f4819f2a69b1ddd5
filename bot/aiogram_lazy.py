"""Build aiogram's pydantic models when first used instead of all at import.

`import aiogram.types` ends with a loop calling `model_rebuild()` on each of its
~400 models. Each build compiles a validator and a serializer that inline every
model the type can reach (a Message reaches most of the Bot API), so the import
alone raised the process to ~165 MB RSS (aiogram 3.31, pydantic 2.13), most of
the app's memory. The models are declared `defer_build=True`; only that loop
forces them. While `aiogram.types` is imported, `defer_aiogram_models()` makes the
loop do what the build needed it for instead: the names a model's annotations
refer to (imported only under TYPE_CHECKING in aiogram's modules) are put into
that model's module, so pydantic can resolve them whenever it builds the model,
directly or as part of another one (a method, `Response[Message]`, an Update).
The bot builds the few models it uses on first use (~85 MB after import, ~92 MB
once an Update, a callback query and a reply went through).

tests/unit/test_aiogram_lazy.py builds every aiogram model this way in a fresh
interpreter, so an aiogram or pydantic upgrade that breaks the approach fails there,
not in production.
"""

from __future__ import annotations

import re
import sys
from typing import Any

_WORD = re.compile(r"[A-Za-z_]\w*")


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__forward_arg__", None) or repr(annotation)


def defer_aiogram_models() -> bool:
    """Import aiogram.types with deferred model builds; False if it was too late.

    Call before anything imports aiogram (the `bot` package does, first thing).
    """
    if "aiogram.types" in sys.modules:
        return False
    from pydantic import BaseModel

    original = BaseModel.__dict__["model_rebuild"]

    def record_names(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: dict[str, Any] | None = None,
    ) -> bool | None:
        if (
            _types_namespace is None
            or force
            or cls.__pydantic_complete__
            or not cls.__module__.startswith("aiogram.")
        ):
            return original.__func__(  # type: ignore[no-any-return]
                cls,
                force=force,
                raise_errors=raise_errors,
                _parent_namespace_depth=_parent_namespace_depth + 1,
                _types_namespace=_types_namespace,
            )
        module = vars(sys.modules[cls.__module__])
        for klass in cls.__mro__:
            for annotation in vars(klass).get("__annotations__", {}).values():
                for word in _WORD.findall(_annotation_text(annotation)):
                    if word not in module and word in _types_namespace:
                        module[word] = _types_namespace[word]
        return None

    BaseModel.model_rebuild = classmethod(record_names)  # type: ignore[assignment,method-assign]
    try:
        import aiogram.types  # noqa: F401
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
    return True


def warm_models() -> None:
    """Build the models every reply goes through, so the first command is not slower.

    ~0.15 s once, on the event loop before polling starts (pydantic's builds are not
    thread-safe, so not in a worker thread).
    """
    from aiogram.methods import (
        AnswerCallbackQuery,
        EditMessageText,
        GetUpdates,
        SendMessage,
    )
    from aiogram.methods.base import Response
    from aiogram.types import (
        CallbackQuery,
        InlineKeyboardButton,
        InlineKeyboardMarkup,
        Message,
        Update,
    )

    for model in (
        Update,
        Message,
        CallbackQuery,
        InlineKeyboardMarkup,  # lists and menus (/channels, /export, ...)
        InlineKeyboardButton,
        GetUpdates,
        SendMessage,
        EditMessageText,
        AnswerCallbackQuery,
    ):
        model.model_rebuild()
    for returning in (Message, list[Update], bool):
        Response[returning].model_rebuild()  # type: ignore[valid-type]
