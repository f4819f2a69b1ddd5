"""Export writers (CSV, JSONL, XLSX) and part splitting; the queries live in db/export.py.

result = await export_messages(ExportQuery(channel_id=3), ExportFormat.XLSX,
                               out_dir, "news-20260301-1200", limit_bytes=50 * 2**20)
"""

from services.export.run import ProgressCallback, export_messages

__all__ = ["ProgressCallback", "export_messages"]
