"""RPC method handlers of the MTProto double, one function per TL method."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telethon.tl import TLObject, functions, types

from . import crypto
from .faults import error_code
from .render import (
    involved_channels,
    involved_users,
    message_raw,
    page_ids,
    render_message,
    render_peer_chat,
    render_replies,
    render_user,
)
from .tlbuild import RawTL, build, peer_channel, peer_user, to_timestamp
from .world import BasicGroup, Channel, User, World, normalize_phone

if TYPE_CHECKING:
    from .server import KeyRecord, MTProtoServer

log = logging.getLogger(__name__)


class RpcFail(Exception):
    """Raised by a handler to answer rpc_error(code, message)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else error_code(message)


# Methods that work on an auth key that is not (or no longer) logged in.
NO_AUTH_PREFIXES = ("help.", "langpack.")
NO_AUTH = {
    "auth.sendCode",
    "auth.resendCode",
    "auth.cancelCode",
    "auth.signIn",
    "auth.signUp",
    "auth.checkPassword",
    "auth.exportLoginToken",
    "auth.importLoginToken",
    "auth.importAuthorization",
    "auth.logOut",
    "account.getPassword",
}


@dataclass
class Call:
    """One RPC being answered: the server, the caller's auth key and the request."""

    server: MTProtoServer
    key: KeyRecord
    request: Any
    name: str

    @property
    def world(self) -> World:
        return self.server.world

    @property
    def user(self) -> User | None:
        """The logged-in user of this auth key, None if not logged in or revoked."""
        uid = self.key.user_id
        if uid is None:
            return None
        user = self.world.users.get(uid)
        if user is None or self.key.epoch != user.session_epoch:
            return None
        return user

    def require_user(self) -> User:
        uid = self.key.user_id
        user = self.world.users.get(uid) if uid is not None else None
        if user is None:
            raise RpcFail("AUTH_KEY_UNREGISTERED")
        if self.key.epoch != user.session_epoch:
            raise RpcFail(user.revoked_error)
        return user


Handler = Callable[[Call], Any]
HANDLERS: dict[type, Handler] = {}


def rpc(*request_types: type) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for request_type in request_types:
            HANDLERS[request_type] = fn
        return fn

    return register


def needs_auth(name: str) -> bool:
    return name not in NO_AUTH and not name.startswith(NO_AUTH_PREFIXES)


# -- helpers -----------------------------------------------------------------------


def _now(call: Call) -> int:
    return call.world.now


def _authorize(call: Call, user: User) -> TLObject:
    call.server.authorize(call.key, user)
    return build(types.auth.Authorization, user=render_user(user, is_self=True))


def _channel(call: Call, peer: Any, *, readable: bool = True) -> Channel:
    """Resolve an InputChannel/InputPeerChannel, checking access hash and access."""
    if isinstance(peer, types.InputChannelEmpty | types.InputPeerEmpty):
        raise RpcFail("CHANNEL_INVALID")
    channel_id = getattr(peer, "channel_id", None)
    if channel_id is None:
        raise RpcFail("PEER_ID_INVALID")
    channel = call.world.channels.get(channel_id)
    if channel is None:
        raise RpcFail("CHANNEL_INVALID")
    # Access hashes belong to the account (World: Channel.access_hash_for).
    if getattr(peer, "access_hash", None) != channel.access_hash_for(call.user):
        raise RpcFail(call.world.stale_hash_error)
    if readable and not channel.can_read(call.user):
        raise RpcFail("CHANNEL_PRIVATE")
    return channel


def _chats(call: Call, *channels: Channel | None) -> list[TLObject]:
    viewer = call.user
    return [render_peer_chat(c, viewer) for c in dict.fromkeys(channels) if c is not None]


def _basic_group(call: Call, chat_id: int) -> BasicGroup:
    """A basic group by chat id, readable by members only: an unknown id answers
    PEER_ID_INVALID, a non-member the group's `denied_error` (PEER_ID_INVALID)."""
    chat = call.world.chats.get(chat_id)
    if chat is None:
        raise RpcFail("PEER_ID_INVALID")
    user = call.user
    if user is None or user.id not in chat.members:
        raise RpcFail(chat.denied_error)
    return chat


