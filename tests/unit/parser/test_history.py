"""A Telethon message as a stored row: every kind of post, service events, provenance
(the paging itself: services/parsing/test_ingest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from telethon.tl import types

from core.parsing import COLUMNS
from parser.content import FILE_KEYS, page_peers
from parser.history import message_row
from tests.unit.message_fixtures import NOW, full_message, tl_message


def row_of(m: Any, **kw: Any) -> dict[str, Any]:
    return dict(zip(COLUMNS, message_row(9, m, NOW, **kw), strict=True))


def media_of(media: Any, text: str = "") -> tuple[str | None, Any, str]:
    row = row_of(tl_message(1, text, media=media))
    return row["media_kind"], json.loads(row["media"]) if row["media"] else None, row[
        "content_text"
    ]


def twe(text: str) -> types.TextWithEntities:
    return types.TextWithEntities(text=text, entities=[])


def test_message_row_keeps_every_field() -> None:
    m = full_message(5)
    row = row_of(m)
    assert row["channel_id"] == 9 and row["msg_id"] == 5 and row["text"] == "Bold link"
    assert json.loads(row["entities"]) == [["Bold", 0, 4], ["TextUrl", 5, 4, "https://x.y"]]
    assert (row["views"], row["forwards"], row["replies"]) == (42, 3, 7)
    assert json.loads(row["reactions"]) == {"👍": 3, "custom:99": 1}
    assert row["media_kind"] == "document"
    assert json.loads(row["media"]) == {
        "id": 11, "mime_type": "application/pdf", "size": 1234, "file_name": "a.pdf",
        "duration": None, "width": None, "height": None,
    }
    assert row["content_text"] == "a.pdf" and row["action"] is None
    assert (row["grouped_id"], row["reply_to_id"], row["post_author"]) == (123, 4, "Ann")
    fwd = json.loads(row["fwd_from"])
    assert fwd["from_name"] == "Someone" and fwd["from_type"] is None and fwd["from_id"] is None
    assert row["edit_date"] == NOW and row["comment_of"] is None


def test_a_plain_text_post_has_no_content_words() -> None:
    row = row_of(tl_message(3, "just text"))
    assert (row["media_kind"], row["media"], row["content_text"], row["action"]) == (
        None, None, "", None
    )
    assert row_of(tl_message(3, "x", media=types.MessageMediaEmpty()))["media_kind"] is None


# -- media described with the same keys ------------------------------------------------


def test_photo_by_its_largest_size_progressive_included() -> None:
    photo = types.Photo(
        id=77, access_hash=1, file_reference=b"", date=NOW, dc_id=2,
        sizes=[
            types.PhotoStrippedSize("i", b"\x01\x02"),
            types.PhotoSize("m", 320, 240, 9000),
            types.PhotoSizeProgressive("y", 1280, 960, [1000, 5000, 80_000]),
        ],
    )
    kind, media, words = media_of(types.MessageMediaPhoto(photo=photo), "caption")
    assert kind == "photo" and words == ""
    assert media == {
        "id": 77, "file_name": None, "mime_type": "image/jpeg", "size": 80_000,
        "duration": None, "width": 1280, "height": 960,
    }
    assert set(media) == set(FILE_KEYS)


def _doc(*attributes: Any, mime: str = "video/mp4", size: int = 5000) -> Any:
    return types.MessageMediaDocument(
        document=types.Document(
            id=5, access_hash=1, file_reference=b"", date=NOW, mime_type=mime, size=size,
            dc_id=2, attributes=list(attributes),
        )
    )


@pytest.mark.parametrize(
    ("attributes", "kind", "extra"),
    [
        (
            [types.DocumentAttributeVideo(12.5, 1920, 1080),
             types.DocumentAttributeFilename("a.mp4")],
            "video", {"duration": 12.5, "width": 1920, "height": 1080, "file_name": "a.mp4"},
        ),
        ([types.DocumentAttributeVideo(3.0, 384, 384, round_message=True)], "round",
         {"duration": 3.0, "width": 384, "height": 384}),
        ([types.DocumentAttributeVideo(2.0, 320, 200), types.DocumentAttributeAnimated()],
         "animation", {"duration": 2.0, "width": 320, "height": 200}),
        ([types.DocumentAttributeAudio(31, voice=True)], "voice", {"duration": 31}),
        (
            [types.DocumentAttributeAudio(200, title="Song", performer="Band"),
             types.DocumentAttributeFilename("song.mp3")],
            "audio",
            {"duration": 200, "file_name": "song.mp3", "title": "Song", "performer": "Band"},
        ),
        (
            [types.DocumentAttributeImageSize(512, 512),
             types.DocumentAttributeSticker(alt="😀", stickerset=types.InputStickerSetEmpty())],
            "sticker", {"width": 512, "height": 512, "alt": "😀"},
        ),
    ],
)
def test_documents_by_kind_with_the_same_keys(
    attributes: list[Any], kind: str, extra: dict[str, Any]
) -> None:
    got_kind, media, _ = media_of(_doc(*attributes))
    assert got_kind == kind
    assert set(FILE_KEYS) <= set(media)
    want = {k: None for k in FILE_KEYS} | {"id": 5, "mime_type": "video/mp4", "size": 5000}
    assert media == want | extra


def test_audio_words_are_its_title_performer_and_file_name() -> None:
    _, _, words = media_of(_doc(
        types.DocumentAttributeAudio(200, title="Подмосковные вечера", performer="Хор"),
        types.DocumentAttributeFilename("vechera.mp3"),
    ))
    assert words.split("\n") == ["Подмосковные вечера", "Хор", "vechera.mp3"]


# -- every other kind ------------------------------------------------------------------


def _poll(results: Any, **flags: Any) -> Any:
    poll = types.Poll(
        id=99, question=twe("Куда поедем летом?"), hash=0,
        answers=[types.PollAnswer(twe("В Москву"), b"0"), types.PollAnswer(twe("На море"), b"1")],
        **flags,
    )
    return types.MessageMediaPoll(poll=poll, results=results)


def test_poll_with_visible_results() -> None:
    results = types.PollResults(
        results=[
            types.PollAnswerVoters(b"0", voters=3, correct=True),
            types.PollAnswerVoters(b"1", voters=5, chosen=True),
        ],
        total_voters=8, solution="Москва ближе",
    )
    kind, media, words = media_of(_poll(results, quiz=True, closed=True))
    assert kind == "poll"
    assert media["question"] == "Куда поедем летом?"
    assert media["options"] == [
        {"text": "В Москву", "voters": 3, "correct": True},
        {"text": "На море", "voters": 5, "chosen": True},
    ]
    assert (media["closed"], media["quiz"], media["multiple"], media["total_voters"]) == (
        True, True, False, 8
    )
    assert media["solution"] == "Москва ближе" and media["id"] == 99
    assert words.split("\n") == ["Куда поедем летом?", "В Москву", "На море", "Москва ближе"]


def test_poll_with_hidden_results_keeps_its_options() -> None:
    kind, media, _ = media_of(_poll(types.PollResults(min=True), multiple_choice=True))
    assert kind == "poll" and media["multiple"] is True and media["total_voters"] is None
    assert media["options"] == [{"text": "В Москву"}, {"text": "На море"}]


GEO = types.GeoPoint(long=37.6173, lat=55.7558, access_hash=123, accuracy_radius=20)


@pytest.mark.parametrize(
    ("media", "kind", "described", "words"),
    [
        (types.MessageMediaGeo(geo=GEO), "geo",
         {"lat": 55.7558, "long": 37.6173, "accuracy_radius": 20}, ""),
        (types.MessageMediaGeo(geo=types.GeoPointEmpty()), "geo", {"lat": None, "long": None}, ""),
        (
            types.MessageMediaGeoLive(geo=GEO, period=900, heading=90),
            "geo_live",
            {"lat": 55.7558, "long": 37.6173, "accuracy_radius": 20, "period": 900,
             "heading": 90, "proximity_notification_radius": None},
            "",
        ),
        (
            types.MessageMediaVenue(
                geo=GEO, title="Большой театр", address="Театральная пл., 1",
                provider="foursquare", venue_id="4b", venue_type="arts/theater",
            ),
            "venue",
            {"lat": 55.7558, "long": 37.6173, "accuracy_radius": 20, "title": "Большой театр",
             "address": "Театральная пл., 1", "provider": "foursquare", "venue_id": "4b",
             "venue_type": "arts/theater"},
            "Большой театр\nТеатральная пл., 1\nfoursquare\narts/theater",
        ),
        (
            types.MessageMediaContact(
                phone_number="+79001234567", first_name="Иван", last_name="Петров",
                vcard="", user_id=0,
            ),
            "contact",
            {"phone_number": "+79001234567", "first_name": "Иван", "last_name": "Петров",
             "user_id": None, "vcard": None},
            "Иван\nПетров\n+79001234567",
        ),
        (types.MessageMediaDice(value=6, emoticon="🎲"), "dice",
         {"emoticon": "🎲", "value": 6}, ""),
        (
            types.MessageMediaGame(game=types.Game(
                id=4, access_hash=1, short_name="tetris", title="Tetris",
                description="Falling blocks", photo=types.PhotoEmpty(id=0),
            )),
            "game",
            {"id": 4, "short_name": "tetris", "title": "Tetris", "description": "Falling blocks"},
            "Tetris\ntetris\nFalling blocks",
        ),
        (
            types.MessageMediaInvoice(
                title="Подписка", description="Месяц доступа", currency="RUB",
                total_amount=29900, start_param="sub", test=True,
                photo=types.WebDocumentNoProxy(
                    url="https://x.y/p.jpg", size=1, mime_type="image/jpeg", attributes=[]
                ),
            ),
            "invoice",
            {"title": "Подписка", "description": "Месяц доступа", "currency": "RUB",
             "total_amount": 29900, "start_param": "sub", "receipt_msg_id": None,
             "test": True, "photo_url": "https://x.y/p.jpg"},
            "Подписка\nМесяц доступа",
        ),
    ],
)
def test_kinds_with_their_structure(
    media: Any, kind: str, described: dict[str, Any], words: str
) -> None:
    assert media_of(media) == (kind, described, words)


def test_webpage_full_and_pending() -> None:
    page = types.WebPage(
        id=8, url="https://example.org/a", display_url="example.org/a", hash=0,
        type="article", site_name="Example", title="Выборы в городе",
        description="Итоги голосования", author="Редакция",
    )
    kind, media, words = media_of(types.MessageMediaWebPage(webpage=page), "see link")
    assert kind == "webpage"
    assert media == {
        "id": 8, "url": "https://example.org/a", "display_url": "example.org/a",
        "site_name": "Example", "title": "Выборы в городе",
        "description": "Итоги голосования", "type": "article", "author": "Редакция",
    }
    assert words == "Example\nВыборы в городе\nИтоги голосования\nРедакция"
    pending = types.WebPagePending(id=9, date=NOW, url="https://slow.example/")
    assert media_of(types.MessageMediaWebPage(webpage=pending)) == (
        "webpage", {"id": 9, "url": "https://slow.example/", "pending": True}, ""
    )
    empty = types.WebPageEmpty(id=10, url="https://gone.example/")
    assert media_of(types.MessageMediaWebPage(webpage=empty))[1] == {
        "id": 10, "url": "https://gone.example/", "pending": False
    }


def test_story_named_through_the_answers_chats() -> None:
    media = types.MessageMediaStory(peer=types.PeerChannel(555), id=17)
    channel = types.Channel(
        id=555, title="Истории", photo=types.ChatPhotoEmpty(), date=NOW, username="stories"
    )
    row = row_of(tl_message(1, "", media=media), peers=page_peers(
        types.messages.ChannelMessages(pts=1, count=1, messages=[], topics=[],
                                       chats=[channel], users=[])
    ))
    assert row["media_kind"] == "story"
    assert json.loads(row["media"]) == {
        "peer_type": "channel", "peer_id": 555, "story_id": 17, "title": "Истории",
        "username": "stories", "via_mention": False, "caption": None,
    }


def test_paid_media_lists_its_items() -> None:
    photo = types.Photo(id=1, access_hash=1, file_reference=b"", date=NOW, dc_id=2,
                        sizes=[types.PhotoSize("x", 800, 600, 1234)])
    media = types.MessageMediaPaidMedia(stars_amount=50, extended_media=[
        types.MessageExtendedMediaPreview(w=640, h=480, video_duration=9),
        types.MessageExtendedMedia(media=types.MessageMediaPhoto(photo=photo)),
    ])
    kind, described, _ = media_of(media)
    assert kind == "paid_media" and described["stars"] == 50
    assert described["items"] == [
        {"kind": "preview", "id": None, "file_name": None, "mime_type": None,
         "size": None, "duration": 9, "width": 640, "height": 480},
        {"kind": "photo", "id": 1, "file_name": None, "mime_type": "image/jpeg", "size": 1234,
         "duration": None, "width": 800, "height": 600},
    ]


def test_giveaway_and_its_results_by_their_scalars() -> None:
    giveaway = types.MessageMediaGiveaway(
        channels=[555, 556], quantity=3, until_date=NOW, countries_iso2=["RU"],
        prize_description="Три книги", months=3,
    )
    kind, media, words = media_of(giveaway)
    assert kind == "giveaway" and words == "Три книги"
    assert media == {
        "channels": [555, 556], "quantity": 3, "until_date": NOW.isoformat(),
        "countries_iso2": ["RU"], "prize_description": "Три книги", "months": 3,
    }
    results = types.MessageMediaGiveawayResults(
        channel_id=555, launch_msg_id=4, winners_count=2, unclaimed_count=0,
        winners=[11, 12], until_date=NOW,
    )
    kind, media, _ = media_of(results)
    assert kind == "giveaway_results"
    assert media["winners"] == [11, 12] and media["launch_msg_id"] == 4


def test_todo_list() -> None:
    todo = types.MessageMediaToDo(
        todo=types.TodoList(title=twe("План"), list=[
            types.TodoItem(1, twe("Купить хлеб")), types.TodoItem(2, twe("Позвонить"))
        ]),
        completions=[types.TodoCompletion(1, types.PeerUser(5), NOW)],
    )
    kind, media, words = media_of(todo)
    assert kind == "to_do" and words == "План\nКупить хлеб\nПозвонить"
    assert media["items"] == [
        {"id": 1, "title": "Купить хлеб", "completed": True},
        {"id": 2, "title": "Позвонить", "completed": False},
    ]


def test_an_unknown_kind_is_kept_by_name_and_scalars() -> None:
    unsupported = types.MessageMediaUnsupported()
    assert media_of(unsupported) == ("unsupported", {}, "")
    stream = types.MessageMediaVideoStream(
        call=types.InputGroupCall(id=5, access_hash=6), rtmp_stream=True
    )
    assert media_of(stream)[:2] == ("video_stream", {"rtmp_stream": True})


# -- service messages ------------------------------------------------------------------


def service(action: Any, **kw: Any) -> Any:
    """What Telethon's reader builds for a TL messageService."""
    return types.MessageService(
        id=20, peer_id=types.PeerChannel(777), date=NOW, action=action, **kw
    )


