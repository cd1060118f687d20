package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/config"
	"github.com/switchboard-ai/switchboard/experiment"
	"github.com/switchboard-ai/switchboard/prompt"
)

// labeler moves prompt labels for the experiment service.
type labeler struct{ reg *prompt.Registry }

func (l labeler) Promote(ctx context.Context, id, label, version, actor, reason string) error {
	_, err := l.reg.Promote(ctx, prompt.Change{ID: id, Label: label, Version: version, Actor: actor, Reason: reason})
	return err
}

func (l labeler) Rollback(ctx context.Context, id, label, version, actor, reason string) error {
	_, err := l.reg.Rollback(ctx, prompt.Change{ID: id, Label: label, Version: version, Actor: actor, Reason: reason})
	return err
}

// newExperimentService builds the experiment service over the store, with
// the prompt registry to move labels and check versions.
func newExperimentService(m *Main, reg *prompt.Registry) *experiment.Service {
	var ns []experiment.Notifier
	client := &http.Client{Timeout: 10 * time.Second}
	for _, n := range m.Config.Experiments.Notifiers {
		ns = append(ns, newExperimentNotifier(m, n, client))
	}
	if len(ns) == 0 {
		ns = append(ns, experiment.NewLogNotifier(m.Log))
	}
	return experiment.NewService(m.store, experiment.Options{
		Auditor: m.store, Labeler: labeler{reg}, Notifiers: ns, Log: m.Log, Inferences: m.store,
		CheckVersion: func(ctx context.Context, id, version string) error {
			_, err := reg.Resolve(prompt.Ref{ID: id, Version: version})
			return err
		},
	})
}

func newExperimentNotifier(m *Main, n config.Notifier, client *http.Client) experiment.Notifier {
	switch n.Type {
	case "webhook":
		return experiment.NewWebhook(n.URL.Reveal(), revealAll(n.Headers), client)
	case "slack":
		return experiment.NewSlack(n.URL.Reveal(), client)
	}
	return experiment.NewLogNotifier(m.Log)
}

// buildExperiments starts the experiment service: the resolver every
// request consults, reloaded every experiments.refresh, and the monitor
// that carries out decisions every experiments.interval.
func (m *Main) buildExperiments(ctx, base context.Context) error {
	svc := newExperimentService(m, m.prompts)
	if err := svc.Resolver().Refresh(ctx); err != nil {
		return err
	}
	m.experiments = svc
	m.monitor = experiment.NewMonitor(svc, m.Config.Experiments.Interval)
	m.monitor.Start()
	go func() {
		t := time.NewTicker(m.Config.Experiments.Refresh)
		defer t.Stop()
		for {
			select {
			case <-base.Done():
				return
			case <-t.C:
				if err := svc.Resolver().Refresh(base); err != nil && base.Err() == nil {
					m.Log.Warn("experiment resolver refresh failed", switchboard.LogKeyErr, err)
				}
			}
		}
	}()
	return nil
}

const experimentUsage = `usage: switchboard experiment list [--status running|stopped|shipped|rolled_back] [--format table|json]
       switchboard experiment create --file SPEC.json
       switchboard experiment canary PROMPT VERSION [--label production] [--percent 10] [--planned-units 1000] [--name N]
                                    [--guards error,latency,cost,output_tokens] [--alpha 0.05] [--min-samples 100]
       switchboard experiment report NAME [--format table|json|html]
       switchboard experiment stop NAME [--reason TEXT]
       switchboard experiment ship NAME VARIANT [--reason TEXT]
       switchboard experiment rollback NAME [--reason TEXT]
  (each also takes --config FILE and --set key=value)`

