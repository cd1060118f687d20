package fakeupstream_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/switchboard-ai/switchboard/fakeupstream"
)

// newServer starts a fake on an httptest server closed at cleanup.
func newServer(tb testing.TB, opts fakeupstream.Options) (*fakeupstream.Server, string) {
	tb.Helper()
	s := fakeupstream.New(opts)
	ts := httptest.NewServer(s)
	tb.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return s, ts.URL
}

// mustDo sends a request and returns the response with its body read.
func mustDo(tb testing.TB, ctx context.Context, method, url, body string, header map[string]string) (*http.Response, []byte) {
	tb.Helper()
	resp := mustStart(tb, ctx, method, url, body, header)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, b
}

// mustStart sends a request and returns the response, body unread.
func mustStart(tb testing.TB, ctx context.Context, method, url, body string, header map[string]string) *http.Response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

var anthropicHeaders = map[string]string{"anthropic-version": "2023-06-01"}

var (
	idRE      = regexp.MustCompile(`"(chatcmpl-|call_|msg_|toolu_|req_)[0-9a-f]{24}"`)
	createdRE = regexp.MustCompile(`"created":\d+`)
)

// normalise replaces the random ids and timestamps of a body with fixed ones.
func normalise(b []byte) []byte {
	b = idRE.ReplaceAllFunc(b, func(m []byte) []byte {
		prefix := m[1 : bytes.IndexAny(m[1:], "-_")+2]
		return append(append([]byte{'"'}, prefix...), `ID"`...)
	})
	return createdRE.ReplaceAll(b, []byte(`"created":0`))
}

// float32frombytes decodes a little-endian float32.
func float32frombytes(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
