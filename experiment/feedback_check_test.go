package experiment_test

import (
	"errors"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/experiment"
	"github.com/switchboard-ai/switchboard/sqlite"
)

// Feedback names an inference the sender's tenant received: an unknown ID,
// another tenant's inference or a stale made-up one is a 404 on
// inference_id, while a fresh ID whose record may still be queued is taken.
func TestFeedbackNeedsAKnownInference(t *testing.T) {
	t.Parallel()
	store, err := sqlite.New(t.Context(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now().UTC()
	recorded := switchboard.NewID()
	if err := store.InsertInferences(t.Context(), []switchboard.Inference{{ID: recorded, Time: now, Endpoint: "chat",
		Model: "m", TenantID: "acme", Status: 200}}); err != nil {
		t.Fatal(err)
	}
	svc := experiment.NewService(store, experiment.Options{Inferences: store, PendingWindow: time.Minute})
	old := "0190d7a4-1c2b-7d3e-8f40-123456789abc" // a UUIDv7 of 2024
	tests := []struct {
		name, id, tenant string
		ok               bool
	}{
		{"recorded, own tenant", recorded, "acme", true},
		{"recorded, another tenant", recorded, "other", false},
		{"queued: minted just now", switchboard.NewID(), "acme", true},
		{"never minted: too old to be queued", old, "acme", false},
		{"not an inference ID", "chatcmpl-123", "acme", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.RecordFeedback(t.Context(), switchboard.Feedback{InferenceID: tc.id, TenantID: tc.tenant, Metric: "thumbs_up", Value: 1})
			if tc.ok {
				if err != nil {
					t.Fatalf("RecordFeedback: %v", err)
				}
				return
			}
			var se *switchboard.Error
			if !errors.As(err, &se) || se.Code != switchboard.CodeNotFound || se.Param != "inference_id" {
				t.Fatalf("RecordFeedback: got %v, want not_found on inference_id", err)
			}
		})
	}
}
