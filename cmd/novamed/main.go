// Command novamed is the NovaMed Partner API server and its operator CLI.
//
//	novamed serve                     run the API
//	novamed init|migrate              create the database, apply migrations
//	novamed backup|restore            copy the SQLite database out and back
//	novamed help|version|completion   usage of every command, the build, shell completion
//	novamed clinics create|list       manage clinics
//	novamed keys create|list|revoke|roll|update
//	novamed orders advance|cancel|cancel-shipment  drive the pharmacy lifecycle
//	novamed practitioners activate    verify a practitioner
//	novamed carriers list|import      the carrier catalogue
//	novamed formulary import|list|set|remove  a clinic's medications
//	novamed webhooks deliveries|retry|rotate the delivery log, secrets
//	novamed crypto rotate|status      rotate the PHI master key
//	novamed audit verify|export|checkpoint  check, export and anchor the audit trail
//
// Every command takes --data-dir, --db and --env (with NOVAMED_* fallbacks)
// and, for scripts, --json. The commands are rows of one table
// (commands.go), from which help and completion are generated.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/novamed/partner-api/internal/novamed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	serveMemoryDefault(os.Args[1:], os.Getenv)
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if slices.Contains(os.Args[1:], "--json") || slices.Contains(os.Args[1:], "-json") {
			fmt.Fprintln(os.Stderr, errorJSON(err))
		} else {
			fmt.Fprintln(os.Stderr, errorLine(err))
		}
		os.Exit(1)
	}
}

// errorLine is the one line an operator reads when a command fails,
// prefixed once: a domain error shows its message (its Error form carries
// its own "novamed: CODE:" prefix, meant for logs), and a prefix the error
// already has is not repeated.
// errorJSON is the error as a --json caller reads it on stderr:
// {"error":{"code","message"}}, the code a domain error's or "error".
func errorJSON(err error) string {
	code := "error"
	var e *novamed.Error
	if errors.As(err, &e) {
		code = string(e.Code)
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": strings.TrimPrefix(errorLine(err), "novamed: ")}})
	return string(b)
}

func errorLine(err error) string {
	msg := err.Error()
	var e *novamed.Error
	if errors.As(err, &e) {
		msg = strings.Replace(msg, e.Error(), e.Message, 1)
	}
	for strings.HasPrefix(msg, "novamed: ") {
		msg = strings.TrimPrefix(msg, "novamed: ")
	}
	return "novamed: " + msg
}

// run is the whole program; tests call it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 {
		fmt.Fprint(stderr, overview(cmds, ""))
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		if len(args) == 1 || args[0] != "help" {
			fmt.Fprint(stdout, overview(cmds, ""))
			return nil
		}
		return run(ctx, append(slices.Clone(args[1:]), "--help"), getenv, stdout, stderr)
	case "--version", "-version":
		return run(ctx, append([]string{"version"}, args[1:]...), getenv, stdout, stderr)
	}
	cmd, rest, group := lookup(cmds, args)
	if cmd == nil && group != "" && (len(args) == 1 || strings.HasPrefix(args[1], "-")) {
		// A group alone (novamed keys) or with --help lists its commands.
		fmt.Fprint(stdout, overview(cmds, group))
		return nil
	}
	if cmd == nil {
		if group != "" {
			fmt.Fprint(stderr, overview(cmds, group))
			return fmt.Errorf("unknown command %q", args[0]+" "+args[1])
		}
		fmt.Fprint(stderr, overview(cmds, ""))
		return fmt.Errorf("unknown command %q", args[0])
	}
	if _, maintenance := maintenanceCommands[cmd.name]; !maintenance {
		ctx = withDirectNotice(ctx, stderr)
	}
	err := cmd.run(ctx, rest, getenv, stdout, stderr)
	var help *helpRequest
	if errors.As(err, &help) {
		fmt.Fprint(stdout, flagHelp(cmd, help.fs))
		return nil
	}
	return err
}
