"""Texts for /login, /logout and the account section of /status."""

TEXTS: dict[str, dict[str, str]] = {
    "cmd_login": {"en": "Log the userbot in", "ru": "Войти в аккаунт Telegram"},
    "cmd_logout": {"en": "Log the userbot out", "ru": "Выйти из аккаунта"},
    "login_ask_phone": {
        "en": (
            "Send the phone number of the Telegram account that will read the channels, "
            "e.g. +15550000001.\nOr log in by QR code: /login qr\n/cancel to stop."
        ),
        "ru": (
            "Пришлите номер телефона аккаунта Telegram, который будет читать каналы, "
            "например +79990000001.\nИли войдите по QR-коду: /login qr\n/cancel — отмена."
        ),
    },
    "login_qr_button": {"en": "Log in with a QR code", "ru": "Войти по QR-коду"},
    "login_already": {
        "en": "Already logged in as {name}. /logout first to switch accounts.",
        "ru": "Вход уже выполнен: {name}. Чтобы сменить аккаунт, сначала /logout.",
    },
    "login_busy": {
        "en": "{name} is logging in right now. Wait until they finish or /cancel.",
        "ru": "Сейчас вход выполняет {name}. Дождитесь окончания или отмены.",
    },
    "login_code_sent": {
        "en": (
            "Telegram sent a code to the Telegram app of {phone}.\n"
            "⚠️ Do not send the code in one piece: Telegram cancels a code seen in any "
            "message. Tap it on the keypad below, or type it with separators: "
            "<code>1 2 3 4 5</code> or <code>1-2-3-4-5</code>."
        ),
        "ru": (
            "Telegram отправил код в приложение Telegram на номере {phone}.\n"
            "⚠️ Не присылайте код целиком: Telegram отменяет код, замеченный в любом "
            "сообщении. Наберите его на клавиатуре ниже или через разделители: "
            "<code>1 2 3 4 5</code> или <code>1-2-3-4-5</code>."
        ),
    },
    "login_keypad": {"en": "Code: {masked}", "ru": "Код: {masked}"},
    "login_keypad_ok": {"en": "✅ Sign in", "ru": "✅ Войти"},
    "login_keypad_resend": {"en": "🔁 New code", "ru": "🔁 Новый код"},
    "login_code_whole_warning": {
        "en": "The code came in one piece; Telegram may have cancelled it. Trying anyway…",
        "ru": "Код пришёл целиком — Telegram мог его отменить. Всё равно пробую…",
    },
    "login_checking": {"en": "Checking…", "ru": "Проверяю…"},
    "login_ask_password": {
        "en": "The account has two-step verification. Send its password.{hint}\n/cancel to stop.",
        "ru": "У аккаунта включена двухэтапная проверка. Пришлите пароль.{hint}\n"
        "/cancel — отмена.",
    },
    "login_hint": {"en": " Hint: {hint}", "ru": " Подсказка: {hint}"},
    "login_done": {
        "en": "✅ Logged in as {name}. Parsing uses this account now.",
        "ru": "✅ Вход выполнен: {name}. Сбор данных теперь идёт через этот аккаунт.",
    },
    "login_qr_caption": {
        "en": (
            "Scan this in the Telegram app on a device where the account is logged in: "
            "Settings → Devices → Link Desktop Device. The code is replaced every "
            "{ttl} s.\n/cancel to stop."
        ),
        "ru": (
            "Отсканируйте код в приложении Telegram, где аккаунт уже открыт: "
            "Настройки → Устройства → Подключить устройство. Код обновляется каждые "
            "{ttl} с.\n/cancel — отмена."
        ),
    },
    "login_err_phone_format": {
        "en": "That does not look like a phone number. "
        "Send it with the country code: +15550000001.",
        "ru": "Это не похоже на номер телефона. Пришлите его с кодом страны: +79990000001.",
    },
    "login_err_phone_invalid": {
        "en": "Telegram does not accept this phone number. Check it and send it again.",
        "ru": "Telegram не принимает этот номер. Проверьте его и пришлите снова.",
    },
    "login_err_phone_unoccupied": {
        "en": "There is no Telegram account with this number. Send another number.",
        "ru": "Аккаунта Telegram с этим номером нет. Пришлите другой номер.",
    },
    "login_err_phone_banned": {
        "en": "Telegram has banned this phone number. Use another account.",
        "ru": "Этот номер заблокирован в Telegram. Используйте другой аккаунт.",
    },
    "login_err_code_format": {
        "en": "Send the code as digits with separators, e.g. 1 2 3 4 5, or use the keypad.",
        "ru": "Пришлите код цифрами через разделители, например 1 2 3 4 5, "
        "или наберите на клавиатуре.",
    },
    "login_err_code_invalid": {
        "en": "Wrong code. Attempts left: {left}.",
        "ru": "Неверный код. Осталось попыток: {left}.",
    },
    "login_err_code_expired": {
        "en": "The code has expired or was cancelled by Telegram. Tap «New code» to get another.",
        "ru": "Код истёк или отменён Telegram. Нажмите «Новый код», чтобы получить другой.",
    },
    "login_err_password_invalid": {
        "en": "Wrong password. Attempts left: {left}.",
        "ru": "Неверный пароль. Осталось попыток: {left}.",
    },
    "login_err_password_retry": {
        "en": "Telegram asked to repeat the password check. Send the password again.",
        "ru": "Telegram просит повторить проверку пароля. Пришлите пароль ещё раз.",
    },
    "login_err_attempts_exhausted": {
        "en": "Too many wrong attempts. The login was stopped; start again with /login.",
        "ru": "Слишком много неверных попыток. Вход прерван, начните заново: /login.",
    },
    "login_err_flood_wait": {
        "en": "Telegram asks to wait {wait} before trying again.",
        "ru": "Telegram просит подождать {wait}, прежде чем пробовать снова.",
    },
    "login_err_network": {
        "en": "Telegram could not be reached. Try the same step again in a minute.",
        "ru": "Не удалось связаться с Telegram. Повторите этот шаг через минуту.",
    },
    "login_err_no_flow": {
        "en": "There is no login in progress. Start with /login.",
        "ru": "Вход не начат. Начните с /login.",
    },
    "login_err_busy": {
        "en": "{name} is logging in right now.",
        "ru": "Сейчас вход выполняет {name}.",
    },
    "login_err_session_dead": {
        "en": "Telegram rejected the session. Start again with /login.",
        "ru": "Telegram отклонил сессию. Начните заново: /login.",
    },
    "login_err_unknown": {
        "en": "Telegram answered with an unexpected error. Start again with /login.",
        "ru": "Telegram ответил неожиданной ошибкой. Начните заново: /login.",
    },
    "duration_s": {"en": "{n} s", "ru": "{n} с"},
    "duration_m": {"en": "{m} min {s} s", "ru": "{m} мин {s} с"},
    "duration_h": {"en": "{h} h {m} min", "ru": "{h} ч {m} мин"},
    "logout_confirm": {
        "en": "Log {name} out on Telegram's side and delete the stored session? Parsing stops.",
        "ru": "Выйти из аккаунта {name} на стороне Telegram и удалить сохранённую сессию? "
        "Сбор данных остановится.",
    },
    "logout_yes": {"en": "Yes, log out", "ru": "Да, выйти"},
    "logout_no": {"en": "No", "ru": "Нет"},
    "logout_done": {
        "en": "Logged out. The session was deleted; parsing is stopped. /login to connect again.",
        "ru": "Выход выполнен. Сессия удалена, сбор остановлен. /login — подключиться снова.",
    },
    "logout_kept": {"en": "Nothing changed.", "ru": "Ничего не изменилось."},
    "logout_none": {"en": "No account is logged in.", "ru": "Нет аккаунта, из которого выйти."},
    "session_ready": {"en": "active", "ru": "активна"},
    "session_connecting": {"en": "connecting…", "ru": "подключение…"},
    "session_no_session": {"en": "none (/login)", "ru": "нет (/login)"},
    "session_paused": {"en": "paused: {reason}", "ru": "приостановлена: {reason}"},
    "session_invalid": {
        "en": "revoked ({reason}); parsing paused — /login again",
        "ru": "отозвана ({reason}); сбор приостановлен — выполните /login снова",
    },
    "session_login_running": {
        "en": "login in progress ({name})",
        "ru": "идёт вход ({name})",
    },
}

TEXTS["alert_session_dead"] = {
    "en": "🔒 The Telegram session stopped working ({reason}). Parsing is paused; "
    "log in again with /login.",
    "ru": "🔒 Сессия Telegram перестала работать ({reason}). Сбор приостановлен; "
    "войдите снова: /login.",
}
