// Command novamed is the NovaMed Partner API server and its operator CLI.
//
//	novamed serve                     run the API
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
// and, for scripts, --json.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/novamed/partner-api/internal/novamed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, errorLine(err))
		os.Exit(1)
	}
}

// errorLine is the one line an operator reads when a command fails,
// prefixed once: a domain error shows its message (its Error form carries
// its own "novamed: CODE:" prefix, meant for logs), and a prefix the error
// already has is not repeated.
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

const usageText = `usage: novamed <command> [flags]

commands:
  serve                                   run the Partner API
  clinics create --name NAME              create a clinic
  clinics list                            list clinics
  clinics update CLINIC_ID --free-shipping true|false
  keys create --clinic ID [--clinic ID…] [--name N] [--env E] [--expires-in D] [--rate-limit N]
  keys list [--clinic ID]                 list keys (never the keys themselves)
  keys revoke KEY_ID                      revoke a key (a running server refuses it within 2s)
  keys roll KEY_ID [--grace 24h]          issue a successor; the old key works until the grace ends
  keys update KEY_ID --rate-limit N       set a key's requests per minute (0: environment default)
  keys usage KEY_ID [--days 30]           a key's requests by day, route and status class
  security events [--since T]             anomalies: new networks, rate spikes, leaked or revoked keys
  orders advance ORDER_ID --to STATUS [--tracking-number N --carrier C --label-url U]
  orders cancel ORDER_ID                  cancel an order before it ships
  orders cancel-shipment ORDER_ID --reason TEXT   cancel a shipped order's shipment (back to filled)
  practitioners activate ID               mark a verified practitioner active
  webhooks deliveries [--webhook ID] [--status failed]   the delivery log
  webhooks retry DELIVERY_ID              send a delivery once more
  webhooks rotate WEBHOOK_ID [--overlap 24h]  new verification token and signing secret; the old ones serve during the overlap
  events list --clinic ID [--after EVENT_ID]  a clinic's events (the webhook outbox)
  carriers list                           show the carrier catalogue
  carriers import --file F                replace the catalogue ({"carriers":[…]} as carriers list --json prints)
  formulary list --clinic ID              the medications a clinic may order
  formulary import --clinic ID --file F   replace a clinic's formulary ({"medications":[…]} as formulary list --json prints)
  formulary set --clinic ID --name N [--strength S…] [--unit U] [--refrigerated]   add or replace one medication
  formulary remove --clinic ID --name N   take one medication out
  crypto rotate --new-key-file F          add F as the next master key version, re-seal all PHI and re-key the blind indexes (resumable)
  crypto status                           PHI values per master key version
  audit verify [--checkpoint FILE]        check the audit hash chain (and that it reaches and matches signed checkpoints)
  audit checkpoint [--public-key]         print one signed checkpoint of the chain head (or the key that verifies them)
  audit export [--since T] [--until T]    write audit records as JSON lines (window on the hashed time)

common flags: --data-dir DIR --db URL --env development|production --json
`

// run is the whole program; tests call it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return fmt.Errorf("no command given")
	}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 && cmd != "serve" {
		sub, rest = rest[0], rest[1:]
	}
	switch cmd + " " + sub {
	case "serve ":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "clinics create":
		return clinicsCreate(ctx, rest, getenv, stdout)
	case "clinics list":
		return clinicsList(ctx, rest, getenv, stdout)
	case "keys create":
		return keysCreate(ctx, rest, getenv, stdout)
	case "keys list":
		return keysList(ctx, rest, getenv, stdout)
	case "keys revoke":
		return keysRevoke(ctx, rest, getenv, stdout)
	case "keys roll":
		return keysRoll(ctx, rest, getenv, stdout)
	case "keys usage":
		return keysUsage(ctx, rest, getenv, stdout)
	case "security events":
		return securityEvents(ctx, rest, getenv, stdout)
	case "keys update":
		return keysUpdate(ctx, rest, getenv, stdout)
	case "clinics update":
		return clinicsUpdate(ctx, rest, getenv, stdout)
	case "orders advance":
		return ordersAdvance(ctx, rest, getenv, stdout)
	case "orders cancel":
		return ordersCancel(ctx, rest, getenv, stdout)
	case "orders cancel-shipment":
		return ordersCancelShipment(ctx, rest, getenv, stdout)
	case "practitioners activate":
		return practitionersActivate(ctx, rest, getenv, stdout)
	case "webhooks deliveries":
		return webhooksDeliveries(ctx, rest, getenv, stdout)
	case "webhooks retry":
		return webhooksRetry(ctx, rest, getenv, stdout)
	case "webhooks rotate":
		return webhooksRotate(ctx, rest, getenv, stdout)
	case "events list":
		return eventsList(ctx, rest, getenv, stdout)
	case "carriers list":
		return carriersList(ctx, rest, getenv, stdout)
	case "carriers import":
		return carriersImport(ctx, rest, getenv, stdout)
	case "formulary list":
		return formularyList(ctx, rest, getenv, stdout)
	case "formulary import":
		return formularyImport(ctx, rest, getenv, stdout)
	case "formulary set":
		return formularySet(ctx, rest, getenv, stdout)
	case "formulary remove":
		return formularyRemove(ctx, rest, getenv, stdout)
	case "crypto rotate":
		return cryptoRotate(ctx, rest, getenv, stdout)
	case "crypto status":
		return cryptoStatus(ctx, rest, getenv, stdout)
	case "audit verify":
		return auditVerify(ctx, rest, getenv, stdout)
	case "audit export":
		return auditExport(ctx, rest, getenv, stdout)
	case "audit checkpoint":
		return auditCheckpoint(ctx, rest, getenv, stdout)
	case "help ", "-h ", "--help ":
		fmt.Fprint(stdout, usageText)
		return nil
	}
	fmt.Fprint(stderr, usageText)
	return fmt.Errorf("unknown command %q", cmd+" "+sub)
}
