package experiment

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

//go:embed report.html
var reportHTML string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":       formatNum,
	"signed":    func(f float64) string { return signedNum(f) },
	"pct":       func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"signedpct": func(f float64) string { return fmt.Sprintf("%+.2f%%", 100*f) },
	"pval":      formatP,
	"join":      func(s []string) string { return strings.Join(s, "; ") },
	"decision": func(a string) string {
		switch a {
		case switchboard.DecisionKeepRunning:
			return "keep running"
		}
		return a
	},
}).Parse(reportHTML))

// RenderReportHTML writes r as a self-contained HTML page (inline CSS, no
// scripts, no external assets): the decision as a badge, the SRM warning,
// the variants, and per metric a table of arms and one of comparisons with
// confidence intervals, p-values and guard evidence.
func RenderReportHTML(w io.Writer, r *Report) error {
	if err := reportTmpl.Execute(w, r); err != nil {
		return fmt.Errorf("experiment: render report: %w", err)
	}
	return nil
}

func formatNum(f float64) string {
	switch {
	case f == 0:
		return "0"
	case math.Abs(f) >= 1e6 || math.Abs(f) < 1e-4:
		return fmt.Sprintf("%.3e", f)
	}
	return fmt.Sprintf("%.4g", f)
}

func signedNum(f float64) string {
	if f > 0 {
		return "+" + formatNum(f)
	}
	return formatNum(f)
}

func formatP(p float64) string {
	if p < 1e-4 {
		return "< 0.0001"
	}
	return fmt.Sprintf("%.4f", p)
}
