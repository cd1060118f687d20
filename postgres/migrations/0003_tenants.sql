-- Tenants and API keys created at run time (switchboard.Tenant,
-- switchboard.APIKey). Times keep microseconds, PostgreSQL's precision;
-- limits and budget are the JSON of switchboard.Limits and
-- switchboard.Budget, scopes and models JSON arrays of strings, all kept as
-- the text the store wrote.
CREATE TABLE tenants (
    name       TEXT        PRIMARY KEY,
    limits     TEXT        NOT NULL DEFAULT '{}',
    budget     TEXT        NOT NULL DEFAULT '{}',
    source     TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- A key outlives its tenant (DeleteTenant revokes it), and may belong to a
-- tenant declared in the configuration file, so tenant is no foreign key.
-- hash is the hex SHA-256 of the key; expires_at and revoked_at are NULL
-- when unset.
CREATE TABLE api_keys (
    id         TEXT        PRIMARY KEY,
    tenant     TEXT        NOT NULL,
    name       TEXT        NOT NULL DEFAULT '',
    hash       TEXT        NOT NULL UNIQUE,
    prefix     TEXT        NOT NULL DEFAULT '',
    scopes     TEXT        NOT NULL DEFAULT '[]',
    models     TEXT        NOT NULL DEFAULT '[]',
    limits     TEXT        NOT NULL DEFAULT '{}',
    budget     TEXT        NOT NULL DEFAULT '{}',
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    source     TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant);

-- One row, incremented in the transaction of every write to tenants or
-- api_keys: TenantsVersion. Replicas poll it; the row lock also orders
-- concurrent writers.
CREATE TABLE tenants_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO tenants_version (id, version) VALUES (1, 0);
