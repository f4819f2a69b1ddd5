"""The export's keyword filter: which stored records an export's words select."""

from __future__ import annotations

from db.export import ExportRecord, RecordMatch


def _fold(text: str) -> str:
    return text.casefold().replace("ё", "е")


def keyword_match(keyword: str | None) -> RecordMatch | None:
    """A predicate over records for `keyword` (None: no filter): the folded words of
    the text and of the non-text content hold the folded keyword."""
    if not keyword:
        return None
    needle = _fold(keyword)

    def match(rec: ExportRecord) -> bool:
        return needle in _fold(f"{rec['text'] or ''}\n{rec['content_text'] or ''}")

    return match
