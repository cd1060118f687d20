package prompt

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the report as a table for a terminal: one row per
// test, then the failed assertions of failed tests, then a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROMPT\tVERSION\tTEST\tMODEL\tRESULT\tTIME")
	for _, res := range r.Results {
		result := "PASS"
		if !res.Pass {
			result = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", res.Prompt, res.Version, oneLine(res.Test, 60), res.Model, result,
			res.Duration.Round(time.Millisecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range r.Results {
		if res.Pass {
			continue
		}
		where := ""
		if res.File != "" {
			where = fmt.Sprintf(" (%s:%d)", res.File, res.Line)
		}
		fmt.Fprintf(w, "\nFAIL %s@%s %q%s\n", res.Prompt, res.Version, res.Test, where)
		if res.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", res.Error)
			continue
		}
		for _, a := range res.Assertions {
			if !a.Pass {
				fmt.Fprintf(w, "  %s: %s\n", a.Kind, a.Detail)
			}
		}
		fmt.Fprintf(w, "  output: %s\n", oneLine(res.Output, 200))
	}
	_, err := fmt.Fprintf(w, "\n%d passed, %d failed\n", r.Passed, r.Failed)
	return err
}

func oneLine(s string, n int) string {
	return clip(strings.Join(strings.Fields(s), " "), n)
}

// JUnit XML, as Jenkins, GitLab and GitHub test reporters read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML: one testsuite per prompt
// version, one testcase per test; failed assertions are a failure, a test
// that could not run (render or completion error) an error.
func (r *Report) WriteJUnit(w io.Writer) error {
	doc := junitSuites{Name: "switchboard prompt tests", Time: seconds(r.Duration)}
	index := map[string]int{}
	for _, res := range r.Results {
		key := res.Prompt + "@" + res.Version
		i, ok := index[key]
		if !ok {
			i = len(doc.Suites)
			index[key] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: key, Properties: []junitProperty{
				{Name: "prompt", Value: res.Prompt}, {Name: "version", Value: res.Version}, {Name: "hash", Value: res.Hash}}})
		}
		s := &doc.Suites[i]
		tc := junitCase{Name: res.Test, Classname: res.Prompt, File: res.File, Line: res.Line, Time: seconds(res.Duration),
			SystemOut: res.Output}
		switch {
		case res.Error != "":
			tc.Error = &junitProblem{Message: res.Error, Type: "error", Text: res.Error}
			s.Errors++
			doc.Errors++
		case !res.Pass:
			var msgs []string
			for _, a := range res.Assertions {
				if !a.Pass {
					msgs = append(msgs, a.Kind+": "+a.Detail)
				}
			}
			tc.Failure = &junitProblem{Message: msgs[0], Type: "assertion", Text: strings.Join(msgs, "\n")}
			s.Failures++
			doc.Failures++
		}
		s.Tests++
		doc.Tests++
		s.Cases = append(s.Cases, tc)
	}
	for i := range doc.Suites {
		var d time.Duration
		for _, res := range r.Results {
			if res.Prompt+"@"+res.Version == doc.Suites[i].Name {
				d += res.Duration
			}
		}
		doc.Suites[i].Time = seconds(d)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}
