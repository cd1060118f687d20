-- Response-cache verdict and costs of each inference.
ALTER TABLE inferences ADD COLUMN IF NOT EXISTS cache TEXT NOT NULL DEFAULT '';
ALTER TABLE inferences ADD COLUMN IF NOT EXISTS cache_tier TEXT NOT NULL DEFAULT '';
ALTER TABLE inferences ADD COLUMN IF NOT EXISTS cost_usd DOUBLE PRECISION;   -- NULL: unpriced model
ALTER TABLE inferences ADD COLUMN IF NOT EXISTS saved_usd DOUBLE PRECISION;  -- a cache hit: what the avoided call would have cost
