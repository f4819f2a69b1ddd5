"""The export's keyword filter: which stored records an export's words select."""

from __future__ import annotations

from core.words import SearchQuery, message_terms
from db.export import ExportRecord, RecordMatch


def keyword_match(keyword: str | None) -> RecordMatch | None:
    """A predicate over records for `keyword` (None: no filter), with /search's syntax
    and semantics (core.words.SearchQuery: stems, ё = е, "phrases", -exclusions,
    prefix*). It reads the stored `terms` (the search index's words of text and
    content), or stems the text and content words where they were never computed.
    Raises core.words.BadQuery when the words cannot select anything (only
    exclusions, no words)."""
    if not keyword:
        return None
    query = SearchQuery.parse(keyword)

    def match(rec: ExportRecord) -> bool:
        terms = rec["terms"]
        if terms is None:
            terms = message_terms(rec["text"] or "", rec["content_text"] or "")
        return query.matches(terms)

    return match
