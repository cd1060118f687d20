package sqlite

// Batch inserts, as the recorder issues them (500 records, all new), into a
// file database in WAL mode.
//
//	go test -run '^$' -bench 'InsertInferences' -benchmem -count=10 ./sqlite/ | tee new.txt
//
// The number that should move is sec/op (records/s is reported too).

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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

func BenchmarkInsertInferences(b *testing.B) {
	s := mustNew(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		batch := benchInferences(fmt.Sprintf("b%d", i), benchBatch)
		i++
		b.StartTimer()
		if err := s.InsertInferences(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i*benchBatch)/b.Elapsed().Seconds(), "records/s")
}
