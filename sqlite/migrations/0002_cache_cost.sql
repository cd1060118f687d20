-- Response-cache verdict and costs of each inference.
ALTER TABLE inferences ADD COLUMN cache TEXT NOT NULL DEFAULT '';
ALTER TABLE inferences ADD COLUMN cache_tier TEXT NOT NULL DEFAULT '';
ALTER TABLE inferences ADD COLUMN cost_usd REAL;   -- NULL: unpriced model
ALTER TABLE inferences ADD COLUMN saved_usd REAL;  -- a cache hit: what the avoided call would have cost
