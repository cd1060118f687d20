-- One row per inference (switchboard.Inference). latency_ns and ttft_ns are
-- durations in nanoseconds; time keeps microseconds, PostgreSQL's precision.
CREATE TABLE inferences (
    id             TEXT        PRIMARY KEY,
    time           TIMESTAMPTZ NOT NULL,
    request_id     TEXT        NOT NULL DEFAULT '',
    tenant_id      TEXT        NOT NULL DEFAULT '',
    key_id         TEXT        NOT NULL DEFAULT '',
    endpoint       TEXT        NOT NULL DEFAULT '',
    model          TEXT        NOT NULL DEFAULT '',
    provider       TEXT        NOT NULL DEFAULT '',
    upstream_model TEXT        NOT NULL DEFAULT '',
    stream         BOOLEAN     NOT NULL DEFAULT false,
    status         INTEGER     NOT NULL DEFAULT 0,
    error_code     TEXT        NOT NULL DEFAULT '',
    latency_ns     BIGINT      NOT NULL DEFAULT 0,
    ttft_ns        BIGINT      NOT NULL DEFAULT 0,
    input_tokens   BIGINT      NOT NULL DEFAULT 0,
    output_tokens  BIGINT      NOT NULL DEFAULT 0,
    cached_tokens  BIGINT      NOT NULL DEFAULT 0,
    attempts       INTEGER     NOT NULL DEFAULT 0
);

-- id ends each index so that "ORDER BY time DESC, id DESC" (the listing
-- order) reads straight from the index, with no sort.
CREATE INDEX inferences_time_idx ON inferences (time, id);
CREATE INDEX inferences_model_time_idx ON inferences (model, time, id);
CREATE INDEX inferences_tenant_time_idx ON inferences (tenant_id, time, id);
