// Package sbtest holds what tests across Switchboard share: the conformance
// suites every backend passes (TestStore, …) and FakeUpstream, a scripted
// fake of the OpenAI and Anthropic APIs.
package sbtest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchboard-ai/switchboard/fakeupstream"
)

// FakeUpstream is a fake OpenAI and Anthropic API on a local httptest
// server, for tests of providers and of the gateway end to end. The embedded
// Server counts and records requests, notices disconnects and takes a Handle
// hook for one-off behaviours; requests script the rest with mock options
// (the body field "mock" or x-mock-* headers).
type FakeUpstream struct {
	*fakeupstream.Server
	// URL is the base URL, such as http://127.0.0.1:54321, without a trailing slash.
	URL string

	ts *httptest.Server
}

// NewFakeUpstream starts a FakeUpstream that tb's cleanup closes, cutting
// any stream still open (a test that stalls a stream need not end it).
func NewFakeUpstream(tb testing.TB, opts fakeupstream.Options) *FakeUpstream {
	tb.Helper()
	srv := fakeupstream.New(opts)
	ts := httptest.NewServer(srv)
	tb.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return &FakeUpstream{Server: srv, URL: ts.URL, ts: ts}
}

// OpenAIBaseURL returns the base URL an OpenAI client uses: URL + "/v1".
func (f *FakeUpstream) OpenAIBaseURL() string { return f.URL + "/v1" }

// AnthropicBaseURL returns the base URL an Anthropic client uses: URL
// (Anthropic clients add /v1 themselves).
func (f *FakeUpstream) AnthropicBaseURL() string { return f.URL }

// Client returns an HTTP client for the fake that the cleanup also closes.
func (f *FakeUpstream) Client() *http.Client { return f.ts.Client() }

// Kill stops the fake abruptly, as if its process died: open connections
// are cut and new ones are refused.
func (f *FakeUpstream) Kill() {
	f.ts.CloseClientConnections()
	f.ts.Listener.Close()
	f.ts.CloseClientConnections()
}
