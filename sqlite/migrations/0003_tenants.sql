-- Tenants and API keys created at run time (switchboard.Tenant,
-- switchboard.APIKey). Times are integer Unix nanoseconds (UTC), as in
-- inferences; limits and budget are the JSON of switchboard.Limits and
-- switchboard.Budget, scopes and models JSON arrays of strings.
CREATE TABLE tenants (
    name       TEXT    PRIMARY KEY,
    limits     TEXT    NOT NULL DEFAULT '{}',
    budget     TEXT    NOT NULL DEFAULT '{}',
    source     TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A key outlives its tenant (DeleteTenant revokes it), and may belong to a
-- tenant declared in the configuration file, so tenant is no foreign key.
-- hash is the hex SHA-256 of the key; expires_at and revoked_at are NULL
-- when unset.
CREATE TABLE api_keys (
    id         TEXT    PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    hash       TEXT    NOT NULL UNIQUE,
    prefix     TEXT    NOT NULL DEFAULT '',
    scopes     TEXT    NOT NULL DEFAULT '[]',
    models     TEXT    NOT NULL DEFAULT '[]',
    limits     TEXT    NOT NULL DEFAULT '{}',
    budget     TEXT    NOT NULL DEFAULT '{}',
    expires_at INTEGER,
    revoked_at INTEGER,
    source     TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant);

-- One row, incremented in the transaction of every write to tenants or
-- api_keys: TenantsVersion.
CREATE TABLE tenants_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO tenants_version (id, version) VALUES (1, 0);
