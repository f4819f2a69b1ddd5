"""Texts for /parse, its live progress and the parsing sections of /status."""

TEXTS: dict[str, dict[str, str]] = {
    "cmd_parse": {"en": "Parse a channel or all now", "ru": "Собрать канал или все сейчас"},
    "parse_usage": {
        "en": "Usage: /parse <@channel|link|all>",
        "ru": "Использование: /parse <@канал|ссылка|all>",
    },
    "parse_not_found": {
        "en": "No such channel among the added ones: {target}",
        "ru": "Такого канала нет среди добавленных: {target}",
    },
    "parse_no_channels": {
        "en": "No active channels. Add some with /add.",
        "ru": "Нет активных каналов. Добавьте их через /add.",
    },
    "parse_not_ready": {
        "en": "The Telegram account is not connected (/login).",
        "ru": "Аккаунт Telegram не подключён (/login).",
    },
    "parse_queued": {
        "en": "⏳ {channel}: queued…",
        "ru": "⏳ {channel}: в очереди…",
    },
    "parse_progress": {
        "en": "⏳ {channel}: {fetched} / ~{total} messages, {rate}/s, ETA {eta}",
        "ru": "⏳ {channel}: {fetched} / ~{total} сообщений, {rate}/с, осталось {eta}",
    },
    "parse_result_ok": {
        "en": "✅ {channel}: {fetched} messages in {seconds} s",
        "ru": "✅ {channel}: {fetched} сообщений за {seconds} с",
    },
    "parse_result_deferred": {
        "en": "⏸ {channel}: Telegram asked to wait, deferred for {left}",
        "ru": "⏸ {channel}: Telegram попросил подождать, отложено на {left}",
    },
    "parse_result_disabled": {
        "en": "🚫 {channel}: disabled ({reason})",
        "ru": "🚫 {channel}: отключён ({reason})",
    },
    "parse_result_failed": {
        "en": "⚠️ {channel}: failed ({reason}), {fetched} messages saved",
        "ru": "⚠️ {channel}: ошибка ({reason}), сохранено сообщений: {fetched}",
    },
    "parse_result_interrupted": {
        "en": "⏹ {channel}: interrupted, {fetched} messages saved",
        "ru": "⏹ {channel}: прервано, сохранено сообщений: {fetched}",
    },
    "parse_summary": {
        "en": "Done: {channels} channel(s), {fetched} messages.",
        "ru": "Готово: каналов {channels}, сообщений {fetched}.",
    },
    "status_parsing_account": {"en": "Account: {value}", "ru": "Аккаунт: {value}"},
    "status_parsing_breaker": {
        "en": "Telegram connection: {state}",
        "ru": "Связь с Telegram: {state}",
    },
    "status_breaker_closed": {"en": "ok", "ru": "в порядке"},
    "status_breaker_open": {
        "en": "paused after errors, retry in {left}",
        "ru": "пауза после ошибок, повтор через {left}",
    },
    "status_breaker_half_open": {"en": "probing", "ru": "проверка"},
    "status_parsing_channels": {
        "en": "Channels: {ok} ok, {deferred} deferred, {disabled} disabled, {paused} paused",
        "ru": "Каналы: {ok} в порядке, {deferred} отложено, {disabled} отключено, "
        "{paused} на паузе",
    },
    "status_parsing_deferred": {
        "en": "• {channel}: deferred, {left} left",
        "ru": "• {channel}: отложен, осталось {left}",
    },
    "status_parsing_disabled": {
        "en": "• {channel}: disabled ({reason})",
        "ru": "• {channel}: отключён ({reason})",
    },
    "status_parsing_messages": {
        "en": "Messages stored: {count}",
        "ru": "Сохранено сообщений: {count}",
    },
    "status_parsing_db": {"en": "Database: {size}", "ru": "База данных: {size}"},
    "status_parsing_current": {
        "en": "Running: {channel}, {fetched} fetched",
        "ru": "Идёт сбор: {channel}, получено {fetched}",
    },
    "status_parsing_next": {"en": "Next runs:", "ru": "Следующие запуски:"},
    "status_parsing_next_item": {"en": "• {channel}: {when}", "ru": "• {channel}: {when}"},
    "unit_seconds": {"en": "{n} s", "ru": "{n} с"},
    "unit_minutes": {"en": "{n} min", "ru": "{n} мин"},
    "unit_hours": {"en": "{h} h {m} min", "ru": "{h} ч {m} мин"},
}