def _updates(call: Call, channel: Channel) -> TLObject:
    updates = build(
        types.Updates, updates=[], users=[], chats=_chats(call, channel), date=_now(call), seq=0
    )
    # Layer 229 answers joinChannel/importChatInvite with messages.ChatInviteJoinResult.
    if call.request.SUBCLASS_OF_ID == types.messages.ChatInviteJoinResultOk.SUBCLASS_OF_ID:
        return build(types.messages.ChatInviteJoinResultOk, updates=updates)
    return updates


def _channel_messages(
    call: Call,
    channel: Channel,
    ids: Iterable[int],
    *,
    count: int,
    extra_chats: Iterable[Channel] = (),
) -> TLObject:
    ids = list(ids)
    return build(
        types.messages.ChannelMessages,
        pts=channel.pts,
        count=count,
        messages=[message_raw(channel, channel.message(i)) for i in ids],
        topics=[],
        chats=_chats(call, channel, *extra_chats, *involved_channels(channel, ids)),
        users=[render_user(u) for u in involved_users(call.world, channel, ids)],
    )


def _page(call: Call, channel: Channel, asc: list[int]) -> list[int]:
    req = call.request
    return page_ids(
        channel,
        asc,
        offset_id=req.offset_id or 0,
        offset_date=to_timestamp(req.offset_date),
        add_offset=req.add_offset or 0,
        limit=req.limit or 0,
        max_id=req.max_id or 0,
        min_id=req.min_id or 0,
    )


def _input_user(call: Call, input_user: Any) -> User | None:
    if isinstance(input_user, types.InputUserSelf | types.InputPeerSelf):
        return call.require_user()
    user_id = getattr(input_user, "user_id", None)
    return call.world.users.get(user_id) if user_id is not None else None


# -- help ----------------------------------------------------------------------------


@rpc(functions.help.GetConfigRequest)
def get_config(call: Call) -> TLObject:
    server = call.server
    options = [
        build(types.DcOption, id=dc, ip_address=server.advertised_host, port=server.port)
        for dc in range(1, 6)
    ]
    now = _now(call)
    return build(
        types.Config,
        date=now,
        expires=now + 3600,
        test_mode=False,
        this_dc=server.dc_id,
        dc_options=options,
        dc_txt_domain_name="",
        chat_size_max=200,
        megagroup_size_max=200000,
        forwarded_count_max=100,
        online_update_period_ms=210000,
        offline_blur_timeout_ms=5000,
        offline_idle_timeout_ms=30000,
        online_cloud_timeout_ms=300000,
        notify_cloud_delay_ms=30000,
        notify_default_delay_ms=1500,
        push_chat_period_ms=60000,
        push_chat_limit=2,
        edit_time_limit=172800,
        revoke_time_limit=2147483647,
        revoke_pm_time_limit=2147483647,
        rating_e_decay=2419200,
        stickers_recent_limit=200,
        channels_read_media_period=604800,
        call_receive_timeout_ms=20000,
        call_ring_timeout_ms=90000,
        call_connect_timeout_ms=30000,
        call_packet_timeout_ms=10000,
        me_url_prefix="https://t.me/",
        caption_length_max=1024,
        message_length_max=4096,
        webfile_dc_id=server.dc_id,
    )


@rpc(functions.help.GetNearestDcRequest)
def get_nearest_dc(call: Call) -> TLObject:
    dc = call.server.dc_id
    return build(types.NearestDc, country="US", this_dc=dc, nearest_dc=dc)


@rpc(functions.help.GetCdnConfigRequest)
def get_cdn_config(call: Call) -> TLObject:
    return build(types.CdnConfig, public_keys=[])


# -- auth: codes, 2FA, QR ----------------------------------------------------------


def _sent_code(call: Call, phone: str) -> TLObject:
    pending = call.world.issue_code(phone)
    account = call.world.account(phone)
    length = len(account.code) if account is not None and account.code else 5
    return build(
        types.auth.SentCode,
        type=build(types.auth.SentCodeTypeApp, length=length),
        phone_code_hash=pending.phone_code_hash,
        next_type=build(types.auth.CodeTypeSms),
        timeout=None,
    )


def _check_phone(phone: str) -> str:
    digits = normalize_phone(phone)
    if len(digits) < 5 or len(digits) > 15 or digits != phone.lstrip("+").replace(" ", ""):
        raise RpcFail("PHONE_NUMBER_INVALID")
    return digits


