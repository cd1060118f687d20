package sqlite

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// dsn is a parsed data source name. The accepted forms are a plain path
// (./data/switchboard.db), the same behind sqlite:// or sqlite:, a file: URI
// (file:data/x.db?cache=private) and :memory:. Any of them may carry the
// query parameters of modernc.org/sqlite (_pragma=…, _txlock=…); parameters
// the user sets win over the defaults this package adds.
type dsn struct {
	// base is what goes before '?': the path, or the file: URI as written.
	base string
	// path is the database file on disk; empty for an in-memory database.
	path   string
	memory bool
	query  url.Values
}

func parseDSN(s string) (dsn, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return dsn{}, errors.New("dsn is empty")
	}
	if rest, ok := strings.CutPrefix(s, "sqlite://"); ok {
		s = rest
	} else if rest, ok := strings.CutPrefix(s, "sqlite:"); ok {
		s = rest
	}
	base, rawQuery, _ := strings.Cut(s, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return dsn{}, fmt.Errorf("parse dsn query: %w", err)
	}
	d := dsn{base: base, path: base, query: q}
	if p, ok := strings.CutPrefix(base, "file:"); ok {
		if rest, ok := strings.CutPrefix(p, "//"); ok {
			// file://[authority]/path: the path starts at the next slash.
			i := strings.IndexByte(rest, '/')
			if i < 0 {
				return dsn{}, fmt.Errorf("file URI %q has no path", base)
			}
			p = rest[i:]
		}
		if d.path, err = url.PathUnescape(p); err != nil {
			return dsn{}, fmt.Errorf("parse file URI path: %w", err)
		}
	}
	if d.path == "" || d.path == ":memory:" || q.Get("mode") == "memory" {
		d.memory, d.path = true, ""
		if base == "" {
			d.base = ":memory:"
		}
	}
	return d, nil
}

// pragma is one connection setting: the PRAGMA name, its value, and the
// modernc.org/sqlite shorthand parameters that also set it.
type pragma struct {
	name, value string
	shorthands  []string
}

var (
	pragmaBusyTimeout = pragma{"busy_timeout", "5000", []string{"_busy_timeout", "_timeout"}}
	pragmaForeignKeys = pragma{"foreign_keys", "1", []string{"_foreign_keys", "_fk"}}
	pragmaJournalWAL  = pragma{"journal_mode", "WAL", []string{"_journal_mode", "_journal"}}
	pragmaSyncNormal  = pragma{"synchronous", "NORMAL", []string{"_synchronous", "_sync"}}
	pragmaQueryOnly   = pragma{"query_only", "1", []string{"_query_only"}}
)

// connString returns the string to open with modernc.org/sqlite: the user's
// DSN plus each of pragmas the user did not set, and _txlock=txlock unless
// txlock is empty or the user chose a mode.
func (d dsn) connString(txlock string, pragmas ...pragma) string {
	q := url.Values{}
	for k, v := range d.query {
		q[k] = append([]string(nil), v...)
	}
	for _, p := range pragmas {
		if !d.sets(p) {
			q.Add("_pragma", p.name+"("+p.value+")")
		}
	}
	if txlock != "" && !q.Has("_txlock") {
		q.Set("_txlock", txlock)
	}
	if len(q) == 0 {
		return d.base
	}
	return d.base + "?" + q.Encode()
}

// sets reports whether the user's DSN sets the pragma p.
func (d dsn) sets(p pragma) bool {
	for _, k := range p.shorthands {
		if d.query.Has(k) {
			return true
		}
	}
	for _, v := range d.query["_pragma"] {
		v = strings.ToLower(strings.TrimSpace(v))
		if rest, ok := strings.CutPrefix(v, p.name); ok {
			rest = strings.TrimSpace(rest)
			if rest == "" || rest[0] == '(' || rest[0] == '=' {
				return true
			}
		}
	}
	return false
}
