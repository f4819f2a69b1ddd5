"""What a Telethon message holds besides its text: media, a service event, a forward.

Each describer turns a TL object into plain JSON-ready data plus its words (the
`content_text` search and exports read). Media that is a file (photo, document,
video, audio, ...) is described with the same keys whatever its kind (`FILE_KEYS`);
every other kind with its own structure; a kind this module does not know with its
snake_case name and its scalar fields, so nothing Telegram sends is dropped or blank.
Nothing here touches the network or the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from telethon.tl import types

# The keys every file-like media item is described with (None when unknown): Telegram's
# media id, the file name, its MIME type, size in bytes, duration in seconds, and
# width x height in pixels (a photo's largest size).
FILE_KEYS = ("id", "file_name", "mime_type", "size", "duration", "width", "height")
# The peers an answer names in its `chats`/`users`, by ("channel" | "chat" | "user", id).
Peers = Mapping[tuple[str, int], Any]
# String fields that are words a reader would search for (of any TL object).
_WORD_FIELDS = frozenset({
    "title", "description", "text", "message", "caption", "name", "first_name",
    "last_name", "address", "question", "prize_description", "site_name", "author",
    "performer", "file_name", "alt",
})
# Fields never worth keeping: secrets of the account's access, cache hashes, blobs.
_SKIP_FIELDS = frozenset({"access_hash", "hash", "file_reference", "bytes", "waveform"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# The fields kept of each kind with a fixed structure.
_VENUE_KEYS = ("title", "address", "provider", "venue_id", "venue_type")
_CONTACT_KEYS = ("phone_number", "first_name", "last_name", "user_id", "vcard")
_GAME_KEYS = ("id", "short_name", "title", "description")
_INVOICE_KEYS = (
    "title", "description", "currency", "total_amount", "start_param", "receipt_msg_id", "test"
)
_WEBPAGE_KEYS = (
    "id", "url", "display_url", "site_name", "title", "description", "type", "author"
)
# A media_kind column holds at most this many characters (db/models.py).
_KIND_MAX = 32


def snake(name: str) -> str:
    """`"ChatEditTitle"` -> `"chat_edit_title"`."""
    return _CAMEL.sub("_", name).lower()


def page_peers(answer: Any) -> dict[tuple[str, int], Any]:
    """The channels, basic groups and users a history answer lists (`chats`, `users`),
    keyed by `("channel" | "chat" | "user", id)`."""
    out: dict[tuple[str, int], Any] = {}
    for chat in getattr(answer, "chats", None) or ():
        kind = "channel" if isinstance(chat, types.Channel | types.ChannelForbidden) else "chat"
        out[(kind, chat.id)] = chat
    for user in getattr(answer, "users", None) or ():
        out[("user", user.id)] = user
    return out


def peer_ref(peer: Any) -> tuple[str, int] | None:
    """A TL Peer as `("channel" | "chat" | "user", id)`; None for no peer."""
    if isinstance(peer, types.PeerChannel):
        return "channel", peer.channel_id
    if isinstance(peer, types.PeerUser):
        return "user", peer.user_id
    if isinstance(peer, types.PeerChat):
        return "chat", peer.chat_id
    return None


def _name_of(entity: Any) -> tuple[str | None, str | None]:
    """(title or full name, username) of a TL Channel/Chat/User."""
    if entity is None:
        return None, None
    title = getattr(entity, "title", None)
    if title is None and hasattr(entity, "first_name"):
        title = " ".join(p for p in (entity.first_name, entity.last_name) if p) or None
    username = getattr(entity, "username", None)
    if username is None:
        active = [u.username for u in getattr(entity, "usernames", None) or () if u.active]
        username = active[0] if active else None
    return title, username


def describe_fwd(fwd: Any, peers: Peers | None, entity: Any = None) -> dict[str, Any] | None:
    """A MessageFwdHeader as `{from_type, from_id, title, username, from_name, date,
    channel_post, post_author}`.

    `from_type` is "channel", "user" or "chat" (None for a hidden user, then
    `from_name` is the name shown); `title`/`username` name the source when `peers`
    (the answer's chats/users) or `entity` (Telethon's resolved one) has it; `date` is
    the original post's time in ISO 8601, `channel_post` its id in the source channel.
    """
    if fwd is None:
        return None
    ref = peer_ref(fwd.from_id)
    if ref is not None and entity is None and peers is not None:
        entity = peers.get(ref)
    title, username = _name_of(entity) if ref is not None else (None, None)
    return {
        "from_type": ref[0] if ref else None,
        "from_id": ref[1] if ref else None,
        "title": title,
        "username": username,
        "from_name": fwd.from_name,
        "date": fwd.date.isoformat() if fwd.date else None,
        "channel_post": fwd.channel_post,
        "post_author": fwd.post_author,
    }


def _text(value: Any) -> str:
    """A TextWithEntities' or a plain string's text ("" for None)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(getattr(value, "text", "") or "")