@rpc(functions.auth.SendCodeRequest)
def send_code(call: Call) -> TLObject:
    return _sent_code(call, _check_phone(call.request.phone_number))


@rpc(functions.auth.ResendCodeRequest)
def resend_code(call: Call) -> TLObject:
    phone = _check_phone(call.request.phone_number)
    pending = call.world.pending_code(call.request.phone_code_hash)
    if pending is None or pending.phone != phone:
        raise RpcFail("PHONE_CODE_HASH_EMPTY")
    return _sent_code(call, phone)


@rpc(functions.auth.CancelCodeRequest)
def cancel_code(call: Call) -> bool:
    pending = call.world.pending_code(call.request.phone_code_hash)
    if pending is not None:
        pending.expired = True
    return True


@rpc(functions.auth.SignInRequest)
def sign_in(call: Call) -> TLObject:
    req = call.request
    phone = _check_phone(req.phone_number)
    pending = call.world.pending_code(req.phone_code_hash)
    if pending is None or pending.phone != phone:
        raise RpcFail("PHONE_CODE_EXPIRED")
    if not req.phone_code:
        raise RpcFail("PHONE_CODE_EMPTY")
    if call.world.code_expired(pending):
        raise RpcFail("PHONE_CODE_EXPIRED")
    user = call.world.account(phone)
    if user is None:
        raise RpcFail("PHONE_NUMBER_UNOCCUPIED")
    if req.phone_code != user.code:
        raise RpcFail("PHONE_CODE_INVALID")
    pending.expired = True
    if user.password is not None:
        call.key.password_user = user.id
        raise RpcFail("SESSION_PASSWORD_NEEDED")
    return _authorize(call, user)


def _srp_user(call: Call) -> User | None:
    uid = call.key.password_user
    if uid is not None:
        return call.world.users.get(uid)
    return call.user


def _srp_material(user: User) -> int:
    if user.srp_verifier is None or user.srp_password != user.password:
        assert user.password is not None
        user.srp_salt1 = os.urandom(8)
        user.srp_salt2 = os.urandom(16)
        user.srp_verifier = crypto.password_verifier(user.srp_salt1, user.srp_salt2, user.password)
        user.srp_password = user.password
    return user.srp_verifier


@rpc(functions.account.GetPasswordRequest)
def get_password(call: Call) -> TLObject:
    user = _srp_user(call)
    common: dict[str, Any] = {
        "new_algo": crypto.kdf_algo(os.urandom(8), b""),
        "new_secure_algo": build(types.SecurePasswordKdfAlgoUnknown),
        "secure_random": os.urandom(32),
    }
    if user is None or user.password is None:
        return build(types.account.Password, has_password=False, **common)
    verifier = _srp_material(user)
    challenge = crypto.srp_challenge(verifier)
    call.key.srp = challenge
    return build(
        types.account.Password,
        has_password=True,
        current_algo=crypto.kdf_algo(user.srp_salt1, user.srp_salt2),
        srp_B=challenge.srp_b,
        srp_id=challenge.srp_id,
        hint=None,
        **common,
    )


@rpc(functions.auth.CheckPasswordRequest)
def check_password(call: Call) -> TLObject:
    user = _srp_user(call)
    check = call.request.password
    if user is None or user.password is None:
        raise RpcFail("PASSWORD_HASH_INVALID")
    challenge = call.key.srp
    if challenge is None or getattr(check, "srp_id", None) != challenge.srp_id:
        raise RpcFail("SRP_ID_INVALID")
    verifier = _srp_material(user)
    ok = crypto.srp_check(challenge, verifier, user.srp_salt1, user.srp_salt2, check.A, check.M1)
    if not ok:
        raise RpcFail("PASSWORD_HASH_INVALID")
    call.key.srp = None
    call.key.password_user = None
    return _authorize(call, user)


@rpc(functions.auth.LogOutRequest)
def log_out(call: Call) -> TLObject:
    call.server.authorize(call.key, None)
    return build(types.auth.LoggedOut)


