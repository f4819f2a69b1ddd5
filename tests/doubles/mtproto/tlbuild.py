"""Build and serialize TL objects so the double survives Telethon layer upgrades.

Every constructor gains required fields over time. `build()` fills any required
argument that the caller did not give with a neutral value derived from the
constructor's `__init__` annotations (0, "", b"", False, [], None, or the
"emptiest" constructor of a nested abstract type), and silently drops arguments
that a newer layer removed.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import re
import struct
import sys
import types as pytypes
import typing
import zlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, Union

from telethon.tl import TLObject, types
from telethon.tl.alltlobjects import tlobjects

log = logging.getLogger(__name__)

T = TypeVar("T", bound=TLObject)

VECTOR_ID = 0x1CB5C415
BOOL_TRUE = struct.pack("<I", 0x997275B5)
BOOL_FALSE = struct.pack("<I", 0xBC799737)

_MAX_DEPTH = 6
_Factory = Callable[[int], Any]
_specs: dict[type, tuple[frozenset[str], list[tuple[str, _Factory]]]] = {}
_warned: set[tuple[type, str]] = set()
_imports: dict[str, dict[str, str]] = {}
_subclasses: dict[int, list[type]] = {}
_IMPORT_RE = re.compile(r"from \.\.\.tl\.types(\.\w+)? import ([^\n]+)")


class RawTL(TLObject):
    """Already serialized TL bytes that nest inside a regular TL object."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _bytes(self) -> bytes:
        return self.data

    def __bytes__(self) -> bytes:
        return self.data

    def to_dict(self) -> dict[str, Any]:
        return {"_": "RawTL", "data": self.data}


def build(cls: type[T], **kwargs: Any) -> T:
    """Instantiate `cls`, filling missing required args with neutral values."""
    known, required = _spec(cls)
    for name in list(kwargs):
        if name not in known:
            if (cls, name) not in _warned:
                _warned.add((cls, name))
                log.warning("%s has no field %r in this layer; dropped", cls.__name__, name)
            del kwargs[name]
    for name, factory in required:
        if name not in kwargs:
            kwargs[name] = factory(0)
    return cls(**kwargs)


def _spec(cls: type) -> tuple[frozenset[str], list[tuple[str, _Factory]]]:
    spec = _specs.get(cls)
    if spec is None:
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        params = [p for p in inspect.signature(cls).parameters.values() if p.kind in kinds]
        required = [
            (p.name, _factory_for(p.annotation, cls))
            for p in params
            if p.default is inspect.Parameter.empty
        ]
        spec = frozenset(p.name for p in params), required
        _specs[cls] = spec
    return spec


def _factory_for(annotation: Any, owner: type) -> _Factory:
    if annotation is int:
        return lambda depth: 0
    if annotation is float:
        return lambda depth: 0.0
    if annotation is str:
        return lambda depth: ""
    if annotation is bytes:
        return lambda depth: b""
    if annotation is bool:
        return lambda depth: False
    if annotation is dt.datetime:
        return lambda depth: None
    if isinstance(annotation, str | typing.ForwardRef):
        name = annotation if isinstance(annotation, str) else annotation.__forward_arg__
        return _factory_for_name(name.strip("'\""), owner)
    origin = typing.get_origin(annotation)
    if origin in (list, typing.List):  # noqa: UP006
        return lambda depth: []
    if origin in (Union, pytypes.UnionType):
        args = typing.get_args(annotation)
        if type(None) in args:
            return lambda depth: None
        return _factory_for_classes([a for a in args if isinstance(a, type)])
    if isinstance(annotation, type) and issubclass(annotation, TLObject):
        return _factory_for_classes([annotation])
    return lambda depth: None


