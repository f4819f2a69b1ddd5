"""Texts for /start, /help, /status, /cancel and operator gating."""

TEXTS: dict[str, dict[str, str]] = {
    "refusal": {
        "en": "Sorry, this bot is private.",
        "ru": "Извините, это закрытый бот.",
    },
    "start": {
        "en": (
            "Hello! I archive Telegram channels into a database.\n\n"
            "/login — connect the Telegram account that reads the channels\n"
            "/add — add channels · /channels — list them\n"
            "/parse — parse now · /status — what is going on\n"
            "/export — get the data · /search — find messages\n"
            "/help — all commands"
        ),
        "ru": (
            "Здравствуйте! Я сохраняю Telegram-каналы в базу данных.\n\n"
            "/login — подключить аккаунт Telegram, который читает каналы\n"
            "/add — добавить каналы · /channels — список\n"
            "/parse — запустить сбор · /status — что происходит\n"
            "/export — выгрузить данные · /search — поиск по сообщениям\n"
            "/help — все команды"
        ),
    },
    "help": {
        "en": (
            "Commands:\n"
            "/login — log the userbot in (/login qr for a QR code)\n"
            "/logout — log it out\n"
            "/add — add channels (links, @names, invite links, one per line)\n"
            "/channels — list, pause, resume, remove\n"
            "/schedule — change how often a channel is parsed\n"
            "/parse <channel|all> — parse now\n"
            "/status — account, components, channels\n"
            "/export — CSV, JSONL or XLSX\n"
            "/search <words> — full-text search\n"
            "/stats <channel> — chart and top posts\n"
            "/watch, /watches, /unwatch — keyword alerts\n"
            "/cancel — leave the current dialogue"
        ),
        "ru": (
            "Команды:\n"
            "/login — войти в аккаунт (/login qr — по QR-коду)\n"
            "/logout — выйти из аккаунта\n"
            "/add — добавить каналы (ссылки, @имена, инвайты, по одному в строке)\n"
            "/channels — список, пауза, возобновление, удаление\n"
            "/schedule — как часто собирать канал\n"
            "/parse <канал|all> — собрать сейчас\n"
            "/status — аккаунт, компоненты, каналы\n"
            "/export — CSV, JSONL или XLSX\n"
            "/search <слова> — полнотекстовый поиск\n"
            "/stats <канал> — график и топ постов\n"
            "/watch, /watches, /unwatch — оповещения по ключевым словам\n"
            "/cancel — выйти из текущего диалога"
        ),
    },
    "cancelled": {"en": "Cancelled.", "ru": "Отменено."},
    "nothing_to_cancel": {"en": "Nothing to cancel.", "ru": "Нечего отменять."},
    "not_understood": {
        "en": "I only take commands here: /help lists them.",
        "ru": "Я понимаю только команды: список — /help.",
    },
    "status_title": {"en": "Status", "ru": "Состояние"},
    "status_account": {"en": "Account: {value}", "ru": "Аккаунт: {value}"},
    "status_account_none": {
        "en": "Account: not logged in (/login)",
        "ru": "Аккаунт: вход не выполнен (/login)",
    },
    "status_session": {"en": "Session: {value}", "ru": "Сессия: {value}"},
    "status_components": {"en": "Components:", "ru": "Компоненты:"},
    "status_component": {
        "en": "• {name}: {state}{extra}",
        "ru": "• {name}: {state}{extra}",
    },
    "status_restarts": {"en": ", restarts: {n}", "ru": ", перезапусков: {n}"},
    "error_generic": {
        "en": "Something went wrong. The error was logged; please try again.",
        "ru": "Что-то пошло не так. Ошибка записана в журнал, попробуйте ещё раз.",
    },
    "cmd_start": {"en": "Start and help", "ru": "Начало и помощь"},
    "cmd_help": {"en": "All commands", "ru": "Все команды"},
    "cmd_status": {"en": "What is going on", "ru": "Что происходит"},
    "cmd_cancel": {"en": "Leave the current dialogue", "ru": "Выйти из диалога"},
}
