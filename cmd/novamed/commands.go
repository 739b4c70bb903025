package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/operator"
)

// command is one row of the command table: run dispatches on it, help and
// shell completion are generated from it (see docs/decisions.md for why a
// table rather than a CLI library).
type command struct {
	name    string // "serve", "keys create"
	args    string // positional arguments and the notable flags, for the summary
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

// op adapts an operator command, which writes only to stdout.
func op(fn func(context.Context, []string, func(string) string, io.Writer) error) func(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
		return fn(ctx, args, getenv, stdout)
	}
}

// commands is the command table, in the order the usage lists them.
func commands() []command {
	return []command{
		{"serve", "", "run the Partner API", serve},
		{"init", "", "create the database (and, in development, the master key) in an empty data folder or database", op(initCmd)},
		{"migrate", "[--dry-run]", "apply pending schema migrations (or list them)", op(migrateCmd)},
		{"backup", "--to FILE", "write a consistent copy of the SQLite database, safe while the server runs", op(backupCmd)},
		{"restore", "--from FILE", "put a backup into an empty data folder (no keyring needed)", op(restoreCmd)},
		{"version", "", "print the version, commit and commit time", op(versionCmd)},
		{"completion", "bash|zsh", "print a shell completion script", completionCmd},
		{"partners create", "--name NAME [--contact C…]", "create a partner (status onboarding)", partnersCreate},
		{"partners baa", "PARTNER_ID --signed-on DATE --signer NAME [--document REF] [--expires-on DATE]", "record a partner's signed BAA", partnersBAA},
		{"partners approve", "PARTNER_ID", "approve a partner (keys may then be issued to it)", partnersStatus("approve")},
		{"partners suspend", "PARTNER_ID", "suspend a partner: its keys are refused and its webhook deliveries held (within 2s)", partnersStatus("suspend")},
		{"partners reinstate", "PARTNER_ID", "reinstate a suspended partner: its keys and webhook deliveries resume", partnersStatus("reinstate")},
		{"partners list", "", "list partners with their status and BAA (flags a missing or expired BAA)", partnersList},
		{"partners show", "PARTNER_ID", "a partner, its BAA on record and its clinics", partnersShow},
		{"clinics create", "--name NAME [--partner PARTNER_ID]", "create a clinic of a partner (development default: the development partner)", clinicsCreate},
		{"clinics list", "", "list clinics", clinicsList},
		{"clinics update", "CLINIC_ID [--free-shipping true|false] [--name N]", "change a clinic's settings (audited)", clinicsUpdate},
		{"keys create", "--clinic ID [--clinic ID…] [--name N] [--expires-in D] [--rate-limit N]", "issue an API key to the partner of its clinics (production: approved, with a BAA)", keysCreate},
		{"keys list", "[--clinic ID]", "list keys (never the keys themselves)", keysList},
		{"keys revoke", "KEY_ID", "revoke a key (a running server refuses it within 2s)", keysRevoke},
		{"keys roll", "KEY_ID [--grace 24h]", "issue a successor; the old key works until the grace ends", keysRoll},
		{"keys update", "KEY_ID --rate-limit N", "set a key's requests per minute (0: environment default)", keysUpdate},
		{"keys usage", "KEY_ID [--days 30]", "a key's requests by day, route and status class", keysUsage},
		{"security events", "[--since T]", "anomalies: new networks, rate spikes, leaked or revoked keys", securityEvents},
		{"orders advance", "ORDER_ID --to STATUS [--tracking-number N --carrier C --label-url U]", "move an order along the pharmacy lifecycle", ordersAdvance},
		{"orders cancel", "ORDER_ID", "cancel an order before it ships", ordersCancel},
		{"orders cancel-shipment", "ORDER_ID --reason TEXT", "cancel a shipped order's shipment (back to filled)", ordersCancelShipment},
		{"practitioners activate", "ID", "mark a verified practitioner active", practitionersActivate},
		{"webhooks deliveries", "[--webhook ID] [--status failed]", "the delivery log", webhooksDeliveries},
		{"webhooks retry", "DELIVERY_ID", "send a delivery once more", webhooksRetry},
		{"webhooks rotate", "WEBHOOK_ID [--overlap 24h]", "new verification token and signing secret; the old ones serve during the overlap", webhooksRotate},
		{"events list", "--clinic ID [--after EVENT_ID]", "a clinic's events (the webhook outbox)", eventsList},
		{"carriers list", "", "show the carrier catalogue", carriersList},
		{"carriers import", "--file F", "replace the catalogue ({\"carriers\":[…]} as carriers list --json prints)", carriersImport},
		{"formulary list", "--clinic ID", "the medications a clinic may order", formularyList},
		{"formulary import", "--clinic ID --file F", "replace a clinic's formulary ({\"medications\":[…]} as formulary list --json prints)", formularyImport},
		{"formulary set", "--clinic ID --name N [--strength S…] [--unit U] [--refrigerated]", "add or replace one medication", formularySet},
		{"formulary remove", "--clinic ID --name N", "take one medication out", formularyRemove},
		{"crypto rotate", "--new-key-file F", "add F as the next master key version, re-seal all PHI and re-key the blind indexes (resumable)", op(cryptoRotate)},
		{"crypto status", "", "PHI values per master key version", cryptoStatus},
		{"audit verify", "[--checkpoint FILE]", "check the audit hash chain (and that it reaches and matches signed checkpoints)", op(auditVerify)},
		{"audit checkpoint", "[--public-key]", "print one signed checkpoint of the chain head (or the key that verifies them)", auditCheckpoint},
		{"operators create", "--email E --role R [--name N] [--password-file F]", "add an operator (without --password-file: print a one-time setup link)", op(operatorsCreate)},
		{"operators list", "", "list operators (never their secrets)", operatorsList},
		{"operators token", "--email E [--expires-in 8h]", "issue an operator token (op_…) for --server and the admin API", op(operatorsToken)},
		{"operators role", "--email E --role R", "change an operator's role (revokes their tokens)", operatorsSet("operators role", "")},
		{"operators disable", "--email E", "disable an operator (revokes their tokens)", operatorsSet("operators disable", operator.Disabled)},
		{"operators enable", "--email E", "enable a disabled operator", operatorsSet("operators enable", operator.Active)},
		{"operators totp", "--email E", "enrol (or replace) an operator's TOTP second factor", op(operatorsTOTP)},
		{"operators totp-reset", "--email E", "remove an operator's second factor and print a one-time setup link to enrol a new one (revokes their tokens)", operatorsTOTPReset},
		{"operators reset-throttle", "--email E [--address A]", "clear an operator's failed sign-in delay", operatorsResetThrottle},
		{"audit export", "[--since T] [--until T] [--actor PREFIX]", "write audit records as JSON lines, from the archive and the live trail (window on the hashed time)", auditExport},
		{"audit seal", "", "close the open audit segment now and seal it (signed with the checkpoint key)", auditSeal},
		{"audit archive run", "", "run the archive pass now: seal if due, archive, prune the live database, expire the archive", auditArchiveRun},
		{"audit archive status", "", "list the sealed audit segments, their sizes, where they are, and any gap", auditArchiveStatus},
	}
}

