package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/sbtest"
)

// testURL returns the PostgreSQL URL of the tests, or skips the test.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("SWITCHBOARD_TEST_POSTGRES_URL")
	if u == "" {
		tb.Skip("SWITCHBOARD_TEST_POSTGRES_URL not set: skipping PostgreSQL tests")
	}
	return u
}

// testSchema creates an empty schema sbtest_<random>, dropped in cleanup, and
// returns a DSN whose search_path is that schema.
func testSchema(tb testing.TB) string {
	tb.Helper()
	base := testURL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "sbtest_" + hex.EncodeToString(b[:])
	exec := func(sql string) {
		tb.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Fatalf("connect to SWITCHBOARD_TEST_POSTGRES_URL: %v", err)
		}
		defer func() { _ = conn.Close(ctx) }()
		if _, err := conn.Exec(ctx, sql); err != nil {
			tb.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	tb.Cleanup(func() { exec("DROP SCHEMA " + schema + " CASCADE") })
	return withSearchPath(tb, base, schema)
}

func withSearchPath(tb testing.TB, dsn, schema string) string {
	tb.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse SWITCHBOARD_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func mustNew(tb testing.TB, dsn string) *Store {
	tb.Helper()
	s, err := New(context.Background(), dsn, nil)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	testURL(t)
	sbtest.TestStore(t, func(t *testing.T) switchboard.Store {
		return mustNew(t, testSchema(t))
	})
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
	dsn := testSchema(t)
	doc, _ := json.Marshal(map[string]string{"dsn": dsn})
	var logs bytes.Buffer
	st, err := switchboard.Stores.New(t.Context(), "postgres", jsonDecoder(string(doc)), switchboard.Deps{Log: slogTo(&logs)})
	if err != nil {
		t.Fatalf("Stores.New: %v", err)
	}
	defer func() { _ = st.Close() }()
	if _, ok := st.(*Store); !ok {
		t.Errorf("Stores.New returned %T, want *postgres.Store", st)
	}
	if err := st.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	all, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "store.postgres") || !strings.Contains(logs.String(), "migrations_applied="+strconv.Itoa(len(all))) {
		t.Errorf("log lacks the plugin ID or the migration count:\n%s", logs.String())
	}
}

// TestFactoryErrors needs no database.
func TestFactoryErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, doc string }{
		{"empty dsn", `{"dsn": ""}`},
		{"no dsn", `{}`},
		{"unknown key", `{"dsn": "postgres://localhost/x", "url": "y"}`},
		{"bad dsn", `{"dsn": "postgres://user:hunter2@localhost:notaport/db"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := switchboard.Stores.New(t.Context(), "postgres", jsonDecoder(tc.doc), switchboard.Deps{})
			if err == nil {
				_ = st.Close()
				t.Fatalf("Stores.New(%s): got nil error, want one", tc.doc)
			}
			if st != nil {
				t.Errorf("Stores.New(%s) returned %#v with an error, want nil", tc.doc, st)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestConnectError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback refuses connections.
	s, err := New(ctx, "postgres://user:hunter2@127.0.0.1:1/db?connect_timeout=2", nil)
	if err == nil {
		_ = s.Close()
		t.Fatal("New with an unreachable server: got nil error, want one")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
}

// TestConcurrentMigrations starts several replicas on one empty schema at
// once: each migration must be applied exactly once, and all must start.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	dsn := testSchema(t)
	const replicas = 6
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		stores []*Store
		errs   []error
	)
	for range replicas {
		wg.Go(func() {
			s, err := New(context.Background(), dsn, nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			stores = append(stores, s)
		})
	}
	wg.Wait()
	for _, s := range stores {
		t.Cleanup(func() { _ = s.Close() })
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent New: %v", err)
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	var want, got []int64
	for _, m := range ms {
		want = append(want, int64(m.version))
	}
	rows, err := stores[0].pool.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	got, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schema_migrations (-want +got):\n%s", diff)
	}

	// And a restart applies nothing.
	var logs bytes.Buffer
	s, err := New(t.Context(), dsn, slogTo(&logs))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if !strings.Contains(logs.String(), "migrations_applied=0") {
		t.Errorf("restart applied migrations again:\n%s", logs.String())
	}
}

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	ms, err := loadMigrations(fstest.MapFS{
		"migrations/0002_b.sql": {Data: []byte("B")},
		"migrations/0001_a.sql": {Data: []byte("A")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].version != 1 || ms[1].version != 2 || ms[0].sql != "A" {
		t.Errorf("loadMigrations: got %+v, want versions 1, 2 in order", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no number": {"migrations/init.sql": {}},
		"duplicate": {"migrations/0001_a.sql": {}, "migrations/01_b.sql": {}},
	} {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: got nil error, want one", name)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain":        "plain",
		"ünï 🚀":        "ünï 🚀",
		"a\x00b\x00":   "ab",
		"bad \xff\xfe": "bad \uFFFD",
	} {
		if got := text(in); got != want {
			t.Errorf("text(%q): got %q, want %q", in, got, want)
		}
	}
	if got := int4(1 << 40); got != 1<<31-1 {
		t.Errorf("int4(1<<40): got %d, want %d", got, 1<<31-1)
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
