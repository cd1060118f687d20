-- Experiments, feedback and exposures (switchboard.Experiment,
-- switchboard.Feedback). Times are integer Unix nanoseconds (UTC), as in
-- inferences.

-- The prompt version each inference rendered (its display version) and the experiment variant it
-- was assigned. unit is a salted hash of the randomisation unit, never a raw
-- user ID; '' when the inference was assigned at random.
ALTER TABLE inferences ADD COLUMN prompt_id TEXT NOT NULL DEFAULT '';
ALTER TABLE inferences ADD COLUMN prompt_version TEXT NOT NULL DEFAULT '';
ALTER TABLE inferences ADD COLUMN prompt_label TEXT NOT NULL DEFAULT '';
ALTER TABLE inferences ADD COLUMN experiment TEXT NOT NULL DEFAULT '';
ALTER TABLE inferences ADD COLUMN variant TEXT NOT NULL DEFAULT '';
ALTER TABLE inferences ADD COLUMN unit TEXT NOT NULL DEFAULT '';

-- Partial indexes: most inferences belong to no prompt or experiment, and
-- cost nothing here. Queries repeat the index condition so SQLite uses them.
CREATE INDEX inferences_experiment_idx ON inferences (experiment, variant, unit) WHERE experiment <> '';
CREATE INDEX inferences_prompt_idx ON inferences (prompt_id, time) WHERE prompt_id <> '';

-- spec is the JSON of the experiment's frozen fields (variants, metrics,
-- salt, alpha…); decision the JSON of switchboard.ExperimentDecision.
CREATE TABLE experiments (
    name       TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL,
    prompt     TEXT    NOT NULL DEFAULT '',
    label      TEXT    NOT NULL DEFAULT '',
    model      TEXT    NOT NULL DEFAULT '',
    status     TEXT    NOT NULL,
    spec       TEXT    NOT NULL,
    decision   TEXT,
    created_at INTEGER NOT NULL,
    stopped_at INTEGER
);
-- At most one running experiment splits a prompt label or a model.
CREATE UNIQUE INDEX experiments_running_idx ON experiments (prompt, label, model) WHERE status = 'running';
CREATE INDEX experiments_created_idx ON experiments (created_at, name);

-- One value per inference, tenant and metric. tenant_id is the tenant that
-- sent it; a tenant only creates and replaces its own rows, so another
-- tenant rating an inference first does not lock its owner out.
-- Aggregations only count feedback of the inference's own tenant.
CREATE TABLE feedback (
    inference_id TEXT    NOT NULL,
    metric       TEXT    NOT NULL,
    value        REAL    NOT NULL,
    tenant_id    TEXT    NOT NULL DEFAULT '',
    time         INTEGER NOT NULL,
    PRIMARY KEY (inference_id, tenant_id, metric)
);

-- The running minimum of each always-valid p-value (STATS.md §6.3).
CREATE TABLE experiment_pvalues (
    experiment TEXT    NOT NULL,
    metric     TEXT    NOT NULL,
    variant    TEXT    NOT NULL,
    p_value    REAL    NOT NULL,
    looks      INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (experiment, metric, variant)
);