@pytest.mark.parametrize(
    ("action", "event", "words"),
    [
        (types.MessageActionChatEditTitle("Новости 2"),
         {"type": "chat_edit_title", "title": "Новости 2"}, "Новости 2"),
        (types.MessageActionChannelCreate("Новости"),
         {"type": "channel_create", "title": "Новости"}, "Новости"),
        (types.MessageActionChannelMigrateFrom("Old group", 4242),
         {"type": "channel_migrate_from", "title": "Old group", "chat_id": 4242}, "Old group"),
        (types.MessageActionChatMigrateTo(555),
         {"type": "chat_migrate_to", "channel_id": 555}, ""),
        (types.MessageActionChatDeletePhoto(), {"type": "chat_delete_photo"}, ""),
        (types.MessageActionChatAddUser(users=[1, 2]),
         {"type": "chat_add_user", "users": [1, 2]}, ""),
        (types.MessageActionTopicCreate("Обсуждение", icon_color=0x6FB9F0),
         {"type": "topic_create", "title": "Обсуждение", "icon_color": 0x6FB9F0},
         "Обсуждение"),
    ],
)
def test_service_messages_are_events(action: Any, event: dict[str, Any], words: str) -> None:
    row = row_of(service(action))
    assert json.loads(row["action"]) == event
    assert (row["text"], row["content_text"], row["media_kind"], row["msg_id"]) == (
        "", words, None, 20
    )
    assert row["views"] is None and row["fwd_from"] is None


