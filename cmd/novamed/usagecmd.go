package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// keyUsage is the --json of keys usage (the admin API's usage answer).
type keyUsage struct {
	KeyID  string               `json:"key_id"`
	Since  string               `json:"since"`
	Counts []novamed.UsageCount `json:"counts"`
	Totals map[string]int64     `json:"totals"`
}

func keysUsage(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var u keyUsage
		if err := api.do(ctx, "GET", "/api/admin/keys/"+pathID(id)+"/usage?days="+strconv.Itoa(*days), nil, &u); err != nil {
			return nil, "", err
		}
		keys, err := listKeys(ctx, api, "")
		if err != nil {
			return nil, "", err
		}
		var b strings.Builder
		for _, k := range keys {
			if k.ID == u.KeyID {
				fmt.Fprintf(&b, "key %s (%s…) since %s; last used %s\n", k.ID, k.Prefix, u.Since, fmtTime(k.LastUsedAt))
			}
		}
		for _, n := range u.Counts {
			fmt.Fprintf(&b, "%s  %-48s %-4s %8d\n", n.Day, n.Route, n.StatusClass, n.Count)
		}
		return u, b.String(), nil
	})
}

func securityEvents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("security events", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	since := fs.String("since", "", "RFC 3339 time, a date (2026-11-01, UTC) or a duration ago (1h, 7d) (default: 24 hours ago)")
	limit := fs.Int("limit", 1000, "at most this many (1–1000)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return errors.New("--limit must be from 1 to 1000")
	}
	from := time.Now().Add(-24 * time.Hour)
	if *since != "" {
		t, err := parseWhen(*since, time.Now())
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		from = t
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out struct {
			Events []*novamed.SecurityEvent `json:"events"`
		}
		if err := api.do(ctx, "GET", "/api/admin/security-events?since="+url.QueryEscape(from.UTC().Format(time.RFC3339Nano)), nil, &out); err != nil {
			return nil, "", err
		}
		if len(out.Events) > *limit {
			out.Events = out.Events[:*limit]
		}
		var b strings.Builder
		for _, ev := range out.Events {
			fmt.Fprintf(&b, "%s  %-32s key %s  client %s  %s\n", ev.At.UTC().Format(time.RFC3339), ev.Rule, ev.KeyID, ev.ClientAddr, humanMap(ev.Detail, ""))
		}
		return out, b.String(), nil
	})
}