def _words(*parts: Any) -> str:
    return "\n".join(p for p in (_text(x).strip() for x in parts) if p)


def _file(**values: Any) -> dict[str, Any]:
    return {key: values.get(key) for key in FILE_KEYS}


def _photo_size(size: Any) -> tuple[int, int, int | None] | None:
    """(width, height, bytes) of one PhotoSize kind; None for sizes with no dimensions."""
    if isinstance(size, types.PhotoSize):
        return size.w, size.h, size.size
    if isinstance(size, types.PhotoSizeProgressive):
        return size.w, size.h, max(size.sizes) if size.sizes else None
    if isinstance(size, types.PhotoCachedSize):
        return size.w, size.h, len(size.bytes)
    return None


def describe_photo(photo: Any) -> dict[str, Any]:
    """A TL Photo by its largest size (PhotoSize, PhotoSizeProgressive or cached)."""
    sizes = [s for s in map(_photo_size, getattr(photo, "sizes", None) or ()) if s]
    w, h, size = max(sizes, key=lambda s: s[0] * s[1]) if sizes else (None, None, None)
    return _file(
        id=getattr(photo, "id", None), mime_type="image/jpeg" if sizes else None,
        size=size, width=w, height=h,
    )


def describe_document(doc: Any) -> tuple[str, dict[str, Any], str]:
    """(kind, FILE_KEYS meta plus the kind's extras, words) of a TL Document.

    The kind is the most specific its attributes say: sticker, animation, round,
    video, voice, audio, else document. Audio adds title/performer, stickers `alt`.
    """
    meta = _file(
        id=getattr(doc, "id", None), mime_type=getattr(doc, "mime_type", None),
        size=getattr(doc, "size", None),
    )
    flags: set[str] = set()
    extra: dict[str, Any] = {}
    for attr in getattr(doc, "attributes", None) or ():
        if isinstance(attr, types.DocumentAttributeFilename):
            meta["file_name"] = attr.file_name
        elif isinstance(attr, types.DocumentAttributeVideo):
            flags.add("round" if attr.round_message else "video")
            meta.update(duration=attr.duration, width=attr.w, height=attr.h)
        elif isinstance(attr, types.DocumentAttributeAudio):
            flags.add("voice" if attr.voice else "audio")
            if meta["duration"] is None:
                meta["duration"] = attr.duration
            extra.update({k: v for k, v in (("title", attr.title),
                                             ("performer", attr.performer)) if v})
        elif isinstance(attr, types.DocumentAttributeImageSize):
            if meta["width"] is None:
                meta.update(width=attr.w, height=attr.h)
        elif isinstance(attr, types.DocumentAttributeSticker):
            flags.add("sticker")
            if attr.alt:
                extra["alt"] = attr.alt
        elif isinstance(attr, types.DocumentAttributeAnimated):
            flags.add("animation")
    order = ("sticker", "animation", "round", "video", "voice", "audio")
    kind = next((k for k in order if k in flags), "document")
    meta.update(extra)
    return kind, meta, _words(extra.get("title"), extra.get("performer"), meta["file_name"])


def _geo(geo: Any) -> dict[str, Any]:
    if not isinstance(geo, types.GeoPoint):
        return {"lat": None, "long": None}
    return {"lat": geo.lat, "long": geo.long, "accuracy_radius": geo.accuracy_radius}


