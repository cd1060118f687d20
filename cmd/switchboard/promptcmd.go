package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/httpapi"
	"github.com/switchboard-ai/switchboard/prompt"
)

// buildPrompts opens the prompt registry over the store and keeps it in
// step with its files and the other replicas until base ends.
func (m *Main) buildPrompts(ctx, base context.Context) error {
	dir := promptsDir(m.Config.Prompts.Dir)
	reg, err := prompt.New(ctx, prompt.Options{Dir: dir, Store: m.store, Log: m.Log, Interval: m.Config.Prompts.Poll})
	if err != nil {
		return fmt.Errorf("prompts: %w", err)
	}
	m.prompts = reg
	go reg.Run(base)
	if n := len(reg.List()); n > 0 || dir != "" {
		m.Log.Info("prompt registry loaded", "prompts", n, "dir", dir)
	}
	return nil
}

// openPrompts loads the configuration, the store and the registry, without
// serving: the CLI changes prompts through the same code as the admin API.
func openPrompts(ctx context.Context, files, sets []string, stderr io.Writer) (*Main, *prompt.Registry, error) {
	m := newCLIMain(stderr)
	if err := m.Load(files, sets); err != nil {
		return nil, nil, err
	}
	store, err := switchboard.Stores.New(ctx, m.Config.Storage.Driver, m.Config.Storage.Decoder(), switchboard.Deps{Log: m.Log})
	if err != nil {
		return nil, nil, fmt.Errorf("storage: %w", err)
	}
	m.store = store
	dir := promptsDir(m.Config.Prompts.Dir)
	reg, err := prompt.New(ctx, prompt.Options{Dir: dir, Store: store, Log: m.Log})
	if err != nil && dir != "" {
		// A bad file must not lock operators out during an incident: work
		// on what the store holds, and say why the files were left out.
		fmt.Fprintf(stderr, "warning: the prompt files were not loaded, working on the store only:\n%v\n", err)
		reg, err = prompt.New(ctx, prompt.Options{Store: store, Log: m.Log})
	}
	if err != nil {
		_ = store.Close()
		return nil, nil, err
	}
	return m, reg, nil
}

const promptUsage = `usage: switchboard prompt list [--format table|json]
       switchboard prompt show ID [--version V | --label L]
       switchboard prompt render ID [--version V | --label L] [--vars JSON | --vars-file FILE]
       switchboard prompt promote ID LABEL VERSION [--reason TEXT]
       switchboard prompt rollback ID LABEL [--to VERSION] [--reason TEXT]
       switchboard prompt history ID LABEL
       switchboard prompt diff ID FROM TO
       switchboard prompt stats ID [--since 7d] [--until 1h] [--by version|label] [--format table|json]
       switchboard prompt test [ID…] [--version V | --label L] [--model M] [--judge-model M] [--junit FILE] [--format table|json]
  (each also takes --config FILE and --set key=value; the prompt files are prompts.dir)`

