-- Prompt registry (switchboard.PromptVersion, PromptLabel, LabelChange) and
-- audit events (switchboard.AuditEvent). Times are integer Unix nanoseconds
-- (UTC), as elsewhere; content is the canonical JSON of a version, tags a
-- JSON array of strings, detail the event's JSON or NULL.

-- One row per prompt: the row CreatePromptVersion locks to number versions.
CREATE TABLE prompts (
    id         TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL
);

-- Versions are never updated or deleted. hash is the hex SHA-256 of
-- content; version is the display version (the author's, else seq).
CREATE TABLE prompt_versions (
    prompt_id   TEXT    NOT NULL REFERENCES prompts (id),
    seq         INTEGER NOT NULL,
    version     TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    tags        TEXT    NOT NULL DEFAULT '[]',
    source      TEXT    NOT NULL DEFAULT '',
    created_by  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (prompt_id, seq),
    UNIQUE (prompt_id, hash),
    UNIQUE (prompt_id, version)
);

-- Where each label points now.
CREATE TABLE prompt_labels (
    prompt_id  TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (prompt_id, label),
    FOREIGN KEY (prompt_id, hash) REFERENCES prompt_versions (prompt_id, hash)
);

-- Every move of a label, in the order applied (n).
CREATE TABLE prompt_label_history (
    n         INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT    NOT NULL UNIQUE,
    prompt_id TEXT    NOT NULL,
    label     TEXT    NOT NULL,
    hash      TEXT    NOT NULL,
    previous  TEXT    NOT NULL DEFAULT '',
    action    TEXT    NOT NULL,
    actor     TEXT    NOT NULL DEFAULT '',
    reason    TEXT    NOT NULL DEFAULT '',
    time      INTEGER NOT NULL
);
CREATE INDEX prompt_label_history_label_idx ON prompt_label_history (prompt_id, label, n);

-- One row, incremented in the transaction of every write above:
-- PromptsVersion.
CREATE TABLE prompts_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO prompts_version (id, version) VALUES (1, 0);

-- Audit events are never updated or deleted.
CREATE TABLE audit_events (
    id     TEXT    PRIMARY KEY,
    time   INTEGER NOT NULL,
    actor  TEXT    NOT NULL DEFAULT '',
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    detail TEXT
);
CREATE INDEX audit_events_time_idx ON audit_events (time, id);
CREATE INDEX audit_events_target_idx ON audit_events (target);