def _poll(media: types.MessageMediaPoll) -> tuple[dict[str, Any], str]:
    poll, results = media.poll, media.results
    by_option: dict[bytes, Any] = {
        r.option: r for r in (getattr(results, "results", None) or ())
    }
    options: list[dict[str, Any]] = []
    for answer in poll.answers:
        item: dict[str, Any] = {"text": _text(answer.text)}
        voters = by_option.get(answer.option)
        if voters is not None:  # results are visible (voted, closed or public)
            item["voters"] = voters.voters
            if voters.correct:
                item["correct"] = True
            if voters.chosen:
                item["chosen"] = True
        options.append(item)
    solution = getattr(results, "solution", None)
    close_date = getattr(poll, "close_date", None)
    described = {
        "id": poll.id,
        "question": _text(poll.question),
        "options": options,
        "closed": bool(poll.closed),
        "quiz": bool(poll.quiz),
        "multiple": bool(poll.multiple_choice),
        "public_voters": bool(poll.public_voters),
        "total_voters": getattr(results, "total_voters", None),
        "solution": solution,
        "close_date": close_date.isoformat() if isinstance(close_date, datetime) else None,
    }
    return described, _words(poll.question, *(o["text"] for o in options), solution)


def _webpage(page: Any) -> tuple[dict[str, Any], str]:
    if isinstance(page, types.WebPage):
        described = {key: getattr(page, key, None) for key in _WEBPAGE_KEYS}
        return described, _words(page.site_name, page.title, page.description, page.author)
    # A preview Telegram has not built yet (pending) or could not build (empty):
    # the link itself is still known.
    described = {"id": getattr(page, "id", None), "url": getattr(page, "url", None)}
    described["pending"] = isinstance(page, types.WebPagePending)
    return described, ""


def _story(media: types.MessageMediaStory, peers: Peers | None) -> tuple[dict[str, Any], str]:
    ref = peer_ref(media.peer)
    title, username = _name_of(peers.get(ref) if peers and ref else None)
    caption = getattr(media.story, "caption", None) if media.story is not None else None
    described = {
        "peer_type": ref[0] if ref else None,
        "peer_id": ref[1] if ref else None,
        "story_id": media.id,
        "title": title,
        "username": username,
        "via_mention": bool(media.via_mention),
        "caption": caption,
    }
    return described, _words(caption)


def _paid(media: types.MessageMediaPaidMedia) -> tuple[dict[str, Any], str]:
    items: list[dict[str, Any]] = []
    words: list[str] = []
    for item in media.extended_media:
        if isinstance(item, types.MessageExtendedMedia):
            kind, meta, text = describe_media(item.media)
            items.append({"kind": kind, **(meta or {})})
            words.append(text)
        else:  # a preview: the buyer sees the content, the archive only its shape
            items.append({"kind": "preview", **_file(
                width=getattr(item, "w", None), height=getattr(item, "h", None),
                duration=getattr(item, "video_duration", None),
            )})
    return {"stars": media.stars_amount, "items": items}, _words(*words)


def _todo(media: types.MessageMediaToDo) -> tuple[dict[str, Any], str]:
    done = {c.id for c in media.completions or ()}
    items = [
        {"id": i.id, "title": _text(i.title), "completed": i.id in done}
        for i in media.todo.list
    ]
    described = {"title": _text(media.todo.title), "items": items}
    return described, _words(described["title"], *(i["title"] for i in items))


def scalars(obj: Any) -> tuple[dict[str, Any], str]:
    """Any TL object's scalar fields (numbers, strings, flags, dates as ISO 8601,
    peers as their id, texts as their text, lists of those) and the words among them.
    Secrets (access hashes), hashes and blobs are left out."""
    out: dict[str, Any] = {}
    words: list[str] = []
    for key, value in obj.to_dict().items():
        if key == "_" or key in _SKIP_FIELDS or value is None:
            continue
        kept = _scalar(value)
        if kept is None:
            continue
        out[key] = kept
        if key in _WORD_FIELDS and isinstance(kept, str):
            words.append(kept)
    return out, _words(*words)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        tl = str(value.get("_", ""))
        if tl.startswith("Peer"):
            return next((v for k, v in value.items() if k.endswith("_id")), None)
        if tl == "TextWithEntities":
            return value.get("text")
        return None
    if isinstance(value, list):
        items = [_scalar(v) for v in value]
        kept = [v for v in items if v is not None]
        return kept if kept else None
    return None