def _login_token_result(call: Call) -> TLObject | None:
    for token in call.world.qr_tokens_of(call.key):
        if token.user_id is None:
            continue
        call.world._qr.pop(token.token, None)
        user = call.world.users[token.user_id]
        if user.password is not None:
            call.key.password_user = user.id
            raise RpcFail("SESSION_PASSWORD_NEEDED")
        return build(types.auth.LoginTokenSuccess, authorization=_authorize(call, user))
    return None


@rpc(functions.auth.ExportLoginTokenRequest)
def export_login_token(call: Call) -> TLObject:
    done = _login_token_result(call)
    if done is not None:
        return done
    token = call.world.new_qr_token(call.key)
    return build(types.auth.LoginToken, expires=token.expires, token=token.token)


@rpc(functions.auth.ImportLoginTokenRequest)
def import_login_token(call: Call) -> TLObject:
    token = call.world.qr_token(call.request.token)
    if token is None:
        raise RpcFail("AUTH_TOKEN_INVALID")
    if token.expires < _now(call):
        raise RpcFail("AUTH_TOKEN_EXPIRED")
    token.owner = call.key
    done = _login_token_result(call)
    if done is not None:
        return done
    return build(types.auth.LoginToken, expires=token.expires, token=token.token)


@rpc(functions.auth.AcceptLoginTokenRequest)
def accept_login_token(call: Call) -> TLObject:
    user = call.require_user()
    assert user.phone is not None
    try:
        call.world.confirm_qr(call.request.token, user.phone)
    except (KeyError, ValueError) as exc:
        raise RpcFail("AUTH_TOKEN_INVALID") from exc
    return build(types.Authorization, hash=0, device_model="Double", platform="test")


@rpc(functions.auth.ExportAuthorizationRequest)
def export_authorization(call: Call) -> TLObject:
    user = call.require_user()
    token = os.urandom(32)
    call.server.exported_auth[token] = user.id
    return build(types.auth.ExportedAuthorization, id=user.id, bytes=token)


@rpc(functions.auth.ImportAuthorizationRequest)
def import_authorization(call: Call) -> TLObject:
    uid = call.server.exported_auth.pop(call.request.bytes, None)
    if uid is None or uid != call.request.id:
        raise RpcFail("AUTH_BYTES_INVALID")
    return _authorize(call, call.world.users[uid])


# -- users, updates, account --------------------------------------------------------


@rpc(functions.users.GetUsersRequest)
def get_users(call: Call) -> list[TLObject]:
    me = call.require_user()
    found = [_input_user(call, u) for u in call.request.id]
    return [render_user(u, is_self=u is me) for u in found if u is not None]


@rpc(functions.users.GetFullUserRequest)
def get_full_user(call: Call) -> TLObject:
    me = call.require_user()
    user = _input_user(call, call.request.id)
    if user is None:
        raise RpcFail("USER_ID_INVALID")
    full = build(
        types.UserFull,
        id=user.id,
        settings=build(types.PeerSettings),
        notify_settings=build(types.PeerNotifySettings),
        common_chats_count=0,
    )
    return build(
        types.users.UserFull,
        full_user=full,
        chats=[],
        users=[render_user(user, is_self=user is me)],
    )


@rpc(functions.updates.GetStateRequest)
def get_state(call: Call) -> TLObject:
    call.require_user()
    return build(types.updates.State, pts=1, qts=0, date=_now(call), seq=0, unread_count=0)


@rpc(functions.updates.GetDifferenceRequest)
def get_difference(call: Call) -> TLObject:
    call.require_user()
    return build(types.updates.DifferenceEmpty, date=_now(call), seq=0)


@rpc(functions.updates.GetChannelDifferenceRequest)
def get_channel_difference(call: Call) -> TLObject:
    channel = _channel(call, call.request.channel)
    return build(types.updates.ChannelDifferenceEmpty, final=True, pts=channel.pts, timeout=30)


@rpc(functions.account.UpdateStatusRequest, functions.channels.ReadHistoryRequest)
def ok_true(call: Call) -> bool:
    call.require_user()
    return True


# -- channels and messages -----------------------------------------------------------


