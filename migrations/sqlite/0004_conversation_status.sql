-- The bot's standing on each conversation: `active`, or `handed_off` to humans (the bot stays
-- silent until a playbook explicitly re-engages).
CREATE TABLE conversations (
    conversation_id   TEXT PRIMARY KEY,
    status            TEXT NOT NULL DEFAULT 'active',
    reason            TEXT,
    last_bot_reply_at TEXT,
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
