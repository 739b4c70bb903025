package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/httpapi"
)

func keysUsage(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var days *int
	c, id, err := oneKeyCommand("keys usage", args, getenv, func(fs *flag.FlagSet) {
		days = fs.Int("days", 30, "how many days back (1–400)")
	})
	if err != nil {
		return err
	}
	if *days < 1 || *days > 400 {
		return errors.New("--days must be from 1 to 400")
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	k, err := store.GetAPIKey(ctx, strings.ToLower(id))
	if err != nil {
		return err
	}
	since := time.Now().UTC().AddDate(0, 0, -(*days - 1)).Format(time.DateOnly)
	counts, err := store.Usage(ctx, k.ID, since)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "key %s (%s…) since %s; last used %s\n", k.ID, k.Prefix, since, fmtTime(k.LastUsedAt))
	for _, u := range counts {
		fmt.Fprintf(&b, "%s  %-48s %-4s %8d\n", u.Day, u.Route, u.StatusClass, u.Count)
	}
	return emit(stdout, c.json, httpapi.UsageReport(k.ID, since, counts), b.String())
}

func securityEvents(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("security events", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	since := fs.String("since", "", "RFC 3339 time, a date (2026-11-01, UTC) or a duration ago (1h, 7d) (default: 24 hours ago)")
	limit := fs.Int("limit", 1000, "at most this many")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	from := time.Now().Add(-24 * time.Hour)
	if *since != "" {
		t, err := parseWhen(*since, time.Now())
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		from = t
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	evs, err := store.ListSecurityEvents(ctx, from, *limit)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%s  %-32s key %s  client %s  %s\n", ev.At.UTC().Format(time.RFC3339), ev.Rule, ev.KeyID, ev.ClientAddr, humanMap(ev.Detail, ""))
	}
	return emit(stdout, c.json, map[string]any{"events": evs}, b.String())
}
