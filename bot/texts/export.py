"""Texts for /export, /search, /stats and keyword alerts (/watch, /watches, /unwatch)."""

TEXTS: dict[str, dict[str, str]] = {
    "cmd_export": {
        "en": "Export messages (CSV, JSONL, XLSX)",
        "ru": "Выгрузка (CSV, JSONL, XLSX)",
    },
    "cmd_search": {"en": "Full-text search", "ru": "Полнотекстовый поиск"},
    "cmd_stats": {"en": "Chart and top posts of a channel", "ru": "График и топ постов канала"},
    "cmd_watch": {"en": "Alert on keywords", "ru": "Оповещать о ключевых словах"},
    "cmd_watches": {"en": "List keyword alerts", "ru": "Список оповещений"},
    "cmd_unwatch": {"en": "Remove a keyword alert", "ru": "Удалить оповещение"},
    # /export
    "export_usage": {
        "en": (
            "Export: <code>/export &lt;channel|all&gt; [csv|jsonl|xlsx] [from YYYY-MM-DD] "
            "[to YYYY-MM-DD] [words...]</code>\n"
            "Or pick below."
        ),
        "ru": (
            "Выгрузка: <code>/export &lt;канал|all&gt; [csv|jsonl|xlsx] [from ГГГГ-ММ-ДД] "
            "[to ГГГГ-ММ-ДД] [слова...]</code>\n"
            "Или выберите ниже."
        ),
    },
    "export_pick_format": {
        "en": "Export {what}: choose a format and period.",
        "ru": "Выгрузка {what}: выберите формат и период.",
    },
    "export_all_channels": {"en": "all channels", "ru": "все каналы"},
    "export_btn_all": {"en": "All channels", "ru": "Все каналы"},
    "export_btn_period_all": {"en": "all time", "ru": "всё время"},
    "export_btn_period_days": {"en": "{n} days", "ru": "{n} дн."},
    "export_bad_date": {
        "en": "Cannot read the date “{value}”: use YYYY-MM-DD.",
        "ru": "Не понимаю дату «{value}»: используйте ГГГГ-ММ-ДД.",
    },
    "export_started": {
        "en": "Exporting {what} as {fmt}…",
        "ru": "Выгружаю {what} в {fmt}…",
    },
    "export_progress": {
        "en": "Exporting {what} as {fmt}… {n} messages so far",
        "ru": "Выгружаю {what} в {fmt}… сообщений: {n}",
    },
    "export_empty": {
        "en": "Nothing to export: no stored messages match.",
        "ru": "Выгружать нечего: подходящих сообщений нет.",
    },
    "export_done": {
        "en": "Done: {n} messages.",
        "ru": "Готово, сообщений: {n}.",
    },
    "export_done_parts": {
        "en": "Done: {n} messages in {parts} zip parts (upload limit {limit} MB).",
        "ru": "Готово, сообщений: {n}; zip-частей: {parts} (лимит загрузки {limit} МБ).",
    },
    "export_part_caption": {"en": "Part {i} of {total}", "ru": "Часть {i} из {total}"},
    "export_busy": {
        "en": "An export is already running; wait for it to finish.",
        "ru": "Выгрузка уже идёт, дождитесь её окончания.",
    },
    "channel_not_found": {
        "en": "No stored channel “{ref}”. See /channels.",
        "ru": "Канал «{ref}» не найден среди сохранённых. См. /channels.",
    },
    # /search
    "search_usage": {
        "en": "Search: <code>/search words</code> (prefixes match: <code>/search teleg</code>).",
        "ru": (
            "Поиск: <code>/search слова</code> "
            "(ищет и по началу слова: <code>/search телег</code>)."
        ),
    },
    "search_none": {"en": "Nothing found for “{q}”.", "ru": "По запросу «{q}» ничего не найдено."},
    "search_header": {
        "en": "Found {total} for “{q}” — page {page} of {pages}:",
        "ru": "Найдено {total} по запросу «{q}» — страница {page} из {pages}:",
    },
    "search_expired": {
        "en": "This search has expired; run /search again.",
        "ru": "Этот поиск устарел, повторите /search.",
    },
    "btn_prev": {"en": "« Back", "ru": "« Назад"},
    "btn_next": {"en": "Next »", "ru": "Далее »"},
    # /stats
    "stats_usage": {
        "en": "Stats: <code>/stats &lt;channel&gt; [days, default 30]</code>",
        "ru": "Статистика: <code>/stats &lt;канал&gt; [дней, по умолчанию 30]</code>",
    },
    "stats_empty": {
        "en": "{channel}: no stored posts in the last {days} days.",
        "ru": "{channel}: за последние {days} дн. сохранённых постов нет.",
    },
    "stats_caption": {
        "en": "{channel}: {posts} posts in {days} days",
        "ru": "{channel}: постов за {days} дн.: {posts}",
    },
    "stats_posts_label": {"en": "posts per day", "ru": "постов в день"},
    "stats_views_label": {"en": "median views", "ru": "медиана просмотров"},
    "stats_top_views": {"en": "Top by views:", "ru": "Топ по просмотрам:"},
    "stats_top_reactions": {"en": "Top by reactions:", "ru": "Топ по реакциям:"},
    "stats_top_line": {
        "en": '• <a href="{link}">#{msg_id}</a> — {views} views, {reactions} reactions',
        "ru": '• <a href="{link}">#{msg_id}</a> — просмотры: {views}, реакции: {reactions}',
    },
    # /watch
    "watch_usage": {
        "en": (
            "Alerts: <code>/watch words [channel|all]</code> or "
            "<code>/watch /regex/ [channel|all]</code>; /watches lists them, "
            "<code>/unwatch N</code> removes one."
        ),
        "ru": (
            "Оповещения: <code>/watch слова [канал|all]</code> или "
            "<code>/watch /regex/ [канал|all]</code>; /watches — список, "
            "<code>/unwatch N</code> — удалить."
        ),
    },
    "watch_bad_regex": {
        "en": "Bad pattern: {error}. Nothing was saved.",
        "ru": "Ошибка в шаблоне: {error}. Ничего не сохранено.",
    },
    "watch_added": {
        "en": "Alert #{id} added: {pattern} in {where}.",
        "ru": "Оповещение #{id} добавлено: {pattern} в {where}.",
    },
    "watch_everywhere": {"en": "all channels", "ru": "всех каналах"},
    "watches_none": {
        "en": "No keyword alerts. Add one with /watch.",
        "ru": "Оповещений нет. Добавьте: /watch.",
    },
    "watches_title": {"en": "Keyword alerts:", "ru": "Оповещения:"},
    "watches_line": {"en": "#{id} {pattern} — {where}", "ru": "#{id} {pattern} — {where}"},
    "unwatch_usage": {
        "en": "Remove: <code>/unwatch N</code> (see /watches).",
        "ru": "Удалить: <code>/unwatch N</code> (см. /watches).",
    },
    "unwatch_done": {"en": "Alert #{id} removed.", "ru": "Оповещение #{id} удалено."},
    "unwatch_missing": {"en": "There is no alert #{id}.", "ru": "Оповещения #{id} нет."},
    "watch_alert_title": {
        "en": "Keyword alerts: {n} new matching posts",
        "ru": "Оповещения: новых подходящих постов: {n}",
    },
    "watch_alert_line": {
        "en": "• [{pattern}] {channel}: {link}",
        "ru": "• [{pattern}] {channel}: {link}",
    },
    "watch_alert_more": {"en": "…and {n} more", "ru": "…и ещё {n}"},
}
