"""An MTProto server double on loopback for the real, unmodified Telethon client.

    world = World()
    world.add_account(phone="+15550000001", code="12345")
    news = world.add_channel(username="news", title="News")
    news.add_messages(1000)
    async with MTProtoServer(world) as server:
        telethon.crypto.rsa.add_key(PUBLIC_KEY_PATH.read_text(), old=False)
        client.session.set_dc(server.dc_id, server.host, server.port)
        ...

See tests/doubles/README.md ("MTProto double") for the whole API.
"""

from .client import signed_in_client
from .crypto import PRIVATE_KEY_PATH, PUBLIC_KEY_PATH, ServerRSAKey
from .faults import DROP, STALL, Fault, Faults, error_code
from .methods import RpcFail
from .server import KeyRecord, MTProtoServer
from .world import BasicGroup, Channel, StoredMessage, User, World

__all__ = [
    "DROP",
    "PRIVATE_KEY_PATH",
    "PUBLIC_KEY_PATH",
    "STALL",
    "BasicGroup",
    "Channel",
    "Fault",
    "Faults",
    "KeyRecord",
    "MTProtoServer",
    "RpcFail",
    "ServerRSAKey",
    "StoredMessage",
    "User",
    "World",
    "error_code",
    "signed_in_client",
]
