"""The MTProto server double: TCP transports, handshake, encrypted sessions, RPC."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from telethon.crypto import AuthKey
from telethon.errors import TypeNotFoundError
from telethon.extensions import BinaryReader
from telethon.tl import TLObject, functions, types
from telethon.tl.core import GzipPacked, MessageContainer, RpcResult
from telethon.tl.tlobject import TLRequest

from . import methods
from .crypto import (
    Handshake,
    ServerRSAKey,
    SrpChallenge,
    decrypt_client_message,
    encrypt_server_message,
)
from .faults import DROP, STALL, Fault, Faults
from .methods import HANDLERS, Call, RpcFail, needs_auth
from .tlbuild import method_name, serialize_result
from .transport import TransportError, detect
from .world import QrToken, User, World

log = logging.getLogger(__name__)

_RPC_RESULT = struct.pack("<I", RpcResult.CONSTRUCTOR_ID)
_WRAPPERS = (
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeAfterMsgRequest,
    functions.InvokeAfterMsgsRequest,
    functions.InvokeWithTakeoutRequest,
    functions.InvokeWithMessagesRangeRequest,
)
_IGNORED = (
    types.MsgsAck,
    types.MsgsStateReq,
    types.MsgResendReq,
    types.MsgsAllInfo,
    types.MsgsStateInfo,
    types.MsgDetailedInfo,
    types.MsgNewDetailedInfo,
)
_AUTH_KEY_NOT_FOUND = struct.pack("<i", -404)
# Telegram's window for a client msg_id (https://core.telegram.org/mtproto/description
# #message-identifier-msg-id): at most 300 s in the past, 30 s in the future.
MSG_ID_TOO_OLD, MSG_ID_TOO_NEW = 300, 30


@dataclass(eq=False)
class KeyRecord:
    """An auth key the server knows, and who (if anyone) is logged in with it."""

    auth_key: AuthKey
    user_id: int | None = None
    epoch: int = 0
    password_user: int | None = None
    srp: SrpChallenge | None = None
    created: float = field(default_factory=time.time)

    @property
    def key_id(self) -> int:
        return int(self.auth_key.key_id)


@dataclass(slots=True)
class _Session:
    salt: int
    seq: int = 0
    announced: bool = False  # new_session_created sent

    def next_seq(self, content_related: bool) -> int:
        if content_related:
            self.seq += 1
            return self.seq * 2 - 1
        return self.seq * 2


class _Client:
    """One client TCP connection."""

    def __init__(
        self, server: MTProtoServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.codec: Any = None
        self.handshake = Handshake(server.rsa_key, server.now)
        # key_id -> the session id last used with it on this connection.
        self.sessions: dict[int, int] = {}
        self.closed = False

    async def run(self) -> None:
        peer = self.writer.get_extra_info("peername")
        try:
            self.codec = await detect(self.reader)
            log.debug("client %s speaks %s", peer, self.codec.name)
            while not self.closed:
                packet = await self.codec.read(self.reader)
                self.on_packet(packet)
                if not self.closed:
                    await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except TransportError as exc:
            log.warning("closing %s: %s", peer, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("MTProto double: client %s failed", peer)
        finally:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()
        self.server.key_closed(self)

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.writer.write(self.codec.encode(data))

    # -- incoming ------------------------------------------------------------------

    def on_packet(self, packet: bytes) -> None:
        if len(packet) < 8:
            return
        key_id = int.from_bytes(packet[:8], "little")
        if key_id == 0:
            self.on_plain(packet)
            return
        record = self.server.auth_keys.get(key_id)
        if record is None:
            log.info("unknown auth key %016x: answering -404", key_id)
            self.write(_AUTH_KEY_NOT_FOUND)
            return
        try:
            message = decrypt_client_message(record.auth_key, packet)
        except ValueError as exc:
            log.warning("dropping undecryptable message: %s", exc)
            return
        self.server.key_used(self, key_id)
        session_key = (key_id, message.session_id)
        session = self.server.sessions.get(session_key)
        if session is None:
            session = _Session(int.from_bytes(os.urandom(8), "little", signed=True))
            self.server.sessions[session_key] = session
        self.sessions[key_id] = message.session_id
        if self.bad_time(record, message.session_id, message.msg_id, message.seq_no):
            return
        if not session.announced:
            session.announced = True
            created = types.NewSessionCreated(
                first_msg_id=message.msg_id,
                unique_id=int.from_bytes(os.urandom(8), "little", signed=True),
                server_salt=session.salt,
            )
            self.send(record, message.session_id, bytes(created), response=False)
        self.process(record, message.session_id, message.msg_id, message.body)

    def bad_time(self, record: KeyRecord, session_id: int, msg_id: int, seq_no: int) -> bool:
        """Like Telegram, refuse a msg_id whose time is off the server's clock: codes 16
        (too low) and 17 (too high) tell the client to correct its time offset."""
        delta = msg_id / 2**32 - self.server.now()
        if -MSG_ID_TOO_OLD <= delta <= MSG_ID_TOO_NEW:
            return False
        code = 16 if delta < 0 else 17
        self.server.bad_msg_ids[code] += 1
        log.info("msg_id %d is %+.0f s off the server's clock: bad_msg %d", msg_id, delta, code)
        notification = types.BadMsgNotification(
            bad_msg_id=msg_id, bad_msg_seqno=seq_no, error_code=code
        )
        self.send(record, session_id, bytes(notification), response=False, content_related=False)
        return True

    def on_plain(self, packet: bytes) -> None:
        reader = BinaryReader(packet)
        reader.read_long()  # auth_key_id == 0
        reader.read_long()  # client msg_id
        reader.read_int()  # length
        try:
            request = reader.tgread_object()
            answer, new_key = self.handshake.handle(request)
        except Exception as exc:
            log.warning("handshake failed: %s", exc)
            self.close()
            return
        if new_key is not None:
            self.server.add_auth_key(KeyRecord(new_key))
        body = bytes(answer)
        msg_id = self.server.next_msg_id(True)
        self.write(struct.pack("<qqi", 0, msg_id, len(body)) + body)

    def process(self, record: KeyRecord, session_id: int, msg_id: int, body: bytes) -> None:
        constructor = struct.unpack_from("<I", body)[0]
        if constructor == MessageContainer.CONSTRUCTOR_ID:
            (count,) = struct.unpack_from("<i", body, 4)
            pos = 8
            for _ in range(count):
                inner_id, _seq, length = struct.unpack_from("<qii", body, pos)
                pos += 16
                self.process(record, session_id, inner_id, body[pos : pos + length])
                pos += length
            return
        if constructor == GzipPacked.CONSTRUCTOR_ID:
            data = GzipPacked.read(BinaryReader(body))
            self.process(record, session_id, msg_id, data)
            return
        try:
            obj = BinaryReader(body).tgread_object()
        except TypeNotFoundError as exc:
            log.error("MTProto double: unknown constructor %08x", exc.invalid_constructor_id)
            error = RpcFail(f"INPUT_CONSTRUCTOR_INVALID_{exc.invalid_constructor_id:08X}")
            self.send(record, session_id, _rpc_error(msg_id, error))
            return
        if isinstance(obj, _IGNORED):
            return
        while isinstance(obj, _WRAPPERS):
            if isinstance(obj, functions.InitConnectionRequest) and not self.server.knows_app(
                obj.api_id
            ):
                self.send(record, session_id, _rpc_error(msg_id, RpcFail("API_ID_INVALID", 400)))
                return
            obj = obj.query
        if isinstance(obj, functions.PingRequest | functions.PingDelayDisconnectRequest):
            pong = types.Pong(msg_id=msg_id, ping_id=obj.ping_id)
            self.send(record, session_id, bytes(pong))
        elif isinstance(obj, functions.GetFutureSaltsRequest):
            salt = self.server.sessions[(record.key_id, session_id)].salt
            now = int(self.server.now())
            salts = [
                types.FutureSalt(
                    valid_since=now + i * 3600, valid_until=now + (i + 1) * 3600, salt=salt
                )
                for i in range(max(1, min(obj.num, 64)))
            ]
            answer = types.FutureSalts(req_msg_id=msg_id, now=now, salts=salts)
            self.send(record, session_id, bytes(answer))
        elif isinstance(obj, functions.DestroySessionRequest):
            known = (record.key_id, obj.session_id) in self.server.sessions
            self.server.sessions.pop((record.key_id, obj.session_id), None)
            cls = types.DestroySessionOk if known else types.DestroySessionNone
            self.send(record, session_id, bytes(cls(session_id=obj.session_id)))
        elif isinstance(obj, functions.DestroyAuthKeyRequest):
            self.send(record, session_id, bytes(types.DestroyAuthKeyOk()))
            self.server.auth_keys.pop(record.key_id, None)
            self.server.save_keys()
        elif isinstance(obj, TLRequest):
            self.server.handle_rpc(self, record, session_id, msg_id, obj)
        else:
            log.debug("ignoring %s", type(obj).__name__)

    # -- outgoing ------------------------------------------------------------------

    def send(
        self,
        record: KeyRecord,
        session_id: int,
        body: bytes,
        *,
        response: bool = True,
        content_related: bool = True,
    ) -> None:
        if self.closed:
            return
        session = self.server.sessions.get((record.key_id, session_id))
        if session is None:
            return
        msg_id = self.server.next_msg_id(response)
        seq = session.next_seq(content_related)
        self.write(
            encrypt_server_message(record.auth_key, session.salt, session_id, msg_id, seq, body)
        )


def _rpc_error(req_msg_id: int, error: RpcFail) -> bytes:
    rpc_error = types.RpcError(error_code=error.code, error_message=error.message)
    return _RPC_RESULT + struct.pack("<q", req_msg_id) + bytes(rpc_error)


class MTProtoServer:
    """An MTProto server on loopback that the real Telethon client talks to.

    `server = MTProtoServer(world); await server.start()`; point the client at
    `server.host`/`server.port` with `session.set_dc(server.dc_id, host, port)` and
    register `PUBLIC_KEY_PATH` with `telethon.crypto.rsa.add_key(pem, old=False)`.
    """

    def __init__(
        self,
        world: World,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        dc_id: int = 2,
        key_store_path: str | Path | None = None,
        rsa_key: ServerRSAKey | None = None,
        gzip_responses: bool = False,
        advertised_host: str | None = None,
        clock_offset: float = 0.0,
    ) -> None:
        self.world = world
        # Seconds the server's clock is ahead of this machine's (negative: behind); its
        # msg_ids, server_time and salts follow it, and so does its msg_id check.
        self.clock_offset = clock_offset
        self.bad_msg_ids: Counter[int] = Counter()  # bad_msg_notification codes sent
        self.host = host
        self.port = port
        self.dc_id = dc_id
        self.rsa_key = rsa_key or ServerRSAKey.load()
        self.gzip_responses = gzip_responses
        self._advertised_host = advertised_host
        self.key_store_path = Path(key_store_path) if key_store_path else None
        self.counters: Counter[str] = Counter()
        # RPC errors answered: "messages.getHistory CHANNEL_INVALID" -> count.
        self.errors: Counter[str] = Counter()
        self.unknown_methods: Counter[str] = Counter()
        self.faults = Faults()
        # Seconds added to every upload.getFile answer (a network round trip, for benches).
        self.file_delay = 0.0
        self.auth_keys: dict[int, KeyRecord] = {}
        self.sessions: dict[tuple[int, int], _Session] = {}
        self.exported_auth: dict[bytes, int] = {}
        self.total_connections = 0
        # Live connections per auth key (Telegram kills a key used from two places at
        # once: AUTH_KEY_DUPLICATED): the peak any key reached, and each key's peak.
        self.live_by_key: dict[int, set[_Client]] = {}
        self.peak_live_per_key = 0
        self.key_peaks: Counter[int] = Counter()
        self._clients: set[_Client] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._last_msg_id = 0
        self._msg_id_offset = clock_offset
        self._load_keys()

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> MTProtoServer:
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.world.add_qr_listener(self._on_qr_confirmed)
        log.info("MTProto double listening on %s:%d (dc %d)", self.host, self.port, self.dc_id)
        return self

    async def stop(self) -> None:
        self.world.remove_qr_listener(self._on_qr_confirmed)
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self.save_keys()

    async def __aenter__(self) -> MTProtoServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def connections(self) -> int:
        """Client TCP connections open right now."""
        return len(self._clients)

    @property
    def advertised_host(self) -> str:
        if self._advertised_host:
            return self._advertised_host
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "localhost") else self.host

    def key_used(self, client: _Client, key_id: int) -> None:
        """`client` sent a message under `key_id`: it is one of the key's live
        connections until it closes."""
        live = self.live_by_key.setdefault(key_id, set())
        if client in live or client.closed:
            return
        live.add(client)
        self.key_peaks[key_id] = max(self.key_peaks[key_id], len(live))
        if len(live) > self.peak_live_per_key:
            self.peak_live_per_key = len(live)
            if len(live) > 1:
                log.warning("auth key %016x is live on %d connections", key_id, len(live))

    def key_closed(self, client: _Client) -> None:
        for key_id in client.sessions:
            self.live_by_key.get(key_id, set()).discard(client)

    def live_connections(self, key_id: int) -> int:
        """Connections open right now that used `key_id`."""
        return len(self.live_by_key.get(key_id, ()))

    def drop_connections(self) -> int:
        """Close every client TCP connection (clients see a network failure)."""
        clients = list(self._clients)
        for client in clients:
            client.close()
        return len(clients)

    async def _on_connect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        client = _Client(self, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(client)
        self._tasks.add(task)
        self.total_connections += 1
        try:
            await client.run()
        finally:
            self._clients.discard(client)
            self._tasks.discard(task)

    # -- state ---------------------------------------------------------------------

    def now(self) -> float:
        """The server's clock: this machine's plus `clock_offset`."""
        return time.time() + self.clock_offset

    def next_msg_id(self, response: bool) -> int:
        """Server msg_ids: near the server's time, increasing, odd (1 or 3 mod 4)."""
        if self.clock_offset != self._msg_id_offset:  # the clock was set: start afresh
            self._msg_id_offset, self._last_msg_id = self.clock_offset, 0
        now = self.now()
        candidate = (int(now) << 32) | (int((now % 1) * 2**32) & ~3)
        if candidate <= self._last_msg_id:
            candidate = (self._last_msg_id & ~3) + 4
        self._last_msg_id = candidate
        return candidate | (1 if response else 3)

    def add_auth_key(self, record: KeyRecord) -> None:
        self.auth_keys[record.key_id] = record
        self.save_keys()

    def authorize(self, record: KeyRecord, user: User | None) -> None:
        """Log `user` in on this auth key (None logs out)."""
        record.user_id = user.id if user is not None else None
        record.epoch = user.session_epoch if user is not None else 0
        record.password_user = None
        self.save_keys()

    def keys_of(self, user: User) -> list[KeyRecord]:
        return [r for r in self.auth_keys.values() if r.user_id == user.id]

    def push(self, record: KeyRecord, update: TLObject) -> int:
        """Send an Updates object to every connection using this auth key."""
        body = bytes(update)
        sent = 0
        for client in list(self._clients):
            session_id = client.sessions.get(record.key_id)
            if session_id is not None:
                client.send(record, session_id, body, response=False)
                sent += 1
        return sent

    def _on_qr_confirmed(self, token: QrToken) -> None:
        record = token.owner
        if isinstance(record, KeyRecord) and self.auth_keys.get(record.key_id) is record:
            self.push(record, methods.login_token_update(self.world.now))

    # -- RPC -----------------------------------------------------------------------

    def knows_app(self, api_id: int) -> bool:
        """Telegram answers API_ID_INVALID to an initConnection of an unknown app."""
        return self.world.api_ids is None or api_id in self.world.api_ids

    def handle_rpc(
        self, client: _Client, record: KeyRecord, session_id: int, msg_id: int, request: Any
    ) -> None:
        inner = request
        while isinstance(inner, _WRAPPERS):
            inner = inner.query
        name = method_name(inner)
        self.counters[name] += 1
        fault = self.faults.match(name, inner, record.user_id)
        if fault is not None:
            if fault.error == DROP:
                log.info("fault: dropping connection on %s", name)
                client.close()
                return
            if fault.error == STALL:
                log.info("fault: stalling %s", name)
                return
        body = self._answer(record, msg_id, inner, name, fault)
        delay = fault.delay if fault is not None else 0.0
        if name == "upload.getFile":
            delay += self.file_delay
        if delay > 0:
            loop = asyncio.get_running_loop()
            loop.call_later(delay, client.send, record, session_id, body)
        else:
            client.send(record, session_id, body)

    def _answer(
        self, record: KeyRecord, msg_id: int, request: Any, name: str, fault: Fault | None
    ) -> bytes:
        try:
            if fault is not None and fault.error:
                raise RpcFail(fault.error, fault.code)
            handler = HANDLERS.get(type(request))
            if handler is None:
                self.unknown_methods[name] += 1
                log.warning("MTProto double: method %s is not implemented", name)
                raise RpcFail(f"METHOD_NOT_IMPLEMENTED_{name}", 400)
            call = Call(self, record, request, name)
            if needs_auth(name):
                call.require_user()
            payload = serialize_result(handler(call))
        except RpcFail as error:
            log.debug("%s -> %d %s", name, error.code, error.message)
            self.errors[f"{name} {error.message}"] += 1
            return _rpc_error(msg_id, error)
        except Exception:
            log.exception("MTProto double: %s failed", name)
            return _rpc_error(msg_id, RpcFail("INTERNAL_SERVER_ERROR", 500))
        if self.gzip_responses and len(payload) > 512:
            payload = bytes(GzipPacked(payload))
        return _RPC_RESULT + struct.pack("<q", msg_id) + payload

    # -- persistence ---------------------------------------------------------------

    def _load_keys(self) -> None:
        path = self.key_store_path
        if path is None or not path.exists():
            return
        for item in json.loads(path.read_text()):
            record = KeyRecord(
                AuthKey(bytes.fromhex(item["key"])),
                user_id=item.get("user_id"),
                epoch=item.get("epoch", 0),
            )
            self.auth_keys[record.key_id] = record

    def save_keys(self) -> None:
        path = self.key_store_path
        if path is None:
            return
        data = [
            {"key": r.auth_key.key.hex(), "user_id": r.user_id, "epoch": r.epoch}
            for r in self.auth_keys.values()
        ]
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
