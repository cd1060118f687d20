package recorder

// The cost of Record on the request path, with a store that accepts batches
// instantly (so the queue never fills and Record never blocks).
//
//	go test -run '^$' -bench 'Record' -benchmem -count=10 ./recorder/ | tee new.txt
//
// The numbers that should move are sec/op and allocs/op, which must stay 0:
// Record copies the record into the queue and allocates nothing. Batch
// inserts into real databases are measured by BenchmarkInsertInferences in
// ./sqlite/ and ./postgres/.

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

func benchRecorder(b *testing.B) *Recorder {
	store := &fakeStore{InsertFunc: func(context.Context, []switchboard.Inference) error { return nil }}
	r := New(store, Options{})
	b.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return r
}

var benchInference = switchboard.Inference{
	ID: "0197a0b2-7c1e-7d3a-9f00-3c5e2a1b4d6f", Time: time.Now(), RequestID: "req", TenantID: "tenant",
	KeyID: "key", Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini", Provider: "openai",
	UpstreamModel: "gpt-4o-mini-2024-07-18", Stream: true, Status: 200, Latency: 812 * time.Millisecond,
	TTFT: 120 * time.Millisecond, InputTokens: 1200, OutputTokens: 300, CachedTokens: 1024, Attempts: 1,
}

func BenchmarkRecord(b *testing.B) {
	r := benchRecorder(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Record(ctx, benchInference); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordParallel calls Record from GOMAXPROCS goroutines, as
// concurrent requests do.
func BenchmarkRecordParallel(b *testing.B) {
	r := benchRecorder(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := r.Record(ctx, benchInference); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