// experimentCmd runs `switchboard experiment …` through the same service as
// the admin API.
func experimentCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", experimentUsage)
	}
	verb := args[0]
	fs, files, sets := configFlags("experiment "+verb, stderr)
	status := fs.String("status", "", "list: only experiments with this status")
	file := fs.String("file", "", "create: the experiment spec (JSON; docs/experiments.md)")
	reason := fs.String("reason", "", "why (kept in the audit log)")
	label := fs.String("label", prompt.DefaultLabel, "canary: the label whose traffic is split")
	percent := fs.Float64("percent", 10, "canary: the share of the label's traffic the new version gets")
	planned := fs.Int64("planned-units", 1000, "canary: units to expose before promoting a canary that is not worse")
	name := fs.String("name", "", "canary: the experiment's name (default PROMPT-LABEL-canary-TIME)")
	format := fs.String("format", "table", "table or json (report: also html)")
	guards := fs.String("guards", "", "canary: comma-separated guard metrics among error, latency, cost, output_tokens (default error,latency); feedback guards need a spec file (experiment create)")
	alpha := fs.Float64("alpha", 0, "canary: the false-rollback budget (default 0.05)")
	minSamples := fs.Int("min-samples", 0, "canary: units per arm before a guard can act (default 100)")
	need := map[string]int{"list": 0, "create": 0, "canary": 2, "report": 1, "stop": 1, "ship": 2, "rollback": 1}
	n, ok := need[verb]
	if !ok {
		return fmt.Errorf("%s", experimentUsage)
	}
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) != n {
		return fmt.Errorf("%s", experimentUsage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, reg, err := openPrompts(ctx, *files, *sets, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = m.store.Close() }()
	svc := newExperimentService(m, reg)
	show := func(e switchboard.Experiment) error {
		if *format == "json" {
			return printJSON(stdout, e)
		}
		fmt.Fprintf(stdout, "%s: %s (%s)\n", e.Name, e.Status, e.Kind)
		return nil
	}
	switch verb {
	case "list":
		es, err := svc.List(ctx, switchboard.ExperimentFilter{Status: *status})
		if err != nil {
			return cliError(err)
		}
		if *format == "json" {
			return printJSON(stdout, es)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tSTATUS\tPROMPT/LABEL\tMODEL\tVARIANTS\tCREATED")
		for _, e := range es {
			target := ""
			if e.Prompt != "" {
				target = e.Prompt + "/" + e.Label
			}
			vs := ""
			for i, v := range e.Variants {
				if i > 0 {
					vs += ","
				}
				vs += v.Name + "=" + strconv.FormatFloat(v.Weight, 'g', -1, 64)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Kind, e.Status, target, e.Model, vs, e.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "create":
		if *file == "" {
			return fmt.Errorf("experiment create needs --file SPEC.json")
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		spec, err := experiment.DecodeSpec(b)
		if err != nil {
			return cliError(err)
		}
		e, err := svc.Create(ctx, spec, "cli")
		if err != nil {
			return cliError(err)
		}
		return show(e)
	case "canary":
		stable, err := reg.Resolve(prompt.Ref{ID: rest[0], Label: *label})
		if err != nil {
			return cliError(err)
		}
		next, err := reg.Resolve(prompt.Ref{ID: rest[0], Version: rest[1]})
		if err != nil {
			return cliError(err)
		}
		if stable.Hash == next.Hash {
			return fmt.Errorf("%s/%s already serves version %s: nothing to roll out", rest[0], *label, stable.Version)
		}
		if *percent <= 0 || *percent >= 100 {
			return fmt.Errorf("--percent must be between 0 and 100 (exclusive), got %g", *percent)
		}
		if *name == "" {
			*name = rest[0] + "-" + *label + "-canary-" + time.Now().UTC().Format("20060102T150405")
		}
		var gs []switchboard.MetricSpec
		for _, g := range splitList(*guards) {
			switch g {
			case switchboard.MetricError, switchboard.MetricLatency, switchboard.MetricCost, switchboard.MetricOutputTokens:
				gs = append(gs, switchboard.MetricSpec{Name: g, Guard: true})
			default:
				return fmt.Errorf("--guards: unknown metric %q (allowed: error, latency, cost, output_tokens; a feedback metric needs a spec file: switchboard experiment create --file)", g)
			}
		}
		spec := experiment.Canary(*name, rest[0], *label, stable.Version, next.Version, *percent, *planned, gs...)
		if *alpha != 0 {
			spec.Alpha = *alpha
		}
		if *minSamples != 0 {
			spec.MinSamples = *minSamples
		}
		if err := experiment.Validate(spec); err != nil {
			return cliError(err)
		}
		e, err := svc.Create(ctx, spec, "cli")
		if err != nil {
			return cliError(err)
		}
		return show(e)
	case "report":
		rep, err := svc.Report(ctx, rest[0])
		if err != nil {
			return cliError(err)
		}
		switch *format {
		case "json":
			return printJSON(stdout, rep)
		case "html":
			return experiment.RenderReportHTML(stdout, rep)
		}
		return writeReportTable(stdout, rep)
	}
	switch verb {
	case "stop":
		err = svc.Stop(ctx, rest[0], "cli", *reason)
	case "ship":
		err = svc.Ship(ctx, rest[0], rest[1], "cli", *reason)
	case "rollback":
		err = svc.Rollback(ctx, rest[0], "cli", *reason)
	}
	if err != nil {
		return cliError(err)
	}
	e, err := svc.Get(ctx, rest[0])
	if err != nil {
		return cliError(err)
	}
	return show(e)
}

// writeReportTable prints a report for a terminal.
func writeReportTable(w io.Writer, r *experiment.Report) error {
	fmt.Fprintf(w, "experiment %s (%s, %s)  units %d  requests %d\n", r.Experiment, r.Kind, r.Status, r.Units, r.Requests)
	if r.SRM != nil {
		srm := "ok"
		if r.SRM.Mismatch {
			srm = "MISMATCH"
		}
		fmt.Fprintf(w, "sample ratio: %s (chi2 p = %.4g, sequential p = %.4g)\n", srm, r.SRM.PValue, r.SRM.SequentialPValue)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nMETRIC\tVARIANT\tN\tMEAN\tDIFF\tCI (fixed)\tLIFT\tP (fixed, Holm)\tP (always valid)\tOUTCOME")
	for _, mr := range r.Metrics {
		for _, a := range mr.Arms {
			row := fmt.Sprintf("%s\t%s\t%d\t%.4g", mr.Name, a.Variant, a.Units, a.Mean)
			var c *experiment.Comparison
			for i := range mr.Comparisons {
				if mr.Comparisons[i].Variant == a.Variant {
					c = &mr.Comparisons[i]
				}
			}
			if c == nil {
				fmt.Fprintln(tw, row+"\t(control)\t\t\t\t\t")
				continue
			}
			ci, lift, pf, ps := "", "", "", ""
			if c.Fixed != nil {
				ci = fmt.Sprintf("[%.4g, %.4g]", c.Fixed.Lower, c.Fixed.Upper)
				pf = fmt.Sprintf("%.4g", c.Fixed.AdjustedPValue)
			}
			if c.Lift != nil {
				lift = fmt.Sprintf("%+.1f%%", 100*c.Lift.Lift)
			}
			if c.Sequential != nil {
				ps = fmt.Sprintf("%.4g", c.Sequential.AdjustedPValue)
			}
			fmt.Fprintf(tw, "%s\t%+.4g\t%s\t%s\t%s\t%s\t%s\n", row, c.Diff, ci, lift, pf, ps, c.Outcome)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if e := r.Ended; e != nil {
		fmt.Fprintf(w, "ended: %s", e.Action)
		if e.Variant != "" {
			fmt.Fprintf(w, " %s", e.Variant)
		}
		fmt.Fprintf(w, " by %s at %s", e.Actor, e.Time.UTC().Format(time.RFC3339))
		if e.Reason != "" {
			fmt.Fprintf(w, " — %s", e.Reason)
		}
		fmt.Fprint(w, "\nanalysis of the data now: ")
	} else {
		fmt.Fprint(w, "decision: ")
	}
	fmt.Fprint(w, r.Decision.Action)
	if r.Decision.Reason != "" {
		fmt.Fprintf(w, " — %s", r.Decision.Reason)
	}
	fmt.Fprintln(w)
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}
