"""parser/media.py media_ref (what the ingest queues): where a message's file is, from
real Telethon TL objects."""

from __future__ import annotations

from telethon.tl import types

from core.media import MediaRef
from parser.content import describe_media
from parser.media import media_ref
from tests.unit.message_fixtures import NOW


def photo(media_id: int = 5, sizes: list[types.TypePhotoSize] | None = None) -> types.Photo:
    return types.Photo(
        id=media_id, access_hash=-77, file_reference=b"\x01ref", date=NOW, dc_id=4,
        sizes=sizes if sizes is not None else [
            types.PhotoStrippedSize("i", b"\x01\x02"),
            types.PhotoSize("m", 320, 240, 9_000),
            types.PhotoCachedSize("s", 90, 67, b"\x00" * 400),
            types.PhotoSizeProgressive("y", 1280, 960, [10_000, 40_000, 120_000]),
            types.PhotoSize("x", 800, 600, 60_000),
        ],
    )  # fmt: skip


def document(*attributes: types.TypeDocumentAttribute, mime: str = "video/mp4") -> types.Document:
    return types.Document(
        id=9, access_hash=123456789012345, file_reference=b"\xff\x00", date=NOW,
        mime_type=mime, size=3_000_000_000, dc_id=2, attributes=list(attributes),
    )  # fmt: skip


def test_a_photo_is_fetched_by_its_largest_real_size() -> None:
    ref = media_ref(types.MessageMediaPhoto(photo=photo()))
    assert ref == MediaRef(
        kind="photo", tg_id=5, access_hash=-77, file_reference=b"\x01ref", dc_id=4,
        size=120_000, thumb="y", mime_type="image/jpeg",
    )  # fmt: skip
    plain = photo(
        sizes=[types.PhotoSize("m", 320, 240, 9_000), types.PhotoSize("w", 2560, 1920, 500_000)]
    )
    largest = media_ref(types.MessageMediaPhoto(photo=plain))
    assert largest is not None and (largest.thumb, largest.size) == ("w", 500_000)


def test_no_file_no_ref() -> None:
    only_previews = photo(
        sizes=[types.PhotoStrippedSize("i", b"\x01"), types.PhotoCachedSize("s", 9, 9, b"")]
    )
    assert media_ref(types.MessageMediaPhoto(photo=only_previews)) is None
    assert media_ref(types.MessageMediaPhoto(photo=types.PhotoEmpty(5))) is None
    assert media_ref(types.MessageMediaPhoto(ttl_seconds=10)) is None  # self-destructed
    assert media_ref(types.MessageMediaDocument(document=types.DocumentEmpty(9))) is None
    assert media_ref(types.MessageMediaGeo(types.GeoPoint(1.0, 2.0, 0))) is None
    assert media_ref(None) is None


def test_a_document_is_the_whole_file_with_its_kind_name_and_type() -> None:
    cases = {
        "video": [
            types.DocumentAttributeVideo(12.0, 640, 360),
            types.DocumentAttributeFilename("клип.mp4"),
        ],
        "round": [types.DocumentAttributeVideo(5.0, 240, 240, round_message=True)],
        "voice": [types.DocumentAttributeAudio(3, voice=True)],
        "audio": [types.DocumentAttributeAudio(200, title="Song")],
        "animation": [types.DocumentAttributeAnimated(), types.DocumentAttributeVideo(1.0, 9, 9)],
        "sticker": [types.DocumentAttributeSticker("🙂", types.InputStickerSetEmpty())],
        "document": [types.DocumentAttributeFilename("report.pdf")],
    }  # fmt: skip
    for kind, attributes in cases.items():
        media = types.MessageMediaDocument(document=document(*attributes))
        ref = media_ref(media)
        assert ref is not None and ref.kind == kind == describe_media(media)[0]
        assert (ref.tg_id, ref.access_hash, ref.file_reference, ref.dc_id) == (
            9, 123456789012345, b"\xff\x00", 2
        )
        assert ref.thumb is None and ref.size == 3_000_000_000 and ref.mime_type == "video/mp4"
    named = media_ref(types.MessageMediaDocument(document=document(*cases["video"])))
    assert named is not None and named.file_name == "клип.mp4"
    unnamed = media_ref(types.MessageMediaDocument(document=document(*cases["voice"], mime="")))
    assert unnamed is not None and unnamed.file_name is None and unnamed.mime_type is None
