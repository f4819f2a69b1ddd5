"""Texts for /add, /channels and /schedule."""

TEXTS: dict[str, dict[str, str]] = {
    "cmd_add": {"en": "Add channels", "ru": "Добавить каналы"},
    "cmd_channels": {"en": "Channels: list and manage", "ru": "Каналы: список и управление"},
    "cmd_schedule": {"en": "Per-channel parse interval", "ru": "Интервал сбора для канала"},
    "add_prompt": {
        "en": (
            "Send channels, one per line: @name, t.me/name, t.me/+invite, -100… id.\n"
            "Optional after a channel: <code>all</code>, <code>last:1000</code>, "
            "<code>since:2024-01-01</code>. /cancel to stop."
        ),
        "ru": (
            "Пришлите каналы, по одному в строке: @name, t.me/name, t.me/+приглашение, "
            "id -100….\nПосле канала можно указать: <code>all</code>, "
            "<code>last:1000</code>, <code>since:2024-01-01</code>. /cancel — отмена."
        ),
    },
    "add_not_ready": {
        "en": "The Telegram account is not connected: /login first.",
        "ru": "Аккаунт Telegram не подключён: сначала /login.",
    },
    "add_r_added": {"en": "✅ {label}: added", "ru": "✅ {label}: добавлен"},
    "add_r_already": {"en": "☑️ {label}: already added", "ru": "☑️ {label}: уже добавлен"},
    "add_r_invite": {
        "en": "🔗 {label}: an invite link — join?",
        "ru": "🔗 {label}: ссылка-приглашение — вступить?",
    },
    "add_r_not_found": {"en": "❌ {label}: not found", "ru": "❌ {label}: не найден"},
    "add_r_private": {
        "en": "🔒 {label}: private (join by an invite link)",
        "ru": "🔒 {label}: закрытый (вступите по ссылке-приглашению)",
    },
    "add_r_not_channel": {
        "en": "🚫 {label}: not a channel or group",
        "ru": "🚫 {label}: не канал и не группа",
    },
    "add_r_too_many": {
        "en": "⛔ {label}: the account's channel limit is reached (500); leave some first",
        "ru": "⛔ {label}: достигнут лимит каналов аккаунта (500); сначала покиньте лишние",
    },
    "add_r_invite_invalid": {
        "en": "❌ {label}: the invite link is invalid or expired",
        "ru": "❌ {label}: приглашение недействительно или истекло",
    },
    "add_r_garbage": {
        "en": "❓ {label}: not a channel link",
        "ru": "❓ {label}: это не ссылка на канал",
    },
    "add_r_bad_option": {
        "en": "❓ {label}: unknown option (all, last:N, since:YYYY-MM-DD)",
        "ru": "❓ {label}: непонятный параметр (all, last:N, since:ГГГГ-ММ-ДД)",
    },
    "add_r_flood": {
        "en": "⏳ {label}: Telegram asks to wait {left}; try this one again later",
        "ru": "⏳ {label}: Telegram просит подождать {left}; повторите позже",
    },
    "add_r_not_ready": {
        "en": "⚠️ {label}: the account is not connected (/login)",
        "ru": "⚠️ {label}: аккаунт не подключён (/login)",
    },
    "add_r_session_dead": {
        "en": "⚠️ {label}: the session stopped working (/login)",
        "ru": "⚠️ {label}: сессия перестала работать (/login)",
    },
    "add_r_error": {
        "en": "⚠️ {label}: Telegram error, try again later",
        "ru": "⚠️ {label}: ошибка Telegram, попробуйте позже",
    },
    "add_r_invite_gone": {
        "en": "This invite confirmation is outdated; send the link again.",
        "ru": "Подтверждение устарело; пришлите ссылку ещё раз.",
    },
    "add_join_yes": {"en": "Join «{title}»", "ru": "Вступить в «{title}»"},
    "add_join_no": {"en": "Skip", "ru": "Пропустить"},
    "add_join_skipped": {"en": "Skipped: {title}", "ru": "Пропущено: {title}"},
    "add_history_ask": {
        "en": "How much history to collect from {label}? (default: {default})",
        "ru": "Сколько истории собрать из {label}? (по умолчанию: {default})",
    },
    "add_history_set": {
        "en": "{label}: history — {depth}. Parsing starts.",
        "ru": "{label}: история — {depth}. Сбор начинается.",
    },
    "add_history_late": {
        "en": "{label}: history is already being collected; the depth stays.",
        "ru": "{label}: история уже собирается; глубина не меняется.",
    },
    "depth_all": {"en": "all history", "ru": "вся история"},
    "depth_last": {"en": "last {n}", "ru": "последние {n}"},
    "depth_since": {"en": "since {date}", "ru": "с {date}"},
    "channels_empty": {
        "en": "No channels yet. Add some with /add.",
        "ru": "Каналов пока нет. Добавьте их через /add.",
    },
    "channels_title": {
        "en": "Channels ({total}), page {page}/{pages}:",
        "ru": "Каналы ({total}), страница {page}/{pages}:",
    },
    "channels_line": {
        "en": "{icon} {label} — {count} msgs, last: {last}, next: {next}{error}",
        "ru": "{icon} {label} — сообщений: {count}, последний: {last}, следующий: {next}{error}",
    },
    "channels_error": {"en": "\n    ⚠️ {error}", "ru": "\n    ⚠️ {error}"},
    "channels_never": {"en": "—", "ru": "—"},
    "channels_prev": {"en": "« Prev", "ru": "« Назад"},
    "channels_next": {"en": "Next »", "ru": "Вперёд »"},
    "channels_back": {"en": "« List", "ru": "« К списку"},
    "channel_view": {
        "en": (
            "{icon} <b>{label}</b> ({kind})\nStatus: {status}\nMessages: {count}\n"
            "Last run: {last}\nNext run: {next}\nInterval: {interval}\nHistory: {depth}\n"
            "Comments: {comments}{error}"
        ),
        "ru": (
            "{icon} <b>{label}</b> ({kind})\nСтатус: {status}\nСообщений: {count}\n"
            "Последний сбор: {last}\nСледующий: {next}\nИнтервал: {interval}\n"
            "История: {depth}\nКомментарии: {comments}{error}"
        ),
    },
    "channel_kind_channel": {"en": "channel", "ru": "канал"},
    "channel_kind_megagroup": {"en": "group", "ru": "группа"},
    "channel_kind_gigagroup": {"en": "broadcast group", "ru": "большая группа"},
    "channel_status_active": {"en": "active", "ru": "активен"},
    "channel_status_paused": {"en": "paused", "ru": "на паузе"},
    "channel_status_disabled": {"en": "disabled", "ru": "отключён"},
    "channel_interval_default": {
        "en": "{n} min (default)",
        "ru": "{n} мин (по умолчанию)",
    },
    "channel_interval": {"en": "{n} min", "ru": "{n} мин"},
    "channel_on": {"en": "on", "ru": "вкл"},
    "channel_off": {"en": "off", "ru": "выкл"},
    "channel_btn_pause": {"en": "⏸ Pause", "ru": "⏸ Пауза"},
    "channel_btn_resume": {"en": "▶️ Resume", "ru": "▶️ Возобновить"},
    "channel_btn_remove": {"en": "🗑 Remove", "ru": "🗑 Удалить"},
    "channel_btn_comments_on": {"en": "💬 Comments: on", "ru": "💬 Комментарии: вкл"},
    "channel_btn_comments_off": {"en": "💬 Comments: off", "ru": "💬 Комментарии: выкл"},
    "channel_remove_ask": {
        "en": "Remove {label} and all its stored messages?",
        "ru": "Удалить {label} и все сохранённые сообщения?",
    },
    "channel_remove_yes": {"en": "Yes, remove", "ru": "Да, удалить"},
    "channel_remove_no": {"en": "No", "ru": "Нет"},
    "channel_removed": {"en": "🗑 {label} removed.", "ru": "🗑 {label} удалён."},
    "channel_paused": {"en": "⏸ {label} paused.", "ru": "⏸ {label} на паузе."},
    "channel_resumed": {"en": "▶️ {label} resumed.", "ru": "▶️ {label} возобновлён."},
    "channel_gone": {"en": "This channel is no longer stored.", "ru": "Этого канала больше нет."},
    "schedule_usage": {
        "en": "Usage: /schedule <channel> <minutes|default>",
        "ru": "Использование: /schedule <канал> <минуты|default>",
    },
    "schedule_not_found": {
        "en": "No such channel among the added ones: {ref}",
        "ru": "Такого канала нет среди добавленных: {ref}",
    },
    "schedule_bad_minutes": {
        "en": "The interval must be a whole number of minutes from 1 to 10080, or default.",
        "ru": "Интервал — целое число минут от 1 до 10080 или default.",
    },
    "schedule_set": {
        "en": "⏱ {label}: every {n} min.",
        "ru": "⏱ {label}: каждые {n} мин.",
    },
    "schedule_default": {
        "en": "⏱ {label}: default interval ({n} min).",
        "ru": "⏱ {label}: интервал по умолчанию ({n} мин).",
    },
}