@rpc(functions.contacts.ResolveUsernameRequest)
def resolve_username(call: Call) -> TLObject:
    call.require_user()
    name = call.request.username.lstrip("@")
    if not name or not name.replace("_", "").isalnum() or len(name) > 32:
        raise RpcFail("USERNAME_INVALID")
    target = call.world.find_username(name)
    if target is None:
        raise RpcFail("USERNAME_NOT_OCCUPIED")
    if isinstance(target, Channel):
        return build(
            types.contacts.ResolvedPeer,
            peer=peer_channel(target.id),
            chats=_chats(call, target),
            users=[],
        )
    me = call.user
    return build(
        types.contacts.ResolvedPeer,
        peer=peer_user(target.id),
        chats=[],
        users=[render_user(target, is_self=target is me)],
    )


@rpc(functions.messages.CheckChatInviteRequest)
def check_chat_invite(call: Call) -> TLObject:
    user = call.require_user()
    channel = call.world.find_invite(call.request.hash)
    if channel is None:
        raise RpcFail("INVITE_HASH_INVALID")
    if user.id in channel.members:
        return build(types.ChatInviteAlready, chat=render_peer_chat(channel, user))
    return build(
        types.ChatInvite,
        title=channel.title,
        photo=build(types.PhotoEmpty, id=0),
        participants_count=channel.member_count,
        color=0,
        channel=True,
        broadcast=channel.broadcast or None,
        megagroup=channel.megagroup or None,
        public=not channel.private or None,
        about=channel.about or None,
    )


@rpc(functions.messages.ImportChatInviteRequest)
def import_chat_invite(call: Call) -> TLObject:
    user = call.require_user()
    channel = call.world.find_invite(call.request.hash)
    if channel is None:
        raise RpcFail("INVITE_HASH_INVALID")
    if user.id in channel.members:
        raise RpcFail("USER_ALREADY_PARTICIPANT")
    channel.members.add(user.id)
    return _updates(call, channel)


@rpc(functions.channels.JoinChannelRequest)
def join_channel(call: Call) -> TLObject:
    user = call.require_user()
    channel = _channel(call, call.request.channel)
    channel.members.add(user.id)
    return _updates(call, channel)


@rpc(functions.channels.LeaveChannelRequest)
def leave_channel(call: Call) -> TLObject:
    user = call.require_user()
    channel = _channel(call, call.request.channel, readable=False)
    if user.id not in channel.members:
        raise RpcFail("USER_NOT_PARTICIPANT")
    channel.members.discard(user.id)
    return _updates(call, channel)


@rpc(functions.channels.GetChannelsRequest)
def get_channels(call: Call) -> TLObject:
    call.require_user()
    channels = [_channel(call, c) for c in call.request.id]
    return build(types.messages.Chats, chats=_chats(call, *channels))


@rpc(functions.channels.GetFullChannelRequest)
def get_full_channel(call: Call) -> TLObject:
    call.require_user()
    channel = _channel(call, call.request.channel)
    full = build(
        types.ChannelFull,
        id=channel.id,
        about=channel.about,
        read_inbox_max_id=channel.last_id,
        read_outbox_max_id=channel.last_id,
        unread_count=0,
        chat_photo=build(types.PhotoEmpty, id=0),
        notify_settings=build(types.PeerNotifySettings),
        bot_info=[],
        pts=channel.pts,
        participants_count=channel.member_count,
        linked_chat_id=channel.linked.id if channel.linked is not None else None,
        can_view_participants=channel.megagroup or None,
        migrated_from_chat_id=old.id if (old := channel.migrated_from) is not None else None,
        migrated_from_max_id=channel.migrated_from_max_id if old is not None else None,
    )
    return build(
        types.messages.ChatFull,
        full_chat=full,
        chats=_chats(call, channel, channel.linked),
        users=[],
    )


@rpc(functions.messages.GetHistoryRequest)
def get_history(call: Call) -> TLObject:
    call.require_user()
    peer = call.request.peer
    if isinstance(peer, types.InputPeerChat):
        return _chat_history(call, _basic_group(call, peer.chat_id))
    if not isinstance(peer, types.InputPeerChannel):
        return build(types.messages.Messages, messages=[], topics=[], chats=[], users=[])
    channel = _channel(call, peer)
    call.world.history_requests[channel.id] += 1
    return _channel_messages(call, channel, _page(call, channel, channel.ids), count=len(channel))