def _factory_for_name(name: str, owner: type) -> _Factory:
    if name.startswith("List["):
        return lambda depth: []
    if name in ("int", "long"):
        return lambda depth: 0
    if name == "str":
        return lambda depth: ""
    if name == "bytes":
        return lambda depth: b""
    if name == "bool":
        return lambda depth: False
    if not name.startswith("Type"):
        return lambda depth: None
    namespace = _type_imports(owner.__module__).get(name, "")
    bare = name[len("Type") :]
    qualified = f"{namespace}.{bare}" if namespace else bare
    classes = _by_subclass().get(zlib.crc32(qualified.encode()), [])
    return _factory_for_classes(classes)


def _type_imports(module_name: str) -> dict[str, str]:
    """Map `TypeX` names to their TL namespace from a generated module's imports."""
    found = _imports.get(module_name)
    if found is None:
        found = {}
        module = sys.modules.get(module_name)
        path = getattr(module, "__file__", None)
        if path:
            with open(path, encoding="utf-8") as fh:
                head = fh.read(20000)
            for ns, names in _IMPORT_RE.findall(head):
                for item in names.split(","):
                    found[item.strip()] = ns.lstrip(".")
        _imports[module_name] = found
    return found


def _by_subclass() -> dict[int, list[type]]:
    if not _subclasses:
        for cls in tlobjects.values():
            if not getattr(cls, "SUBCLASS_OF_ID", None) or cls.__name__.endswith("Request"):
                continue
            _subclasses.setdefault(cls.SUBCLASS_OF_ID, []).append(cls)
    return _subclasses


def _factory_for_classes(classes: list[type]) -> _Factory:
    def pick(depth: int) -> Any:
        if depth > _MAX_DEPTH or not classes:
            return None
        best = min(classes, key=_emptiness)
        # Patched classes (e.g. the custom Message) serialize identically.
        best = tlobjects.get(getattr(best, "CONSTRUCTOR_ID", -1), best)
        _known, required = _spec(best)
        return best(**{name: factory(depth + 1) for name, factory in required})

    return pick


def _emptiness(cls: type) -> tuple[int, int, str]:
    name = cls.__name__
    _known, required = _spec(cls)
    return (0 if name.endswith("Empty") else 1, len(required), name)


def vector(items: Iterable[Any], *, kind: str = "object") -> bytes:
    """Serialize a bare TL `Vector<...>` of objects, ints or longs."""
    items = list(items)
    head = struct.pack("<Ii", VECTOR_ID, len(items))
    if kind == "int":
        return head + struct.pack(f"<{len(items)}i", *items)
    if kind == "long":
        return head + struct.pack(f"<{len(items)}q", *items)
    return head + b"".join(bytes(x) for x in items)


def serialize_result(result: Any) -> bytes:
    """Serialize a handler's result: a TL object, bool, bytes or list of TL objects."""
    if isinstance(result, bool):
        return BOOL_TRUE if result else BOOL_FALSE
    if isinstance(result, bytes | bytearray):
        return bytes(result)
    if isinstance(result, list):
        return vector(result)
    return bytes(result)


def method_name(request: TLObject) -> str:
    """TL name of a request, e.g. `messages.getHistory` for GetHistoryRequest."""
    cls = type(request)
    name = cls.__name__
    if name.endswith("Request"):
        name = name[: -len("Request")]
    name = name[:1].lower() + name[1:]
    module = cls.__module__.rsplit(".", 1)[-1]
    return name if module == "functions" else f"{module}.{name}"


def to_datetime(ts: int | float | dt.datetime | None) -> dt.datetime | None:
    if ts is None or isinstance(ts, dt.datetime):
        return ts
    return dt.datetime.fromtimestamp(int(ts), tz=dt.UTC)


def to_timestamp(value: dt.datetime | int | float | None) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp())
    return int(value)


def peer_user(user_id: int) -> types.PeerUser:
    return types.PeerUser(user_id=user_id)


def peer_channel(channel_id: int) -> types.PeerChannel:
    return types.PeerChannel(channel_id=channel_id)
