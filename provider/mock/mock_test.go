package mock

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-ai/switchboard"
)

func TestStatusError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status         int
		wantCode       switchboard.ErrorCode
		wantRetryAfter time.Duration
	}{
		{200, "", 0},
		{400, switchboard.CodeInvalidRequest, 0},
		{404, switchboard.CodeInvalidRequest, 0},
		{401, switchboard.CodeUpstream, 0},
		{403, switchboard.CodeUpstream, 0},
		{429, switchboard.CodeRateLimited, 2 * time.Second},
		{500, switchboard.CodeUnavailable, 0},
		{502, switchboard.CodeUnavailable, 0},
		{503, switchboard.CodeUnavailable, 2 * time.Second},
		{529, switchboard.CodeUnavailable, 2 * time.Second},
		{504, switchboard.CodeTimeout, 0},
	}
	for _, tc := range tests {
		err := StatusError(tc.status, 2*time.Second)
		if tc.wantCode == "" {
			if err != nil {
				t.Errorf("StatusError(%d) = %v, want nil", tc.status, err)
			}
			continue
		}
		if err.Code != tc.wantCode || err.Status != tc.status || err.RetryAfter != tc.wantRetryAfter || err.Message == "" {
			t.Errorf("StatusError(%d) = {code %s status %d retry %v %q}, want {code %s status %d retry %v}",
				tc.status, err.Code, err.Status, err.RetryAfter, err.Message, tc.wantCode, tc.status, tc.wantRetryAfter)
		}
	}
}

func TestProviderErrors(t *testing.T) {
	t.Parallel()
	p := mustProvider(t, Config{})
	tests := []struct {
		name     string
		mock     string
		wantCode switchboard.ErrorCode
		wantErr  error
	}{
		{"rate limited", `{"status":429,"retry_after":3}`, switchboard.CodeRateLimited, nil},
		{"unavailable", `{"status":503}`, switchboard.CodeUnavailable, nil},
		{"bad option", `{"status":"x"}`, switchboard.CodeInvalidRequest, nil},
		{"fail_after", `{"fail_after":0}`, switchboard.CodeUpstream, ErrAborted},
		{"malformed", `{"malformed":true}`, switchboard.CodeUpstream, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := mustRequest(t, `{"model":"mock-echo","messages":[{"role":"user","content":"x"}],"mock":`+tc.mock+`}`)
			_, err := p.Chat(t.Context(), "", req)
			if got := switchboard.ErrorCodeOf(err); got != tc.wantCode {
				t.Errorf("Chat: got code %s (%v), want %s", got, err, tc.wantCode)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Chat: got %v, want %v", err, tc.wantErr)
			}
			emb := &switchboard.EmbeddingRequest{Model: "e", Input: json.RawMessage(`"x"`), Extra: req.Extra}
			if _, err := p.Embed(t.Context(), "", emb); switchboard.ErrorCodeOf(err) != tc.wantCode {
				t.Errorf("Embed: got code %s (%v), want %s", switchboard.ErrorCodeOf(err), err, tc.wantCode)
			}
		})
	}
	// A rate limit carries its Retry-After, and is retryable.
	req := mustRequest(t, `{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"x"}],"mock":{"status":429,"retry_after":3}}`)
	_, err := p.ChatStream(t.Context(), "", req)
	var e *switchboard.Error
	if !errors.As(err, &e) || e.RetryAfter != 3*time.Second || e.Status != 429 || !switchboard.Retryable(err) {
		t.Errorf("ChatStream: got %#v, want a retryable 429 with RetryAfter 3s", err)
	}
}

func TestChatStallHonoursCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := mustProvider(t, Config{})
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		req := mustRequest(t, `{"model":"mock-echo","messages":[{"role":"user","content":"x"}],"mock":{"stall_after":0}}`)
		if _, err := p.Chat(ctx, "", req); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestChatLatencyOverride(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := mustProvider(t, Config{Latency: time.Second})
		for _, tc := range []struct {
			mock string
			want time.Duration
		}{{`null`, time.Second}, {`{"latency":"0s"}`, 0}, {`{"latency":"3s"}`, 3 * time.Second}} {
			start := time.Now()
			if _, err := p.Chat(t.Context(), "", mustRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"mock":`+tc.mock+`}`)); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(start); got != tc.want {
				t.Errorf("mock %s: got latency %v, want %v", tc.mock, got, tc.want)
			}
		}
	})
}

func TestChatRaw(t *testing.T) {
	t.Parallel()
	p := mustProvider(t, Config{})
	resp, err := p.Chat(t.Context(), "upstream-name", mustRequest(t, `{"model":"alias","messages":[{"role":"user","content":"hey"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var dec switchboard.ChatResponse
	if err := json.Unmarshal(resp.Raw, &dec); err != nil {
		t.Fatalf("decode Raw %s: %v", resp.Raw, err)
	}
	dec.Raw = resp.Raw
	if diff := cmp.Diff(resp, &dec); diff != "" {
		t.Errorf("response and decoded Raw differ (-resp +decoded):\n%s", diff)
	}
	if resp.Model != "upstream-name" || resp.Choices[0].Message.Text() != "hey" {
		t.Errorf("got model %q text %q, want upstream-name and hey", resp.Model, resp.Choices[0].Message.Text())
	}
	if u := resp.Usage; u.PromptTokens != 7 || u.CompletionTokens != 1 || u.TotalTokens != 8 || u.PromptTokensDetails == nil {
		t.Errorf("got usage %+v, want 7+1=8 with prompt_tokens_details", u)
	}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	dec := func(v any) error {
		c := v.(*Config)
		c.Models = []string{"mock-a", "mock-b"}
		return nil
	}
	prov, err := switchboard.Providers.New(t.Context(), "mock", dec, switchboard.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ml, ok := prov.(switchboard.ModelLister)
	if !ok {
		t.Fatalf("%T is not a ModelLister", prov)
	}
	models, err := ml.Models(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []switchboard.Model{
		{ID: "mock-a", Object: "model", Created: ModelCreated, OwnedBy: "switchboard"},
		{ID: "mock-b", Object: "model", Created: ModelCreated, OwnedBy: "switchboard"},
	}
	if diff := cmp.Diff(want, models); diff != "" {
		t.Errorf("models mismatch (-want +got):\n%s", diff)
	}
	if err := prov.(switchboard.Pinger).Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}

	if _, err := switchboard.Providers.New(t.Context(), "mock", nil, switchboard.Deps{}); err != nil {
		t.Errorf("without a config block: %v", err)
	}
	bad := func(v any) error { v.(*Config).Latency = -time.Second; return nil }
	if _, err := switchboard.Providers.New(t.Context(), "mock", bad, switchboard.Deps{}); err == nil {
		t.Error("negative latency: got no error")
	}
	failing := func(any) error { return errors.New("line 3: unknown key") }
	if _, err := switchboard.Providers.New(t.Context(), "mock", failing, switchboard.Deps{}); err == nil {
		t.Error("decode failure: got no error")
	}
}

func TestDefaultModels(t *testing.T) {
	t.Parallel()
	models, err := mustProvider(t, Config{}).Models(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range models {
		ids = append(ids, m.ID)
	}
	if diff := cmp.Diff([]string{ModelEcho, ModelLorem, ModelTools}, ids); diff != "" {
		t.Errorf("model ids mismatch (-want +got):\n%s", diff)
	}
}

func TestProviderEmbed(t *testing.T) {
	t.Parallel()
	p := mustProvider(t, Config{})
	req, err := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"alias","input":["a b","c"],"dimensions":16}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Embed(t.Context(), "text-embedding-3-small", req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "text-embedding-3-small" || len(resp.Data) != 2 || len(resp.Data[1].Embedding) != 16 {
		t.Fatalf("got model %q and %d vectors, want text-embedding-3-small and 2 of 16 dims", resp.Model, len(resp.Data))
	}
	if diff := cmp.Diff(Vector("a b", 16), resp.Data[0].Embedding); diff != "" {
		t.Errorf("vector 0 is not Vector(\"a b\", 16) (-want +got):\n%s", diff)
	}
}