def _chat_history(call: Call, chat: BasicGroup) -> TLObject:
    """A basic group's history page: `messages.messages` when it holds the whole
    history, else `messages.messagesSlice` with the count (as Telegram answers
    non-channel peers)."""
    ids = _page(call, chat, chat.ids)
    fields: dict[str, Any] = {
        "messages": [message_raw(chat, chat.message(i)) for i in ids],
        "topics": [],
        "chats": _chats(call, chat, *involved_channels(chat, ids)),
        "users": [render_user(u) for u in involved_users(call.world, chat, ids)],
    }
    if len(ids) == len(chat):
        return build(types.messages.Messages, **fields)
    return build(types.messages.MessagesSlice, count=len(chat), **fields)


@rpc(functions.messages.GetChatsRequest)
def get_chats(call: Call) -> TLObject:
    """Basic groups by id (chatForbidden for a non-member); unknown ids are left out."""
    call.require_user()
    found = [call.world.chats[i] for i in call.request.id if i in call.world.chats]
    return build(types.messages.Chats, chats=_chats(call, *found))


@rpc(functions.channels.GetMessagesRequest)
def get_channel_messages(call: Call) -> TLObject:
    call.require_user()
    channel = _channel(call, call.request.channel)
    if not call.request.id:
        raise RpcFail("MESSAGE_IDS_EMPTY")
    messages: list[TLObject] = []
    ids: list[int] = []
    peer = peer_channel(channel.id)
    for item in call.request.id:
        msg_id = getattr(item, "id", None)
        if isinstance(item, types.InputMessageReplyTo):
            target = channel.get(item.id)
            msg_id = target.reply_to if target is not None else None
        msg = channel.get(msg_id) if msg_id is not None else None
        if msg is None:
            messages.append(build(types.MessageEmpty, id=msg_id or 0, peer_id=peer))
        else:
            messages.append(message_raw(channel, msg))
            ids.append(msg.id)
    return build(
        types.messages.ChannelMessages,
        pts=channel.pts,
        count=len(messages),
        messages=messages,
        topics=[],
        chats=_chats(call, channel, *involved_channels(channel, ids)),
        users=[render_user(u) for u in involved_users(call.world, channel, ids)],
    )


# Telegram answers messages.getMessagesViews for at most this many ids a request (the
# error name for more is not documented; the double answers LIMIT_INVALID).
MAX_VIEWS_IDS = 100


def _counted(call: Call) -> tuple[Channel, list[int]]:
    """The chat and ids of a getMessagesViews / getMessagesReactions request. Errors: no
    ids MESSAGE_IDS_EMPTY, more than 100 LIMIT_INVALID, a peer that is not a channel or
    chat PEER_ID_INVALID, a channel as `messages.getHistory` refuses it."""
    peer = call.request.peer
    ids = list(call.request.id)
    if not ids:
        raise RpcFail("MESSAGE_IDS_EMPTY")
    if len(ids) > MAX_VIEWS_IDS:
        raise RpcFail("LIMIT_INVALID")
    if isinstance(peer, types.InputPeerChat):
        return _basic_group(call, peer.chat_id), ids
    if isinstance(peer, types.InputPeerChannel):
        return _channel(call, peer), ids
    raise RpcFail("PEER_ID_INVALID")


@rpc(functions.messages.GetMessagesViewsRequest)
def get_messages_views(call: Call) -> TLObject:
    """The views, forwards and replies of posts, one `messageViews` per id in the order
    asked (core.telegram.org/method/messages.getMessagesViews). A broadcast channel's
    post has views and forwards (0 if never set) and its replies when it has comments
    (or `set_counters(replies=)`); a megagroup's or basic group's message, a missing or
    deleted id and a service message answer an empty `messageViews`. `increment=True`
    counts one view per account and message, like Telegram; False reads only. Errors:
    no ids MESSAGE_IDS_EMPTY, more than 100 LIMIT_INVALID, a peer that is not a channel
    or chat PEER_ID_INVALID, a channel as `messages.getHistory` refuses it."""
    user = call.require_user()
    req = call.request
    channel, ids = _counted(call)
    views: list[TLObject] = []
    for msg_id in ids:
        msg = channel.get(msg_id)
        if msg is None or msg.action is not None or not channel.broadcast:
            views.append(build(types.MessageViews))
            continue
        if req.increment:
            seen = msg.viewers if msg.viewers is not None else set()
            if user.id not in seen:
                seen.add(user.id)
                msg.viewers = seen
                msg.views = (msg.views or 0) + 1
                msg.raw = None
        views.append(
            build(
                types.MessageViews,
                views=msg.views or 0,
                forwards=msg.forwards or 0,
                replies=render_replies(channel, msg),
            )
        )
    return build(types.messages.MessageViews, views=views, chats=_chats(call, channel), users=[])


