package gemini

import "sync"

// maxSignatures bounds the thought signatures a Client keeps.
const maxSignatures = 4096

// signatures keeps the thought signatures Gemini attached to function calls,
// by tool call id, so that a later request replaying the call can send the
// signature back (Gemini 3 models reject a replayed call without one). It is
// per process and bounded: the oldest entries go first. A call whose
// signature is unknown (another replica, a restart) is sent with
// skipSignature instead.
type signatures struct {
	mu    sync.Mutex
	m     map[string]string
	order []string // ring of the ids in m, oldest at next
	next  int
}

func newSignatures(n int) *signatures {
	return &signatures{m: make(map[string]string), order: make([]string, 0, n)}
}

// put keeps sig for the tool call id.
func (s *signatures) put(id, sig string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cap(s.order) == 0 {
		return
	}
	if _, ok := s.m[id]; ok {
		s.m[id] = sig
		return
	}
	if len(s.order) < cap(s.order) {
		s.order = append(s.order, id)
	} else {
		delete(s.m, s.order[s.next])
		s.order[s.next] = id
		s.next = (s.next + 1) % len(s.order)
	}
	s.m[id] = sig
}

// get returns the signature kept for the tool call id.
func (s *signatures) get(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sig, ok := s.m[id]
	return sig, ok
}