def _kind(obj: Any, prefix: str) -> str:
    return snake(type(obj).__name__.removeprefix(prefix))[:_KIND_MAX]


def describe_media(
    media: Any, peers: Peers | None = None
) -> tuple[str | None, dict[str, Any] | None, str]:
    """`(media_kind, media, words)` of a TL MessageMedia; `(None, None, "")` for none.

    Kinds: photo, document, video, round, audio, voice, sticker, animation (all with
    FILE_KEYS), webpage, poll, geo, geo_live, venue, contact, dice, game, invoice,
    story, paid_media, giveaway, giveaway_results, to_do, or any other kind's
    snake_case name with its scalar fields (`scalars`).
    """
    if media is None or isinstance(media, types.MessageMediaEmpty):
        return None, None, ""
    if isinstance(media, types.MessageMediaPhoto):
        return "photo", describe_photo(media.photo), ""
    if isinstance(media, types.MessageMediaDocument):
        return describe_document(media.document)
    if isinstance(media, types.MessageMediaWebPage):
        return ("webpage", *_webpage(media.webpage))
    if isinstance(media, types.MessageMediaPoll):
        return ("poll", *_poll(media))
    if isinstance(media, types.MessageMediaGeoLive):
        live = _geo(media.geo) | {
            "period": media.period, "heading": media.heading,
            "proximity_notification_radius": media.proximity_notification_radius,
        }
        return "geo_live", live, ""
    if isinstance(media, types.MessageMediaGeo):
        return "geo", _geo(media.geo), ""
    if isinstance(media, types.MessageMediaVenue):
        venue = _geo(media.geo) | {key: getattr(media, key) for key in _VENUE_KEYS}
        return "venue", venue, _words(
            media.title, media.address, media.provider, media.venue_type
        )
    if isinstance(media, types.MessageMediaContact):
        contact = {key: getattr(media, key) or None for key in _CONTACT_KEYS}
        return "contact", contact, _words(media.first_name, media.last_name, media.phone_number)
    if isinstance(media, types.MessageMediaDice):
        return "dice", {"emoticon": media.emoticon, "value": media.value}, ""
    if isinstance(media, types.MessageMediaGame):
        game = media.game
        return "game", {key: getattr(game, key) for key in _GAME_KEYS}, _words(
            game.title, game.short_name, game.description
        )
    if isinstance(media, types.MessageMediaInvoice):
        invoice = {key: getattr(media, key) for key in _INVOICE_KEYS}
        invoice["photo_url"] = getattr(media.photo, "url", None)
        return "invoice", invoice, _words(media.title, media.description)
    if isinstance(media, types.MessageMediaStory):
        return ("story", *_story(media, peers))
    if isinstance(media, types.MessageMediaPaidMedia):
        return ("paid_media", *_paid(media))
    if isinstance(media, types.MessageMediaToDo):
        return ("to_do", *_todo(media))
    # Giveaways and anything newer: the kind and its scalar fields (a giveaway's
    # channels, prize description, quantity and dates are all scalars).
    return (_kind(media, "MessageMedia"), *scalars(media))


def describe_action(action: Any, pinned: int | None = None) -> tuple[dict[str, Any], str]:
    """`({"type": ..., **fields}, words)` of a service message's TL MessageAction.

    `type` is the action's name in snake_case without its prefix ("pin_message",
    "chat_edit_title", "channel_create", "channel_migrate_from", "chat_migrate_to",
    ...); the fields are its scalars (a title, chat ids, user ids), a pin's
    `message_id` (`pinned`: the service message's reply_to id), a new photo described
    with FILE_KEYS. Words: its titles and texts.
    """
    fields, words = scalars(action)
    described: dict[str, Any] = {"type": _kind(action, "MessageAction"), **fields}
    if isinstance(action, types.MessageActionPinMessage):
        described["message_id"] = pinned
    photo = getattr(action, "photo", None)
    if isinstance(photo, types.Photo | types.PhotoEmpty):
        described["photo"] = describe_photo(photo)
    return described, words