// directOnlyReasons are the commands that run only on the database host,
// never with --server, and why (docs/decisions.md, "The CLI as a
// client"): the maintenance commands, bootstrap, and the break-glass
// master key rotation. Every other operator command runs with --server.
var directOnlyReasons = map[string]string{
	"serve":            "it is the server",
	"init":             "creates the database (and in development its master key) where it will live",
	"migrate":          "changes the schema of the database it opens",
	"backup":           "copies the SQLite files of the database host",
	"restore":          "writes a data folder on the database host",
	"version":          "describes this binary",
	"completion":       "prints a script for this shell",
	"crypto rotate":    "break-glass: reads the new master key file on the database host and rewrites the keyring file there (through a server: POST /api/admin/crypto/reencryptions, once every replica's key file holds the version)",
	"operators create": "bootstrap: the first admin exists before any token (a password file never travels)",
	"operators token":  "bootstrap and automation: issues the token --server then uses",
	"operators totp":   "shows the new TOTP secret to whoever runs it, so only on the database host; through a server use operators totp-reset",
}

// maintenanceCommands are direct by nature: they do not announce direct
// database mode as operator commands do.
var maintenanceCommands = map[string]struct{}{"serve": {}, "init": {}, "migrate": {}, "backup": {}, "restore": {}, "version": {}, "completion": {}}

// directOnly names, in table order, the commands that never run with
// --server.
func directOnly(cmds []command) []string {
	var out []string
	for _, c := range cmds {
		if directOnlyReasons[c.name] != "" {
			out = append(out, c.name)
		}
	}
	return out
}

