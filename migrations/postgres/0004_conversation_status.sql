-- PostgreSQL twin of migrations/sqlite/0004: the bot's standing on each conversation.
CREATE TABLE conversations (
    conversation_id   TEXT PRIMARY KEY,
    status            TEXT NOT NULL DEFAULT 'active',
    reason            TEXT,
    last_bot_reply_at TEXT,
    updated_at        TEXT NOT NULL DEFAULT triaged_now()
);