// promptCmd runs `switchboard prompt …`.
func promptCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", promptUsage)
	}
	verb := args[0]
	fs, files, sets := configFlags("prompt "+verb, stderr)
	version := fs.String("version", "", "the version (display version, sequence number or hash prefix)")
	label := fs.String("label", "", "the label (production, staging, …)")
	vars := fs.String("vars", "", "render: the variables as a JSON object")
	varsFile := fs.String("vars-file", "", "render: a file holding the variables as a JSON object")
	reason := fs.String("reason", "", "promote/rollback: why (kept in the history and the audit log)")
	to := fs.String("to", "", "rollback: the version to go back to (default: the one before the last change)")
	model := fs.String("model", "", "test: run every test against this model")
	judge := fs.String("judge-model", "", "test: the model of llm_judge assertions that name none")
	junit := fs.String("junit", "", "test: also write JUnit XML to this file")
	format := fs.String("format", "table", "table or json")
	since := fs.String("since", "7d", "stats: the window, as a duration (24h, 7d) or an RFC 3339 time")
	until := fs.String("until", "", "stats: the end of the window (default now), as for --since")
	by := fs.String("by", "version", "stats: version or label")
	switch verb {
	case "list", "show", "render", "promote", "rollback", "history", "diff", "test", "stats":
	default:
		return fmt.Errorf("%s", promptUsage)
	}
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	need := map[string]int{"list": 0, "show": 1, "render": 1, "promote": 3, "rollback": 2, "history": 2, "diff": 3, "stats": 1}
	if n, ok := need[verb]; ok && len(rest) != n {
		return fmt.Errorf("%s", promptUsage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if verb == "test" {
		return promptTest(ctx, *files, *sets, prompt.TestOptions{Prompts: rest, Version: *version, Label: *label, Model: *model, JudgeModel: *judge},
			*junit, *format, stdout, stderr)
	}
	m, reg, err := openPrompts(ctx, *files, *sets, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = m.store.Close() }()
	switch verb {
	case "list":
		ps := reg.List()
		if *format == "json" {
			return printJSON(stdout, ps)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tVERSIONS\tLATEST\tLABELS\tFILE")
		for _, p := range ps {
			latest := ""
			if n := len(p.Versions); n > 0 {
				latest = p.Versions[n-1].Version
			}
			var ls []string
			for l, v := range p.Labels {
				ls = append(ls, l+"="+v)
			}
			slices.Sort(ls)
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", p.ID, len(p.Versions), latest, strings.Join(ls, ","), p.File)
		}
		return tw.Flush()
	case "show":
		v, err := reg.Resolve(prompt.Ref{ID: rest[0], Version: *version, Label: *label})
		if err != nil {
			return cliError(err)
		}
		return printJSON(stdout, v)
	case "render":
		raw := *vars
		if *varsFile != "" {
			b, err := os.ReadFile(*varsFile)
			if err != nil {
				return err
			}
			raw = string(b)
		}
		q := &prompt.Request{ID: rest[0], Version: *version, Label: *label}
		if raw != "" {
			if err := json.Unmarshal([]byte(raw), &q.Variables); err != nil {
				return fmt.Errorf("--vars: not a JSON object: %v", err)
			}
		}
		rd, err := reg.Render(q)
		if err != nil {
			return cliError(err)
		}
		return printJSON(stdout, rd)
	case "promote", "rollback":
		if err := labelFree(ctx, m, reg, rest[0], rest[1]); err != nil {
			return err
		}
	}
	switch verb {
	case "promote":
		h, err := reg.Promote(ctx, prompt.Change{ID: rest[0], Label: rest[1], Version: rest[2], Reason: *reason, Actor: "cli"})
		if err != nil {
			return cliError(err)
		}
		if h == nil {
			fmt.Fprintf(stdout, "%s/%s already points at %s\n", rest[0], rest[1], rest[2])
			return nil
		}
		fmt.Fprintf(stdout, "%s/%s: %s → %s\n", rest[0], rest[1], orDash(h.PreviousVersion), h.Version)
		return nil
	case "rollback":
		h, err := reg.Rollback(ctx, prompt.Change{ID: rest[0], Label: rest[1], Version: *to, Reason: *reason, Actor: "cli"})
		if err != nil {
			return cliError(err)
		}
		if h == nil {
			fmt.Fprintf(stdout, "%s/%s already points at %s\n", rest[0], rest[1], *to)
			return nil
		}
		fmt.Fprintf(stdout, "%s/%s rolled back: %s → %s\n", rest[0], rest[1], orDash(h.PreviousVersion), h.Version)
		return nil
	case "history":
		hs, err := reg.History(ctx, rest[0], rest[1])
		if err != nil {
			return cliError(err)
		}
		if *format == "json" {
			return printJSON(stdout, hs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tACTION\tFROM\tTO\tACTOR\tREASON")
		for _, h := range hs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Time.UTC().Format(time.RFC3339), h.Action, orDash(h.PreviousVersion), h.Version, h.Actor, h.Reason)
		}
		return tw.Flush()
	case "diff":
		d, err := reg.Diff(rest[0], rest[1], rest[2])
		if err != nil {
			return cliError(err)
		}
		if *format == "json" {
			return printJSON(stdout, d)
		}
		if len(d.Changed) == 0 {
			fmt.Fprintf(stdout, "%s: %s and %s have the same content\n", d.ID, rest[1], rest[2])
			return nil
		}
		fmt.Fprintf(stdout, "changed: %s\n%s", strings.Join(d.Changed, ", "), d.Unified)
		return nil
	}
	if verb == "stats" {
		return promptStats(ctx, m, reg, rest[0], *since, *until, *by, *format, stdout)
	}
	return nil
}

// promptTest runs the tests of the prompt files against the configured
// models, called in-process. The files are loaded into memory only: a test
// run never writes versions or labels to the database.
func promptTest(ctx context.Context, files, sets []string, opts prompt.TestOptions, junit, format string, stdout, stderr io.Writer) error {
	m := newCLIMain(stderr)
	if err := m.Load(files, sets); err != nil {
		return err
	}
	defer func() { _ = m.Close(context.WithoutCancel(ctx)) }()
	dir := promptsDir(m.Config.Prompts.Dir)
	if dir == "" {
		return fmt.Errorf("no prompt files: set prompts.dir (or create ./prompts)")
	}
	reg, err := prompt.New(ctx, prompt.Options{Dir: dir, Log: m.Log})
	if err != nil {
		return err
	}
	if err := m.Build(ctx); err != nil {
		return err
	}
	rep, err := reg.RunTests(ctx, m.engine, opts)
	if err != nil {
		return cliError(err)
	}
	if junit != "" {
		f, err := os.Create(junit)
		if err != nil {
			return err
		}
		werr := rep.WriteJUnit(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return werr
		}
	}
	if format == "json" {
		err = printJSON(stdout, rep)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return errPromptTests
	}
	return nil
}

var errPromptTests = errors.New("prompt tests failed")

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// promptStats prints calls, errors, latency, tokens, cost and feedback
// means per version (or label) of a prompt.
func promptStats(ctx context.Context, m *Main, reg *prompt.Registry, id, since, until, by, format string, stdout io.Writer) error {
	from, err := httpapi.ParseSince(since, time.Now())
	if err != nil {
		return cliError(err)
	}
	var to time.Time
	if until != "" {
		if to, err = httpapi.ParseSince(until, time.Now()); err != nil {
			return fmt.Errorf("--until: %v", err)
		}
	}
	if by != "version" && by != "label" {
		return fmt.Errorf("--by must be version or label, got %q", by)
	}
	svc := newExperimentService(m, reg)
	rows, err := svc.VersionStats(ctx, switchboard.VersionStatsFilter{Prompt: id, Since: from, Until: to, ByLabel: by == "label"})
	if err != nil {
		return cliError(err)
	}
	if format == "json" {
		return printJSON(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tLABEL\tCALLS\tERRORS\tP50\tP95\tIN TOKENS\tOUT TOKENS\tCOST USD\tFEEDBACK (mean, n)")
	for _, r := range rows {
		var fb []string
		for _, f := range r.Feedback {
			fb = append(fb, fmt.Sprintf("%s=%.3g (%d)", f.Metric, f.Mean, f.N))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d\t%d\t%.6f\t%s\n", r.Version, orDash(r.Label), r.Calls, r.Errors,
			r.LatencyP50.Round(time.Microsecond), r.LatencyP95.Round(time.Microsecond), r.InputTokens, r.OutputTokens, r.CostUSD, strings.Join(fb, " "))
	}
	return tw.Flush()
}

// labelFree refuses to move a label a running experiment splits (as the
// admin API does).
func labelFree(ctx context.Context, m *Main, reg *prompt.Registry, id, label string) error {
	es, err := newExperimentService(m, reg).List(ctx, switchboard.ExperimentFilter{Status: switchboard.ExperimentRunning, Prompt: id, Label: label})
	if err != nil {
		return err
	}
	if len(es) > 0 {
		return fmt.Errorf("experiment %q splits %s/%s: stop, ship or roll it back first (switchboard experiment stop %s)", es[0].Name, id, label, es[0].Name)
	}
	return nil
}

// promptsDir is prompts.dir, or with none configured the first that exists
// of ./prompts and ./config/prompt_templates.yaml (the seed layout).
func promptsDir(configured string) string {
	if configured != "" {
		return configured
	}
	if fi, err := os.Stat("prompts"); err == nil && fi.IsDir() {
		return "prompts"
	}
	if fi, err := os.Stat(filepath.Join("config", "prompt_templates.yaml")); err == nil && !fi.IsDir() {
		return filepath.Join("config", "prompt_templates.yaml")
	}
	return ""
}
