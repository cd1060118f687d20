// Command switchboard is the Switchboard LLM gateway.
//
//	switchboard serve [--config FILE]... [--set key=value]...
//	switchboard config validate|print [--config FILE]... [--set key=value]...
//	switchboard cache stats|purge [--url URL] …
//	switchboard tenants create|list|delete …
//	switchboard keys create|list|revoke|generate …
//	switchboard usage [--by tenant,key,model,day] [--since 7d] [--format table|json|csv]
//	switchboard mock-upstream [--listen ADDR] [--latency DURATION]
//	switchboard version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-ai/switchboard/fakeupstream"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `Switchboard — one gateway between your applications and the models they call.

Usage:
  switchboard serve [--config FILE]... [--set key=value]...
        Start the gateway. With no config file: SQLite under ./data, the
        built-in mock provider, listening on 127.0.0.1:8080.
  switchboard config validate [--config FILE]... [--set key=value]...
        Load the configuration and build every provider and the store, then exit.
  switchboard config print [--config FILE]... [--set key=value]...
        Print the effective configuration with secrets masked.
  switchboard cache stats [--url URL] [--since 24h] [--format table|json]
  switchboard cache purge [--url URL] [--model M] [--tenant T] [--key K] [--all]
        Response-cache hit rates, savings and tier sizes; delete entries.
  switchboard tenants create NAME [--rpm N] [--tpm N] [--concurrency N] [--budget-daily USD] [--budget-monthly USD]
  switchboard tenants list|delete NAME
        Manage tenants created at run time (configured ones live in the file).
  switchboard keys create --tenant T [--name N] [--scopes inference,admin,read-only] [--models a,b]
                          [--rpm N] [--tpm N] [--concurrency N] [--budget-daily USD] [--expires 30d]
  switchboard keys list [--tenant T] | revoke KEY_ID | generate
        Create (shown once), list and revoke API keys, straight in the store.
  switchboard usage [--by tenant|key|model|day[,…]] [--since 7d] [--format table|json|csv]
        Requests, tokens and cost from the inference records.
  switchboard prompt list|show|render|promote|rollback|history|diff|stats|test …
        Prompts as versioned assets: labels, rollback, diffs and prompt tests
        (switchboard prompt, without arguments, lists the forms).
  switchboard experiment list|create|canary|report|stop|ship|rollback …
        A/B experiments and canaries with their statistics.
  switchboard mock-upstream [--listen ADDR] [--latency DURATION]
        Run a fake OpenAI, Anthropic, Gemini, Azure, Ollama and TGI API for
        demos, tests and benchmarks.
  switchboard version
        Print the version.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stderr)
	case "config":
		err = configCmd(args[1:], stdout, stderr)
	case "cache":
		err = cacheCmd(args[1:], stdout, stderr)
	case "keys":
		err = keysCmd(args[1:], stdout, stderr)
	case "tenants":
		err = tenantsCmd(args[1:], stdout, stderr)
	case "usage":
		err = usageCmd(args[1:], stdout, stderr)
	case "prompt", "prompts":
		err = promptCmd(args[1:], stdout, stderr)
	case "experiment", "experiments":
		err = experimentCmd(args[1:], stdout, stderr)
	case "mock-upstream":
		err = mockUpstream(args[1:], stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "switchboard", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "switchboard: %v\n", err)
		return 1
	}
	return 0
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func configFlags(name string, stderr io.Writer) (*flag.FlagSet, *multiFlag, *multiFlag) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	files, sets := new(multiFlag), new(multiFlag)
	fs.Var(files, "config", "configuration `file` (repeat to overlay, later files win)")
	fs.Var(sets, "set", "override one key, as path.to.key=value (repeatable)")
	return fs, files, sets
}

func serve(args []string, stderr io.Writer) error {
	fs, files, sets := configFlags("serve", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	m := NewMain(stderr)
	if err := m.Load(*files, *sets); err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		// The gateway allocates short-lived garbage per request and keeps a
		// small live heap: collecting at 200% growth instead of 100% halves
		// GC work for a few MiB of memory. GOGC in the environment wins.
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit keeps that laxer GC from letting the heap grow to
		// three times its live size under overload. GOMEMLIMIT wins.
		debug.SetMemoryLimit(384 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		_ = m.Close(context.Background())
		return err
	}
	<-ctx.Done()
	stop()
	m.Log.Info("shutting down", "grace", m.Config.Server.ShutdownGrace.String())
	cctx, cancel := context.WithTimeout(context.Background(), m.Config.Server.ShutdownGrace+time.Minute)
	defer cancel()
	return m.Close(cctx)
}

func configCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "validate" && args[0] != "print") {
		return fmt.Errorf("usage: switchboard config validate|print [--config FILE]... [--set key=value]...")
	}
	fs, files, sets := configFlags("config "+args[0], stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	m := newCLIMain(stderr)
	if err := m.Load(*files, *sets); err != nil {
		return err
	}
	if args[0] == "print" {
		return m.Config.Print(stdout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Build(ctx); err != nil {
		_ = m.Close(ctx)
		return err
	}
	if err := m.Close(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "configuration OK: %d providers, %d models\n", len(m.Config.Providers), len(m.engine.ModelsList()))
	return nil
}

func mockUpstream(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mock-upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on")
	latency := fs.Duration("latency", 0, "latency added to every response (per-request: x-mock-latency header or body field mock.latency)")
	key := fs.String("require-key", "", "answer 401 unless requests carry this API key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return fakeupstream.Run(ctx, *listen, fakeupstream.Options{Log: newLogger(stderr, "info", "text"), Latency: *latency, RequireKey: *key})
}
