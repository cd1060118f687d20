package postgres

// Batch inserts, as the recorder issues them (500 records, all new).
//
//	SWITCHBOARD_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench 'InsertInferences' -benchmem -count=10 ./postgres/ | tee new.txt
//
// BenchmarkInsertInferences is the store's own path; the strategy
// sub-benchmarks compare ways of writing the same batch. The number that
// should move is sec/op (records/s is reported too). unnest won, so
// InsertInferences uses it; re-run before changing it.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-ai/switchboard"
)

const benchBatch = 500

func benchInferences(prefix string, n int) []switchboard.Inference {
	now := time.Now()
	out := make([]switchboard.Inference, n)
	for i := range out {
		out[i] = switchboard.Inference{
			ID: fmt.Sprintf("%s-%05d", prefix, i), Time: now, RequestID: "req", TenantID: "tenant", KeyID: "key",
			Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini", Provider: "openai", UpstreamModel: "gpt-4o-mini-2024-07-18",
			Stream: true, Status: 200, Latency: 812 * time.Millisecond, TTFT: 120 * time.Millisecond,
			InputTokens: 1200, OutputTokens: 300, CachedTokens: 1024, Attempts: 1,
		}
	}
	return out
}

// benchStrategy runs one way of inserting a batch of new records per iteration.
func benchStrategy(b *testing.B, insert func(ctx context.Context, s *Store, batch []switchboard.Inference) error) {
	s := mustNew(b, testSchema(b))
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		batch := benchInferences(fmt.Sprintf("b%d", i), benchBatch)
		i++
		b.StartTimer()
		if err := insert(ctx, s, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i*benchBatch)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkInsertInferences(b *testing.B) {
	testURL(b)
	b.Run("store", func(b *testing.B) {
		benchStrategy(b, func(ctx context.Context, s *Store, batch []switchboard.Inference) error {
			return s.InsertInferences(ctx, batch)
		})
	})
	b.Run("strategy=unnest", func(b *testing.B) {
		benchStrategy(b, func(ctx context.Context, s *Store, batch []switchboard.Inference) error {
			_, err := s.pool.Exec(ctx, insertInferences, columnsOf(batch)...)
			return err
		})
	})
	b.Run("strategy=pgx.Batch", func(b *testing.B) {
		benchStrategy(b, insertPGXBatch)
	})
	b.Run("strategy=copy", func(b *testing.B) {
		benchStrategy(b, insertCopy)
	})
}

// insertPGXBatch queues one INSERT per record and sends them in one round
// trip, in a transaction.
func insertPGXBatch(ctx context.Context, s *Store, batch []switchboard.Inference) error {
	const one = `INSERT INTO inferences (` + inferenceColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (id) DO NOTHING`
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var pb pgx.Batch
		for _, in := range batch {
			pb.Queue(one, in.ID, in.Time, in.RequestID, in.TenantID, in.KeyID, in.Endpoint, in.Model, in.Provider,
				in.UpstreamModel, in.Stream, in.Status, in.ErrorCode, int64(in.Latency), int64(in.TTFT),
				in.InputTokens, in.OutputTokens, in.CachedTokens, in.Attempts)
		}
		return tx.SendBatch(ctx, &pb).Close()
	})
}

// insertCopy copies the batch into a temporary table, then moves it with
// INSERT … SELECT … ON CONFLICT (COPY itself cannot skip duplicates).
func insertCopy(ctx context.Context, s *Store, batch []switchboard.Inference) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE inferences_in (LIKE inferences) ON COMMIT DROP`); err != nil {
			return err
		}
		cols := []string{"id", "time", "request_id", "tenant_id", "key_id", "endpoint", "model", "provider",
			"upstream_model", "stream", "status", "error_code", "latency_ns", "ttft_ns",
			"input_tokens", "output_tokens", "cached_tokens", "attempts"}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"inferences_in"}, cols, pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			in := &batch[i]
			return []any{in.ID, in.Time, in.RequestID, in.TenantID, in.KeyID, in.Endpoint, in.Model, in.Provider,
				in.UpstreamModel, in.Stream, int32(in.Status), in.ErrorCode, int64(in.Latency), int64(in.TTFT),
				int64(in.InputTokens), int64(in.OutputTokens), int64(in.CachedTokens), int32(in.Attempts)}, nil
		}))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO inferences SELECT * FROM inferences_in ON CONFLICT (id) DO NOTHING`)
		return err
	})
}
