package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/httpapi"
	"github.com/switchboard-ai/switchboard/tenancy"
)

// openTenancy loads the configuration and opens the store and the tenant
// service, without serving: the CLI changes state through the same service
// code as the admin API.
func openTenancy(ctx context.Context, files, sets []string, stderr io.Writer) (*Main, *tenancy.Service, error) {
	m := newCLIMain(stderr)
	if err := m.Load(files, sets); err != nil {
		return nil, nil, err
	}
	store, err := switchboard.Stores.New(ctx, m.Config.Storage.Driver, m.Config.Storage.Decoder(), switchboard.Deps{Log: m.Log})
	if err != nil {
		return nil, nil, fmt.Errorf("storage: %w", err)
	}
	m.store = store
	dir, err := tenancy.NewDirectory(ctx, store, configTenants(m.Config), m.Log)
	if err != nil {
		_ = store.Close()
		return nil, nil, fmt.Errorf("load tenants: %w", err)
	}
	return m, tenancy.NewService(store, dir), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// keysCmd runs `switchboard keys create|list|revoke|generate`.
func keysCmd(args []string, stdout, stderr io.Writer) error {
	const use = "usage: switchboard keys create --tenant T [--name N] [--scopes inference,admin,read-only] [--models a,b] [--rpm N] [--tpm N] [--concurrency N] [--budget-daily USD] [--budget-monthly USD] [--expires 30d]\n" +
		"       switchboard keys list [--tenant T] [--format table|json]\n" +
		"       switchboard keys revoke KEY_ID\n" +
		"       switchboard keys generate   (print a random key for the config file)"
	if len(args) == 0 {
		return fmt.Errorf("%s", use)
	}
	if args[0] == "generate" {
		fmt.Fprintln(stdout, tenancy.GenerateKey())
		return nil
	}
	fs, files, sets := configFlags("keys "+args[0], stderr)
	tenant := fs.String("tenant", "", "the tenant the key belongs to")
	name := fs.String("name", "", "a label for the key")
	scopes := fs.String("scopes", "inference", "comma-separated scopes: inference, admin, read-only")
	models := fs.String("models", "", "comma-separated models the key may call (default: all)")
	quotas := quotaFlags(fs, "this key")
	expires := fs.String("expires", "", "lifetime: 90m, 24h, 30d")
	format := fs.String("format", "table", "list: table or json")
	var rest []string
	switch args[0] {
	case "create", "list", "revoke":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		rest = fs.Args()
	default:
		return fmt.Errorf("%s", use)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, svc, err := openTenancy(ctx, *files, *sets, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = m.store.Close() }()
	switch args[0] {
	case "create":
		spec := tenancy.KeySpec{Tenant: *tenant, Name: *name, Scopes: splitList(*scopes), Models: splitList(*models)}
		spec.Limits, spec.Budget = quotas()
		if *expires != "" {
			d, err := tenancy.ParseDuration(*expires)
			if err != nil {
				return err
			}
			spec.ExpiresIn = tenancy.Duration(d)
		}
		key, k, err := svc.CreateKey(ctx, spec)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stderr, "created key %s for tenant %s; it is shown once, store it now:\n", k.ID, k.TenantID)
		fmt.Fprintln(stdout, key)
		return nil
	case "revoke":
		if len(rest) != 1 {
			return fmt.Errorf("usage: switchboard keys revoke KEY_ID")
		}
		k, err := svc.RevokeKey(ctx, rest[0])
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "revoked %s (%s, tenant %s); every replica refuses it within a second\n", k.ID, k.Prefix, k.TenantID)
		return nil
	}
	keys := svc.Keys(*tenant)
	if *format == "json" {
		return printJSON(stdout, keys)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tNAME\tPREFIX\tSCOPES\tSOURCE\tSTATUS")
	now := time.Now()
	for _, k := range keys {
		status := "active"
		switch {
		case k.RevokedAt != nil:
			status = "revoked " + k.RevokedAt.UTC().Format(time.RFC3339)
		case k.ExpiresAt != nil && !k.ExpiresAt.After(now):
			status = "expired"
		case k.ExpiresAt != nil:
			status = "expires " + k.ExpiresAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.TenantID, k.Name, k.Prefix, strings.Join(k.Scopes, ","), k.Source, status)
	}
	return tw.Flush()
}

// tenantsCmd runs `switchboard tenants create|list|delete`.
func tenantsCmd(args []string, stdout, stderr io.Writer) error {
	const use = "usage: switchboard tenants create NAME [--rpm N] [--tpm N] [--concurrency N] [--budget-daily USD] [--budget-monthly USD] [--budget-action block|alert]\n" +
		"       switchboard tenants list [--format table|json]\n" +
		"       switchboard tenants delete NAME"
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "delete") {
		return fmt.Errorf("%s", use)
	}
	fs, files, sets := configFlags("tenants "+args[0], stderr)
	quotas := quotaFlags(fs, "the tenant")
	format := fs.String("format", "table", "list: table or json")
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, svc, err := openTenancy(ctx, *files, *sets, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = m.store.Close() }()
	switch args[0] {
	case "create":
		if len(rest) != 1 {
			return fmt.Errorf("%s", use)
		}
		spec := tenancy.TenantSpec{Name: rest[0]}
		spec.Limits, spec.Budget = quotas()
		t, err := svc.CreateTenant(ctx, spec)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "created tenant %s\n", t.Name)
		return nil
	case "delete":
		if len(rest) != 1 {
			return fmt.Errorf("%s", use)
		}
		if err := svc.DeleteTenant(ctx, rest[0]); err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "deleted tenant %s and revoked its keys\n", rest[0])
		return nil
	}
	ts := svc.Directory().Tenants()
	if *format == "json" {
		return printJSON(stdout, ts)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tSOURCE\tRPM\tTPM\tCONCURRENCY\tDAILY_USD\tMONTHLY_USD\tKEYS")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%g\t%g\t%d\n", t.Name, t.Source, t.Limits.RPM, t.Limits.TPM, t.Limits.Concurrency,
			t.Budget.DailyUSD, t.Budget.MonthlyUSD, len(svc.Keys(t.Name)))
	}
	return tw.Flush()
}