def _reactions_of(msg: Any) -> TLObject:
    """The post's messageReactions: `msg.reactions` keys are emoji, or "custom:<doc id>"
    for a custom emoji (as parser/history.py stores them)."""
    results = []
    for key, count in (msg.reactions or {}).items():
        if key.startswith("custom:"):
            reaction = build(types.ReactionCustomEmoji, document_id=int(key.split(":", 1)[1]))
        else:
            reaction = build(types.ReactionEmoji, emoticon=key)
        results.append(build(types.ReactionCount, reaction=reaction, count=count))
    return build(types.MessageReactions, results=results)


@rpc(functions.messages.GetMessagesReactionsRequest)
def get_messages_reactions(call: Call) -> TLObject:
    """The reactions of messages (core.telegram.org/method/messages.getMessagesReactions):
    Updates with one updateMessageReactions per asked id that is a message (empty
    results when it has none); a missing, deleted or service message gets none. At most
    100 ids like getMessagesViews (LIMIT_INVALID beyond: Telegram documents no limit,
    clients send 100). Errors: no ids MESSAGE_IDS_EMPTY, a peer that is not a channel or
    chat PEER_ID_INVALID, a channel as `messages.getHistory` refuses it."""
    call.require_user()
    channel, ids = _counted(call)
    updates = []
    for msg_id in dict.fromkeys(ids):
        msg = channel.get(msg_id)
        if msg is None or msg.action is not None:
            continue
        updates.append(
            build(
                types.UpdateMessageReactions,
                peer=channel.peer, msg_id=msg_id, reactions=_reactions_of(msg),
            )
        )
    return build(
        types.Updates, updates=updates, users=[], chats=_chats(call, channel),
        date=_now(call), seq=0,
    )


@rpc(functions.messages.GetMessagesRequest)
def get_messages(call: Call) -> TLObject:
    call.require_user()
    return build(
        types.messages.Messages,
        messages=[build(types.MessageEmpty, id=getattr(i, "id", 0)) for i in call.request.id],
        topics=[],
        chats=[],
        users=[],
    )


def _discussion(call: Call) -> tuple[Channel, Channel, int | None]:
    """(channel, group, thread root id in the group) for a post's comments."""
    channel = _channel(call, call.request.peer)
    msg_id = call.request.msg_id
    if channel.broadcast:
        if channel.get(msg_id) is None:
            raise RpcFail("MSG_ID_INVALID")
        group = channel.linked
        if group is None:
            raise RpcFail("MSG_ID_INVALID")
        return channel, group, group.thread_root(msg_id)
    # Asked on the group itself: msg_id is the root message of the thread.
    if channel.get(msg_id) is None:
        raise RpcFail("MSG_ID_INVALID")
    return (channel.linked if channel.linked is not None else channel), channel, msg_id


@rpc(functions.messages.GetRepliesRequest)
def get_replies(call: Call) -> TLObject:
    call.require_user()
    channel, group, root = _discussion(call)
    thread = group.thread_ids(root) if root is not None else []
    ids = _page(call, group, thread)
    result = _channel_messages(call, group, ids, count=len(thread), extra_chats=[channel])
    result.pts = group.pts
    return result


@rpc(functions.messages.GetDiscussionMessageRequest)
def get_discussion_message(call: Call) -> TLObject:
    call.require_user()
    channel, group, root = _discussion(call)
    if root is None:
        root = group.thread_root(call.request.msg_id, create=True)
    assert root is not None
    thread = group.thread_ids(root)
    return build(
        types.messages.DiscussionMessage,
        messages=[message_raw(group, group.message(root))],
        unread_count=0,
        chats=_chats(call, group, channel),
        users=[],
        max_id=thread[-1] if thread else None,
        read_inbox_max_id=thread[-1] if thread else None,
    )