// lookup finds the command args start with: two words ("keys create")
// before one ("serve"). It returns nil and the group name when args name
// only a group ("keys").
func lookup(cmds []command, args []string) (cmd *command, rest []string, group string) {
	if len(args) == 0 {
		return nil, nil, ""
	}
	if len(args) > 2 { // audit archive run
		for i := range cmds {
			if cmds[i].name == args[0]+" "+args[1]+" "+args[2] {
				return &cmds[i], args[3:], ""
			}
		}
	}
	if len(args) > 1 {
		for i := range cmds {
			if cmds[i].name == args[0]+" "+args[1] {
				return &cmds[i], args[2:], ""
			}
		}
	}
	for i := range cmds {
		if cmds[i].name == args[0] {
			return &cmds[i], args[1:], ""
		}
	}
	for i := range cmds {
		if g, _, ok := strings.Cut(cmds[i].name, " "); ok && g == args[0] {
			return nil, nil, g
		}
	}
	return nil, nil, ""
}

// overview is the usage: every command (or a group's) with its summary.
func overview(cmds []command, group string) string {
	var b strings.Builder
	if group == "" {
		b.WriteString("usage: novamed <command> [flags]\n\ncommands:\n")
	} else {
		fmt.Fprintf(&b, "usage: novamed %s <command> [flags]\n\ncommands:\n", group)
	}
	for _, c := range cmds {
		if group != "" && !strings.HasPrefix(c.name, group+" ") {
			continue
		}
		line := c.name
		if c.args != "" {
			line += " " + c.args
		}
		if len(line) > 38 {
			fmt.Fprintf(&b, "  %s\n  %-38s  %s\n", line, "", c.summary)
		} else {
			fmt.Fprintf(&b, "  %-38s  %s\n", line, c.summary)
		}
	}
	b.WriteString("\ncommon flags: --data-dir DIR --db URL --env development|production --json\n" +
		"operator commands: --server URL runs them through that server's admin API (staff need no database or master key);\n" +
		"  the operator token comes from NOVAMED_OPERATOR_TOKEN or a 0600 credentials file (--credentials FILE,\n" +
		"  default $XDG_CONFIG_HOME/novamed/credentials). Without --server they open the database directly\n" +
		"  (bootstrap and break-glass on the database host, audited as local:<os user>).\n" +
		wrap("  Direct only: "+strings.Join(directOnly(cmds), ", ")+".", 100, "    ") +
		"`novamed help COMMAND` or `novamed COMMAND --help` lists a command's flags, defaults and environment variables.\n" +
		"`novamed version` prints the build.\n")
	return b.String()
}

// helpRequest is returned by parseFlags when -h or --help was given: run
// prints the command's flags and exits 0.
type helpRequest struct{ fs *flag.FlagSet }

func (h *helpRequest) Error() string { return "help requested" }

// commonEnv are the environment variables of the flags every command
// shares (see common.register).
var commonEnv = map[string]string{
	"data-dir": "NOVAMED_DATA_DIR", "db": "NOVAMED_DB", "env": "NOVAMED_ENV", "master-key-file": "NOVAMED_MASTER_KEY_FILE",
	"redis": "NOVAMED_REDIS", "redis-prefix": "NOVAMED_REDIS_PREFIX", "checkpoint-key-file": "NOVAMED_CHECKPOINT_KEY_FILE",
	"checkpoint-public-key": "NOVAMED_CHECKPOINT_PUBLIC_KEY",
}

// serveEnv names the environment variable of a serve flag: NOVAMED_ and
// the flag's name in capitals (trusted-proxy, repeatable, reads the list
// NOVAMED_TRUSTED_PROXIES).
func serveEnv(name string) string {
	if name == "trusted-proxy" {
		return "NOVAMED_TRUSTED_PROXIES"
	}
	return "NOVAMED_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// flagHelp lists every flag of fs with its description, default and
// environment variable.
func flagHelp(cmd *command, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: novamed %s", cmd.name)
	if cmd.args != "" {
		b.WriteString(" " + cmd.args)
	}
	fmt.Fprintf(&b, " [flags]\n\n%s\n\nflags:\n", cmd.summary)
	fs.VisitAll(func(f *flag.Flag) {
		kind, usageText := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if kind != "" {
			name += " " + kind
		}
		fmt.Fprintf(&b, "  %s\n        %s", name, usageText)
		var extra []string
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && !strings.Contains(usageText, "default") {
			extra = append(extra, "default "+f.DefValue)
		}
		env := commonEnv[f.Name]
		if cmd.name == "serve" && f.Name != "json" {
			env = serveEnv(f.Name)
		}
		if env != "" {
			extra = append(extra, "env "+env)
		}
		if len(extra) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(extra, "; "))
		}
		b.WriteString("\n")
	})
	return b.String()
}