def test_a_pin_names_the_pinned_message() -> None:
    row = row_of(service(
        types.MessageActionPinMessage(), reply_to=types.MessageReplyHeader(reply_to_msg_id=7)
    ))
    assert json.loads(row["action"]) == {"type": "pin_message", "message_id": 7}
    assert row["reply_to_id"] == 7


def test_a_new_photo_is_described_like_any_photo() -> None:
    photo = types.Photo(id=3, access_hash=9, file_reference=b"", date=NOW, dc_id=2,
                        sizes=[types.PhotoSize("a", 160, 160, 500),
                               types.PhotoSize("c", 640, 640, 4000)])
    event = json.loads(row_of(service(types.MessageActionChatEditPhoto(photo)))["action"])
    assert event == {"type": "chat_edit_photo", "photo": {
        "id": 3, "file_name": None, "mime_type": "image/jpeg", "size": 4000,
        "duration": None, "width": 640, "height": 640,
    }}


# -- provenance ------------------------------------------------------------------------


def test_forward_from_a_channel_named_by_the_answer() -> None:
    fwd = types.MessageFwdHeader(
        date=NOW, from_id=types.PeerChannel(555), channel_post=42, post_author="Ed"
    )
    source = types.Channel(
        id=555, title="Источник", photo=types.ChatPhotoEmpty(), date=NOW, username="src"
    )
    answer = types.messages.ChannelMessages(
        pts=1, count=1, messages=[], topics=[], chats=[source], users=[]
    )
    row = row_of(tl_message(1, "repost", fwd_from=fwd), peers=page_peers(answer))
    assert json.loads(row["fwd_from"]) == {
        "from_type": "channel", "from_id": 555, "title": "Источник", "username": "src",
        "from_name": None, "date": NOW.isoformat(), "channel_post": 42, "post_author": "Ed",
    }
    # Not in the answer: the id and type are still known.
    unnamed = json.loads(row_of(tl_message(1, "repost", fwd_from=fwd), peers={})["fwd_from"])
    assert (unnamed["from_type"], unnamed["from_id"], unnamed["title"]) == ("channel", 555, None)


def test_forward_from_a_user_and_from_a_hidden_user() -> None:
    user = types.User(id=31, first_name="Анна", last_name="К", username=None,
                      usernames=[types.Username("anna_k", active=True)])
    peers = page_peers(types.messages.ChannelMessages(
        pts=1, count=1, messages=[], topics=[], chats=[], users=[user]
    ))
    fwd = types.MessageFwdHeader(date=NOW, from_id=types.PeerUser(31))
    got = json.loads(row_of(tl_message(1, "x", fwd_from=fwd), peers=peers)["fwd_from"])
    assert (got["from_type"], got["from_id"], got["title"], got["username"]) == (
        "user", 31, "Анна К", "anna_k"
    )
    hidden = types.MessageFwdHeader(date=NOW, from_name="Тайный автор")
    got = json.loads(row_of(tl_message(1, "x", fwd_from=hidden), peers=peers)["fwd_from"])
    assert (got["from_type"], got["from_id"], got["from_name"]) == (None, None, "Тайный автор")


def test_a_comment_keeps_its_post() -> None:
    row = row_of(tl_message(8, "согласен"), comment_of=5)
    assert row["comment_of"] == 5 and row["action"] is None
