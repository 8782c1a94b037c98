-- People who blocked the bot on a platform: no proactive messages until they write again.
CREATE TABLE blocked_users (
    channel    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    blocked_at TEXT NOT NULL,
    PRIMARY KEY (channel, user_id)
);
