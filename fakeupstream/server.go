// Package fakeupstream is a faithful fake of the OpenAI and Anthropic HTTP
// APIs, answering with the deterministic mock models of package
// provider/mock. It backs `switchboard mock-upstream`, sbtest.FakeUpstream
// and the gateway benchmarks.
//
// Every request may carry mock options (the body field "mock" or x-mock-*
// headers, see mock.Options) to add latency, pace, stall or cut a stream,
// send malformed JSON or fail with a vendor-shaped error. The Server records
// what it received and notices clients that leave early, for tests.
package fakeupstream

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MaxRecorded is the number of recent requests a Server keeps.
const MaxRecorded = 100

// MaxBodySize bounds a request body; a larger one gets a 413.
const MaxBodySize = 32 << 20

// Options configure a Server. The zero value is a server that needs no key
// and answers at once.
type Options struct {
	// Log receives a debug line per request; nil discards.
	Log *slog.Logger
	// Latency is the wait before answering a request that sets no latency option.
	Latency time.Duration
	// RequireKey, when set, is the API key every request must carry, as
	// "Authorization: Bearer <key>" or "x-api-key: <key>"; others get a 401.
	RequireKey string
}

// Recorded is a request as the Server received it.
type Recorded struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path, without the query.
	Path string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the whole request body.
	Body []byte
}

// Server is the fake upstream, an http.Handler. Its methods are safe for
// concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	mu          sync.Mutex
	total       int
	perPath     map[string]int
	recent      []Recorded // ring of the last MaxRecorded requests
	next        int        // index in recent of the next record
	disconnects int
	waited      int           // disconnects already returned by WaitDisconnect
	changed     chan struct{} // closed and replaced on every disconnect
	hook        func(w http.ResponseWriter, r *http.Request) bool

	stopped  chan struct{} // closed when Serve shuts down, to end stalls
	stopOnce sync.Once
}

var _ http.Handler = (*Server)(nil)

// New returns a Server.
func New(opts Options) *Server {
	s := &Server{
		opts:    opts,
		log:     opts.Log,
		perPath: map[string]int{},
		changed: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/chat/completions", s.route(s.chat))
	mux.Handle("POST /v1/embeddings", s.route(s.embeddings))
	mux.Handle("GET /v1/models", s.route(s.models))
	mux.Handle("GET /v1/models/{model}", s.route(s.model))
	mux.Handle("POST /v1/messages", s.route(s.messages))
	mux.Handle("POST /v1/messages/count_tokens", s.route(s.countTokens))
	s.ollamaRoutes(mux)
	s.huggingfaceRoutes(mux)
	s.geminiRoutes(mux)
	s.azureRoutes(mux)
	mux.Handle("/", s.route(s.notFound))
	s.mux = mux
}

// call is the request body, read once and kept for the handlers; it also
// replaces r.Body so that a Handle hook can read the body as usual.
type call struct {
	body  []byte
	off   int
	start time.Time
}

// Read implements io.Reader.
func (c *call) Read(p []byte) (int, error) {
	if c.off >= len(c.body) {
		return 0, io.EOF
	}
	n := copy(p, c.body[c.off:])
	c.off += n
	return n, nil
}

// Close implements io.Closer.
func (c *call) Close() error { return nil }

// handler answers one route. It returns an error when it could not finish
// the response, typically because the client went away.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

func (s *Server) route(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := r.Body.(*call)
		if !ok { // not reached through ServeHTTP
			c = &call{start: time.Now()}
		}
		if err := h(w, r, c); err != nil {
			s.log.Debug("response not finished", "path", r.URL.Path, "err", err)
			if r.Context().Err() != nil {
				s.disconnected()
			}
		}
	})
}

// ServeHTTP implements http.Handler: it reads and records the request,
// gives the Handle hook its chance, checks the key and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{start: time.Now()}
	body, err := readBody(r)
	c.body = body
	s.record(r, body)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "bytes", len(body))
	}
	if err != nil {
		if errors.Is(err, errTooLarge) {
			s.writeError(w, r, c, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", MaxBodySize))
		} else {
			s.writeError(w, r, c, http.StatusBadRequest, "could not read the request body")
		}
		return
	}
	r.Body = c

	if hook := s.handleFunc(); hook != nil && hook(w, r) {
		if r.Context().Err() != nil {
			s.disconnected()
		}
		return
	}
	if s.opts.RequireKey != "" && !s.authorized(r) {
		s.writeUnauthorized(w, r, c)
		return
	}
	s.mux.ServeHTTP(w, r)
}

var errTooLarge = errors.New("fakeupstream: request body too large")

// readBody reads the whole body, pre-sized when the length is known.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if n := r.ContentLength; n >= 0 {
		if n > MaxBodySize {
			return nil, errTooLarge
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, fmt.Errorf("fakeupstream: read body: %w", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	if err != nil {
		return nil, fmt.Errorf("fakeupstream: read body: %w", err)
	}
	if len(b) > MaxBodySize {
		return nil, errTooLarge
	}
	return b, nil
}

func (s *Server) authorized(r *http.Request) bool {
	key := []byte(s.opts.RequireKey)
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(auth)), key) == 1 {
		return true
	}
	// Anthropic's x-api-key, Gemini's x-goog-api-key, Azure's api-key.
	for _, h := range []string{"X-Api-Key", "X-Goog-Api-Key", "Api-Key"} {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(h)), key) == 1 {
			return true
		}
	}
	return false
}

func (s *Server) record(r *http.Request, body []byte) {
	rec := Recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	s.perPath[r.URL.Path]++
	if len(s.recent) < MaxRecorded {
		s.recent = append(s.recent, rec)
	} else {
		s.recent[s.next] = rec
	}
	s.next = (s.next + 1) % MaxRecorded
}

func (s *Server) disconnected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disconnects++
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) handleFunc() func(http.ResponseWriter, *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hook
}

// Handle sets a hook that sees every request first (after it is recorded,
// before the key check); when it returns true it has answered the request
// itself. r.Body holds the request body. A hook that returns true after the
// client went away (r.Context() done) counts as a disconnect. Handle(nil)
// removes the hook.
func (s *Server) Handle(hook func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

// Requests returns the number of requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// RequestsTo returns the number of requests received for the URL path
// (for example "/v1/chat/completions").
func (s *Server) RequestsTo(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perPath[path]
}

// LastRequest returns the most recent request, or a zero Recorded if none
// came. Records share memory with the server: do not modify them.
func (s *Server) LastRequest() Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recent) == 0 {
		return Recorded{}
	}
	i := s.next - 1
	if i < 0 {
		i = len(s.recent) - 1
	}
	return s.recent[i]
}

// History returns the last MaxRecorded requests, oldest first.
func (s *Server) History() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recent) < MaxRecorded {
		return append([]Recorded(nil), s.recent...)
	}
	return append(append(make([]Recorded, 0, MaxRecorded), s.recent[s.next:]...), s.recent[:s.next]...)
}

// Disconnects returns the number of clients that went away before their
// response was complete.
func (s *Server) Disconnects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disconnects
}

// WaitDisconnect blocks until a client went away before its response was
// complete, counting only disconnects no earlier WaitDisconnect call has
// returned for. It returns ctx's error if ctx ends first.
func (s *Server) WaitDisconnect(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.disconnects > s.waited {
			s.waited++
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fakeupstream: wait for disconnect: %w", ctx.Err())
		}
	}
}

// Reset forgets the counters, the recorded requests and the disconnects.
// The Handle hook stays.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total, s.next, s.disconnects, s.waited = 0, 0, 0, 0
	s.perPath = map[string]int{}
	s.recent = nil
}
