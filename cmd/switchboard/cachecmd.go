package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// cacheCmd runs `switchboard cache stats|purge`, which talk to a running
// gateway's admin API (the memory tier lives in that process).
func cacheCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "stats" && args[0] != "purge") {
		return fmt.Errorf("usage: switchboard cache stats|purge [--url http://127.0.0.1:8080] …")
	}
	fs := flag.NewFlagSet("cache "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the gateway's base URL")
	apiKey := fs.String("api-key", os.Getenv("SWITCHBOARD_API_KEY"), "an admin (or, for stats, read-only) key, when the gateway requires keys (default $SWITCHBOARD_API_KEY)")
	since := fs.String("since", "24h", "stats: window, as a duration (24h, 7d) or an RFC 3339 time")
	format := fs.String("format", "table", "stats: table or json")
	model := fs.String("model", "", "purge: the entries of this model's deployments")
	var tenants multiFlag
	fs.Var(&tenants, "tenant", "purge: the entries of this tenant (repeatable)")
	key := fs.String("key", "", "purge: one entry, by the key from x-switchboard-cache-key")
	all := fs.Bool("all", false, "purge: every entry")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: bearer{*apiKey}}
	if args[0] == "purge" {
		body, _ := json.Marshal(map[string]any{"model": *model, "tenants": []string(tenants), "key": *key, "all": *all})
		resp, err := client.Post(strings.TrimRight(*base, "/")+"/admin/v1/cache/purge", "application/json", bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("cache purge: %w", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("cache purge: %s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		var out struct {
			Deleted int `json:"deleted"`
		}
		_ = json.Unmarshal(b, &out)
		fmt.Fprintf(stdout, "deleted %d entries\n", out.Deleted)
		return nil
	}
	resp, err := client.Get(strings.TrimRight(*base, "/") + "/admin/v1/cache/stats?since=" + url.QueryEscape(*since))
	if err != nil {
		return fmt.Errorf("cache stats: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cache stats: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if *format == "json" {
		_, err := stdout.Write(b)
		return err
	}
	var st struct {
		Since string `json:"since"`
		Tiers []struct {
			Tier    string `json:"tier"`
			Entries int    `json:"entries"`
			Bytes   int64  `json:"bytes"`
		} `json:"tiers"`
		Usage []struct {
			Tenant       string  `json:"tenant"`
			Model        string  `json:"model"`
			Cache        string  `json:"cache"`
			Requests     int64   `json:"requests"`
			InputTokens  int64   `json:"input_tokens"`
			OutputTokens int64   `json:"output_tokens"`
			CostUSD      float64 `json:"cost_usd"`
			SavedUSD     float64 `json:"saved_usd"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("cache stats: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIER\tENTRIES\tBYTES")
	for _, t := range st.Tiers {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", t.Tier, t.Entries, t.Bytes)
	}
	fmt.Fprintf(tw, "\nSINCE %s\nTENANT\tMODEL\tCACHE\tREQUESTS\tINPUT_TOKENS\tOUTPUT_TOKENS\tCOST_USD\tSAVED_USD\n", st.Since)
	var hits, lookups int64
	var saved float64
	for _, u := range st.Usage {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.6f\t%.6f\n", dash(u.Tenant), u.Model, dash(u.Cache), u.Requests, u.InputTokens, u.OutputTokens, u.CostUSD, u.SavedUSD)
		switch u.Cache {
		case "hit", "semantic-hit":
			hits += u.Requests
			lookups += u.Requests
		case "miss", "partial":
			lookups += u.Requests
		}
		saved += u.SavedUSD
	}
	if lookups > 0 {
		fmt.Fprintf(tw, "\nhit rate %.1f%% (%d of %d cacheable requests), saved $%.6f\n", 100*float64(hits)/float64(lookups), hits, lookups, saved)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// bearer adds an API key to each request of the admin CLI.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.key != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.key)
	}
	return http.DefaultTransport.RoundTrip(r)
}