@rpc(functions.messages.GetDialogsRequest)
def get_dialogs(call: Call) -> TLObject:
    user = call.require_user()
    req = call.request
    mine = [c for c in call.world.channels.values() if user.id in c.members]
    if req.offset_id or to_timestamp(req.offset_date):
        mine = []
    mine.sort(key=lambda c: c.message(c.last_id).date if c.last_id else c.date, reverse=True)
    dialogs = []
    top: list[RawTL | TLObject] = []
    for channel in mine:
        dialogs.append(
            build(
                types.Dialog,
                peer=peer_channel(channel.id),
                top_message=channel.last_id,
                read_inbox_max_id=channel.last_id,
                read_outbox_max_id=channel.last_id,
                unread_count=0,
                unread_mentions_count=0,
                unread_reactions_count=0,
                notify_settings=build(types.PeerNotifySettings),
                pts=channel.pts,
            )
        )
        if channel.last_id:
            top.append(message_raw(channel, channel.message(channel.last_id)))
    return build(
        types.messages.Dialogs,
        dialogs=dialogs,
        messages=top,
        chats=_chats(call, *mine),
        users=[render_user(user, is_self=True)],
    )


_KB = 1024
_MB = 1024 * 1024


def check_file_part(offset: int, limit: int, precise: bool) -> None:
    """Telegram's rules for an upload.getFile part (core.telegram.org/api/files,
    "Downloading files"): without `precise`, offset and limit are multiples of 4 KB and
    1 MB is a multiple of limit; with `precise`, multiples of 1 KB and limit <= 1 MB; in
    any case the part stays inside one 1 MB chunk of the file. OFFSET_INVALID /
    LIMIT_INVALID otherwise."""
    unit = _KB if precise else 4 * _KB
    if offset < 0 or offset % unit:
        raise RpcFail("OFFSET_INVALID")
    if limit <= 0 or limit % unit or limit > _MB or (not precise and _MB % limit):
        raise RpcFail("LIMIT_INVALID")
    if offset // _MB != (offset + limit - 1) // _MB:
        raise RpcFail("LIMIT_INVALID")


@rpc(functions.upload.GetFileRequest)
def get_file(call: Call) -> TLObject:
    """A part of a photo or document. The location is InputDocumentFileLocation
    (thumb_size "") or InputPhotoFileLocation (thumb_size: a size type of the photo);
    an unknown id, a wrong access hash or an unknown size type: FILE_ID_INVALID /
    LOCATION_INVALID; a stale file reference: FILE_REFERENCE_EXPIRED (an empty one:
    FILE_REFERENCE_EMPTY); a refused file (`world.refuse_file`): its error. Past the
    end of the file the answer has fewer bytes, or none, like Telegram's."""
    req = call.request
    loc = req.location
    if not isinstance(loc, types.InputDocumentFileLocation | types.InputPhotoFileLocation):
        raise RpcFail("LOCATION_INVALID")
    check_file_part(req.offset, req.limit, bool(req.precise))
    world = call.world
    stored = world.files.get(loc.id)
    if stored is None or stored.access_hash != loc.access_hash:
        raise RpcFail("FILE_ID_INVALID")
    if stored.is_photo != isinstance(loc, types.InputPhotoFileLocation):
        raise RpcFail("LOCATION_INVALID")
    if not loc.file_reference:
        raise RpcFail("FILE_REFERENCE_EMPTY")
    if loc.file_reference != stored.file_reference:
        raise RpcFail("FILE_REFERENCE_EXPIRED")
    if stored.refused:
        raise RpcFail(stored.refused, stored.refused_code)
    content = stored.content_for(loc.thumb_size or "")
    if content is None:
        raise RpcFail("LOCATION_INVALID")
    data = content.read(req.offset, req.limit)
    world.bytes_served[stored.id] += len(data)
    world.getfile_requests[stored.id] += 1
    return build(
        types.upload.File,
        type=build(types.storage.FileJpeg if stored.is_photo else types.storage.FilePartial),
        mtime=0,
        bytes=data,
    )


def render_message_tl(channel: Channel, msg_id: int) -> TLObject:
    """The TL Message for a stored message (for tests comparing fields)."""
    return render_message(channel, channel.message(msg_id))


def login_token_update(now: int) -> TLObject:
    return build(types.UpdateShort, update=build(types.UpdateLoginToken), date=now)
