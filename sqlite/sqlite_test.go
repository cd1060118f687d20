package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/sbtest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	t.Run("File", func(t *testing.T) {
		t.Parallel()
		sbtest.TestStore(t, func(t *testing.T) switchboard.Store {
			return mustNew(t, filepath.Join(t.TempDir(), "switchboard.db"))
		})
	})
	t.Run("Memory", func(t *testing.T) {
		t.Parallel()
		sbtest.TestStore(t, func(t *testing.T) switchboard.Store {
			return mustNew(t, ":memory:")
		})
	})
}

func mustNew(tb testing.TB, dsn string) *Store {
	tb.Helper()
	s, err := New(context.Background(), dsn, nil)
	if err != nil {
		tb.Fatalf("New(%q): %v", dsn, err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// jsonDecoder stands in for the config package's Decoder: it strictly
// decodes a JSON document into v.
func jsonDecoder(doc string) switchboard.Decoder {
	return func(v any) error {
		d := json.NewDecoder(strings.NewReader(doc))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
}

func TestFactory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "dir", "x.db")
	doc, _ := json.Marshal(map[string]string{"dsn": "sqlite://" + path})
	var logs bytes.Buffer
	deps := switchboard.Deps{Log: slogTo(&logs)}
	st, err := switchboard.Stores.New(t.Context(), "sqlite", jsonDecoder(string(doc)), deps)
	if err != nil {
		t.Fatalf("Stores.New: %v", err)
	}
	defer func() { _ = st.Close() }()
	if _, ok := st.(*Store); !ok {
		t.Errorf("Stores.New returned %T, want *sqlite.Store", st)
	}
	if err := st.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
	if !strings.Contains(logs.String(), "store.sqlite") {
		t.Errorf("log lacks the plugin ID store.sqlite:\n%s", logs.String())
	}

	for _, tc := range []struct{ name, doc string }{
		{"empty dsn", `{"dsn": ""}`},
		{"no dsn", `{}`},
		{"unknown key", `{"dsn": "x.db", "path": "y.db"}`},
		{"bad query", `{"dsn": "x.db?a=%zz"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := switchboard.Stores.New(t.Context(), "sqlite", jsonDecoder(tc.doc), switchboard.Deps{})
			if err == nil {
				_ = st.Close()
				t.Fatalf("Stores.New(%s): got nil error, want one", tc.doc)
			}
			if st != nil {
				t.Errorf("Stores.New(%s) returned %#v with an error, want nil", tc.doc, st)
			}
		})
	}
}

func TestParseDSN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		base, path string
		memory     bool
		wantErr    bool
	}{
		{in: "./data/switchboard.db", base: "./data/switchboard.db", path: "./data/switchboard.db"},
		{in: "sqlite://./data/x.db", base: "./data/x.db", path: "./data/x.db"},
		{in: "sqlite:///var/lib/sb/x.db", base: "/var/lib/sb/x.db", path: "/var/lib/sb/x.db"},
		{in: "sqlite:data/x.db", base: "data/x.db", path: "data/x.db"},
		{in: "data/x.db?_pragma=cache_size(-2000)", base: "data/x.db", path: "data/x.db"},
		{in: "file:x.db?cache=private", base: "file:x.db", path: "x.db"},
		{in: "file:///tmp/my%20db.sqlite", base: "file:///tmp/my%20db.sqlite", path: "/tmp/my db.sqlite"},
		{in: "file://localhost/tmp/x.db", base: "file://localhost/tmp/x.db", path: "/tmp/x.db"},
		{in: ":memory:", base: ":memory:", memory: true},
		{in: "sqlite://:memory:", base: ":memory:", memory: true},
		{in: "file::memory:?cache=shared", base: "file::memory:", memory: true},
		{in: "file:mem1?mode=memory&cache=shared", base: "file:mem1", memory: true},
		{in: "", wantErr: true},
		{in: "file://host", wantErr: true},
		{in: "x.db?a=%zz", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d, err := parseDSN(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseDSN(%q): got error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if d.base != tc.base || d.path != tc.path || d.memory != tc.memory {
				t.Errorf("parseDSN(%q): got base %q path %q memory %v, want %q %q %v",
					tc.in, d.base, d.path, d.memory, tc.base, tc.path, tc.memory)
			}
		})
	}
}

func TestConnString(t *testing.T) {
	t.Parallel()
	d, err := parseDSN("x.db?_pragma=busy_timeout(1)&_sync=FULL&_txlock=deferred")
	if err != nil {
		t.Fatal(err)
	}
	got := d.connString("immediate", pragmaBusyTimeout, pragmaSyncNormal, pragmaForeignKeys)
	want := "x.db?_pragma=busy_timeout%281%29&_pragma=foreign_keys%281%29&_sync=FULL&_txlock=deferred"
	if got != want {
		t.Errorf("connString: got %q, want %q", got, want)
	}
	if got := mustParse(t, ":memory:").connString(""); got != ":memory:" {
		t.Errorf("connString without parameters: got %q, want %q", got, ":memory:")
	}
}

func mustParse(tb testing.TB, s string) dsn {
	tb.Helper()
	d, err := parseDSN(s)
	if err != nil {
		tb.Fatalf("parseDSN(%q): %v", s, err)
	}
	return d
}

// TestPragmas checks the connection settings of both pools, and that the
// user's DSN parameters win over the defaults.
func TestPragmas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustNew(t, filepath.Join(dir, "a.db"))
	want := map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "synchronous": "1", "foreign_keys": "1"}
	if diff := cmp.Diff(want, pragmas(t, s.w, want)); diff != "" {
		t.Errorf("writer pragmas (-want +got):\n%s", diff)
	}
	wantR := map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "query_only": "1"}
	if diff := cmp.Diff(wantR, pragmas(t, s.r, wantR)); diff != "" {
		t.Errorf("reader pragmas (-want +got):\n%s", diff)
	}
	if _, err := s.r.ExecContext(t.Context(), `DELETE FROM inferences`); err == nil {
		t.Error("a write through the read pool succeeded, want an error")
	}

	u := mustNew(t, "file:"+filepath.Join(dir, "b.db")+"?_pragma=busy_timeout(1234)&_pragma=synchronous(FULL)")
	wantU := map[string]string{"busy_timeout": "1234", "synchronous": "2"}
	if diff := cmp.Diff(wantU, pragmas(t, u.w, wantU)); diff != "" {
		t.Errorf("pragmas with user overrides (-want +got):\n%s", diff)
	}
}

func pragmas(tb testing.TB, db *sql.DB, names map[string]string) map[string]string {
	tb.Helper()
	got := map[string]string{}
	for name := range names {
		var v string
		if err := db.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v); err != nil {
			tb.Fatalf("PRAGMA %s: %v", name, err)
		}
		got[name] = strings.ToLower(v)
	}
	return got
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	var logs bytes.Buffer
	for i := range 3 {
		s, err := New(t.Context(), path, slogTo(&logs))
		if err != nil {
			t.Fatalf("New #%d: %v", i, err)
		}
		if i == 0 {
			mustInsert(t, s, switchboard.Inference{ID: "kept", Time: time.Now(), Model: "m"})
		}
		var versions []int
		rows, err := s.r.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			versions = append(versions, v)
		}
		_ = rows.Close()
		ms, err := loadMigrations(migrationFiles)
		if err != nil {
			t.Fatal(err)
		}
		if len(versions) != len(ms) {
			t.Errorf("open #%d: schema_migrations has %v, want %d versions", i, versions, len(ms))
		}
		if n, err := s.CountInferences(t.Context(), switchboard.InferenceFilter{}); err != nil || n != 1 {
			t.Errorf("open #%d: count got %d, %v; want 1, nil", i, n, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(logs.String(), "migrations_applied=0"); got != 2 {
		t.Errorf("reopening applied migrations again:\n%s", logs.String())
	}
}

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	ok := fstest.MapFS{
		"migrations/0002_b.sql": {Data: []byte("B")},
		"migrations/0001_a.sql": {Data: []byte("A")},
		"migrations/0010_c.sql": {Data: []byte("C")},
	}
	ms, err := loadMigrations(ok)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, m := range ms {
		got = append(got, m.version)
	}
	if diff := cmp.Diff([]int{1, 2, 10}, got); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no number": {"migrations/init.sql": {}},
		"zero":      {"migrations/0000_x.sql": {}},
		"duplicate": {"migrations/0001_a.sql": {}, "migrations/001_b.sql": {}},
	} {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: got nil error, want one", name)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("not a database, not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dsn := range []string{
		filepath.Join(file, "x.db"), // parent is a file
		file,                        // not a database
		filepath.Join(dir, "x.db") + "?_txlock=sometimes",
	} {
		if s, err := New(t.Context(), dsn, nil); err == nil {
			_ = s.Close()
			t.Errorf("New(%q): got nil error, want one", dsn)
		}
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	s := mustNew(t, ":memory:")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, switchboard.ErrClosed) {
		t.Errorf("Ping after Close: got %v, want ErrClosed", err)
	}
}

func TestTimeEncoding(t *testing.T) {
	t.Parallel()
	for _, tm := range []time.Time{
		{},
		time.Unix(0, 1).UTC(),
		time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC),
		time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got := fromUnixNano(unixNano(tm)); !got.Equal(tm) {
			t.Errorf("round trip of %v: got %v", tm, got)
		}
	}
	if got := unixNano(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); got <= 0 {
		t.Errorf("unixNano(year 9999): got %d, want saturation at the maximum", got)
	}
	if got := unixNano(time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)); got >= 0 {
		t.Errorf("unixNano(year 1): got %d, want saturation at the minimum", got)
	}
}

func mustInsert(tb testing.TB, s *Store, recs ...switchboard.Inference) {
	tb.Helper()
	if err := s.InsertInferences(context.Background(), recs); err != nil {
		tb.Fatalf("InsertInferences: %v", err)
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
