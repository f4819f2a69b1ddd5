"""MTProto TCP transports: full (Telethon's default), intermediate, abridged.

The transport is detected from the first bytes a client sends.
"""

from __future__ import annotations

import asyncio
import struct
from zlib import crc32


class TransportError(Exception):
    pass


class Codec:
    name = "?"

    async def read(self, reader: asyncio.StreamReader) -> bytes:
        raise NotImplementedError

    def encode(self, data: bytes) -> bytes:
        raise NotImplementedError


class FullCodec(Codec):
    """length (4) + seqno (4) + payload + CRC32 (4)."""

    name = "full"

    def __init__(self, first: bytes) -> None:
        self._pending = first
        self._recv_seq = 0
        self._send_seq = 0

    async def read(self, reader: asyncio.StreamReader) -> bytes:
        head = self._pending + await reader.readexactly(8 - len(self._pending))
        self._pending = b""
        length, seq = struct.unpack("<ii", head)
        if length < 12 or length > 16 * 1024 * 1024:
            raise TransportError(f"bad full-transport length {length}")
        rest = await reader.readexactly(length - 8)
        body, checksum = rest[:-4], struct.unpack("<I", rest[-4:])[0]
        if crc32(head + body) != checksum:
            raise TransportError("CRC32 mismatch")
        if seq != self._recv_seq:
            raise TransportError(f"seqno {seq}, expected {self._recv_seq}")
        self._recv_seq += 1
        return body

    def encode(self, data: bytes) -> bytes:
        packet = struct.pack("<ii", len(data) + 12, self._send_seq) + data
        self._send_seq += 1
        return packet + struct.pack("<I", crc32(packet))


class IntermediateCodec(Codec):
    """0xeeeeeeee, then length (4) + payload; padded (0xdddddddd) strips 0-3 bytes."""

    name = "intermediate"

    def __init__(self, padded: bool = False) -> None:
        self.padded = padded
        if padded:
            self.name = "padded-intermediate"

    async def read(self, reader: asyncio.StreamReader) -> bytes:
        (length,) = struct.unpack("<i", await reader.readexactly(4))
        if length <= 0 or length > 16 * 1024 * 1024:
            raise TransportError(f"bad intermediate length {length}")
        data = await reader.readexactly(length)
        if self.padded and length % 4:
            data = data[: -(length % 4)]
        return data

    def encode(self, data: bytes) -> bytes:
        return struct.pack("<i", len(data)) + data


class AbridgedCodec(Codec):
    """0xef, then length/4 in one byte (or 0x7f + 3 bytes) + payload."""

    name = "abridged"

    async def read(self, reader: asyncio.StreamReader) -> bytes:
        first = (await reader.readexactly(1))[0]
        if first >= 0x7F:
            length = int.from_bytes(await reader.readexactly(3), "little")
        else:
            length = first
        return await reader.readexactly(length << 2)

    def encode(self, data: bytes) -> bytes:
        words = len(data) >> 2
        if words < 0x7F:
            return bytes((words,)) + data
        return b"\x7f" + words.to_bytes(3, "little") + data


async def detect(reader: asyncio.StreamReader) -> Codec:
    first = await reader.readexactly(1)
    if first == b"\xef":
        return AbridgedCodec()
    head = first + await reader.readexactly(3)
    if head == b"\xee\xee\xee\xee":
        return IntermediateCodec()
    if head == b"\xdd\xdd\xdd\xdd":
        return IntermediateCodec(padded=True)
    return FullCodec(head)