// usageCmd runs `switchboard usage`: spend and tokens from the inference
// records in the store.
func usageCmd(args []string, stdout, stderr io.Writer) error {
	fs, files, sets := configFlags("usage", stderr)
	by := fs.String("by", "tenant", "group rows by any of tenant, key, model, day, cache (comma-separated)")
	since := fs.String("since", "7d", "window: a duration (24h, 7d) or an RFC 3339 time")
	tenant := fs.String("tenant", "", "only this tenant")
	key := fs.String("key", "", "only this key ID")
	model := fs.String("model", "", "only this model")
	format := fs.String("format", "table", "table, json or csv")
	if err := fs.Parse(args); err != nil {
		return err
	}
	groups, err := httpapi.ParseUsageGroups(*by)
	if err != nil {
		return cliError(err)
	}
	from, err := httpapi.ParseSince(*since, time.Now())
	if err != nil {
		return cliError(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m := newCLIMain(stderr)
	if err := m.Load(*files, *sets); err != nil {
		return err
	}
	store, err := switchboard.Stores.New(ctx, m.Config.Storage.Driver, m.Config.Storage.Decoder(), switchboard.Deps{Log: m.Log})
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	defer func() { _ = store.Close() }()
	rows, err := store.SumInferences(ctx, switchboard.InferenceFilter{Since: from, TenantID: *tenant, KeyID: *key, Model: *model}, groups)
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		if rows == nil {
			rows = []switchboard.InferenceSum{}
		}
		return printJSON(stdout, rows)
	case "csv":
		return httpapi.WriteUsageCSV(stdout, groups, rows)
	case "table":
	default:
		return fmt.Errorf("--format must be table, json or csv, got %q", *format)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t", strings.ToUpper(g))
	}
	fmt.Fprintln(tw, "REQUESTS\tINPUT_TOKENS\tOUTPUT_TOKENS\tCOST_USD\t")
	var total switchboard.InferenceSum
	for _, r := range rows {
		for _, g := range groups {
			v := httpapi.UsageDim(r, g)
			if v == "" {
				v = "-"
			}
			fmt.Fprintf(tw, "%s\t", v)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.6f\t\n", r.Requests, r.InputTokens, r.OutputTokens, r.CostUSD)
		total.Requests += r.Requests
		total.InputTokens += r.InputTokens
		total.OutputTokens += r.OutputTokens
		total.CostUSD += r.CostUSD
	}
	for range groups[1:] {
		fmt.Fprint(tw, "\t")
	}
	fmt.Fprintf(tw, "TOTAL\t%d\t%d\t%d\t%.6f\t\n", total.Requests, total.InputTokens, total.OutputTokens, total.CostUSD)
	return tw.Flush()
}

// quotaFlags adds the limit and budget flags of `keys create` and `tenants
// create`; the returned function reads them after parsing.
func quotaFlags(fs *flag.FlagSet, of string) func() (switchboard.Limits, switchboard.Budget) {
	rpm := fs.Int64("rpm", 0, "requests per minute for "+of+" (0: no limit)")
	tpm := fs.Int64("tpm", 0, "tokens per minute for "+of)
	conc := fs.Int64("concurrency", 0, "requests in flight at once for "+of)
	daily := fs.Float64("budget-daily", 0, "daily budget in USD for "+of)
	monthly := fs.Float64("budget-monthly", 0, "monthly budget in USD for "+of)
	action := fs.String("budget-action", "", "block (default) or alert")
	return func() (switchboard.Limits, switchboard.Budget) {
		return switchboard.Limits{RPM: *rpm, TPM: *tpm, Concurrency: *conc},
			switchboard.Budget{DailyUSD: *daily, MonthlyUSD: *monthly, Action: *action}
	}
}

// parseInterleaved parses flags that may come after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// cliError turns a client-facing error into a plain message.
func cliError(err error) error {
	if e, ok := err.(*switchboard.Error); ok {
		return fmt.Errorf("%s", e.Message)
	}
	return err
}