// applyServeEnv gives every serve flag not set on the command line the
// value of its NOVAMED_* variable, where the flag's default did not
// already come from it.
func applyServeEnv(fs *flag.FlagSet, getenv func(string) string, set map[string]bool) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || f.Name == "json" || f.Name == "trusted-proxy" {
			return
		}
		v := getenv(serveEnv(f.Name))
		if v == "" || v == f.Value.String() {
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("%s=%q: %v", serveEnv(f.Name), v, e)
		}
	})
	return err
}

// buildVersion is the module version, VCS commit and commit time of this
// binary ("dev" for a build without them).
func buildVersion() (version, commit, commitTime string) {
	version, commit, commitTime = "dev", "unknown", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		version = v
	}
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			commitTime = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified {
		commit += "-dirty"
	}
	return
}

// currentBuild is buildVersion as /healthz shows it.
func currentBuild() httpapi.BuildVersion {
	v, c, t := buildVersion()
	return httpapi.BuildVersion{Version: v, Commit: c, CommitTime: t}
}

func versionCmd(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	v, c, t := buildVersion()
	return emit(stdout, *asJSON, map[string]string{"version": v, "commit": c, "commit_time": t},
		fmt.Sprintf("novamed %s (commit %s, %s)\n", v, c, t))
}

// completionCmd prints a bash or zsh completion script generated from the
// command table.
func completionCmd(_ context.Context, args []string, _ func(string) string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("completion", flag.ContinueOnError)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (pos[0] != "bash" && pos[0] != "zsh") {
		return errors.New("completion takes bash or zsh")
	}
	top := map[string]bool{}
	subs := map[string][]string{}
	for _, c := range commands() {
		first, second, ok := strings.Cut(c.name, " ")
		top[first] = true
		if ok {
			subs[first] = append(subs[first], second)
		}
	}
	top["help"] = true
	var names []string
	for n := range top {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	if pos[0] == "zsh" {
		b.WriteString("#compdef novamed\nautoload -U +X bashcompinit && bashcompinit\n")
	}
	b.WriteString("_novamed() {\n  local cur=${COMP_WORDS[COMP_CWORD]}\n  if [ \"$COMP_CWORD\" -eq 1 ]; then\n")
	fmt.Fprintf(&b, "    COMPREPLY=($(compgen -W %q -- \"$cur\"))\n    return\n  fi\n", strings.Join(names, " "))
	b.WriteString("  if [ \"$COMP_CWORD\" -eq 2 ]; then\n    case ${COMP_WORDS[1]} in\n")
	var groups []string
	for g := range subs {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		fmt.Fprintf(&b, "      %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", g, strings.Join(subs[g], " "))
	}
	b.WriteString("    esac\n  fi\n  COMPREPLY=($(compgen -W \"--data-dir --db --env --json --master-key-file --help\" -- \"$cur\"))\n}\ncomplete -F _novamed novamed\n")
	_, err = io.WriteString(stdout, b.String())
	return err
}

// parseWhen reads a --since/--until value: an RFC 3339 time, a date
// (midnight UTC) or a duration before now (90m, 1h, 7d).
func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if d, err := parseDuration(v); err == nil {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date (2006-01-02) or a duration ago (1h, 7d)", v)
}

// humanMap prints a map for people, keys sorted: "v1: 10, v2: 3" (never
// Go's map[…] form); an empty map is "none".
func humanMap[K cmp.Ordered, V any](m map[K]V, keyPrefix string) string {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s%v: %v", keyPrefix, k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// humanVersions prints key versions for people: "v1, v2".
func humanVersions(vs []uint32) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("v%d", v)
	}
	return strings.Join(parts, ", ")
}

// wrap folds text into lines of at most width characters, continued
// lines indented with indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent + w
			continue
		}
		if line == "" && strings.HasPrefix(text, " ") {
			line = "  " + w
		} else if line == "" {
			line = w
		} else {
			line += " " + w
		}
	}
	return b.String() + line + "\n"
}
