package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// TestPublishedExamples sends every example of NovaMed's published partner
// pages (testdata/published-examples.json) to a fresh development server,
// substituting only the host, the key and ids, and checks the documented
// status and the keys of data and error. Messages are compared only where
// the contract (§2, §8) lists them, since the pages contradict each other on
// some texts.
//
// Each page (and the partner OpenAPI document) runs as one flow, as a partner
// following it would: every clinic id it names stands for a fresh clinic of
// its own, and a resource id it names is either the id the server answered
// for an earlier example of the page (the documented response says which),
// or a resource created for it in the clinic of the request. The
// carrier-services example names the fictitious development patient
// 01aabf3a-…, which a development server holds, so that example is sent as
// published with the development key.
//
// Every block must be classified; one the test cannot classify fails it, so
// a new example in the pages is never silently ignored.
func TestPublishedExamples(t *testing.T) {
	t.Parallel()
	ex := loadPublished(t)
	ts := startServer(t, "development", "--sandbox", "off")
	counts := map[string]int{}
	count := func(kind string) { counts[kind]++ }

	byPage := map[string][]pageBlock{}
	var pageOrder []string
	for _, b := range ex.Blocks {
		if _, ok := byPage[b.Page]; !ok {
			pageOrder = append(pageOrder, b.Page)
		}
		byPage[b.Page] = append(byPage[b.Page], b)
	}
	for _, page := range pageOrder {
		t.Run(page, func(t *testing.T) {
			f := newPublishedFlow(t, ts, page)
			var last *sentExample // the request of the block just before, not yet paired with a documented answer
			for _, b := range byPage[page] {
				where := fmt.Sprintf("%s:%d", b.Page, b.Line)
				kind, err := classifyBlock(b)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				count(kind)
				if kind != "response" && kind != "curl" {
					last = nil // a documented answer belongs to the request right before it
				}
				switch kind {
				case "curl":
					for _, c := range splitCurls(b.Text) {
						cmd, err := parseCurl(c)
						if err != nil {
							t.Errorf("%s: %v", where, err)
							continue
						}
						if cmd.elided {
							count("curl, elided (not sendable as printed)")
							continue
						}
						if last != nil && last.pendingDefault {
							f.check(where, last, map[string]any{"success": true}) // no documented answer: success
						}
						last = f.send(where, cmd)
						last.pendingDefault = true
					}
				case "response":
					var doc map[string]any
					mustJSON(t, b.Text, &doc)
					if last != nil { // the answer to the request before (a request may show several)
						f.check(where, last, doc)
						last.pendingDefault = false
						continue
					}
					f.scenario(where, doc)
				case "event":
					var doc map[string]any
					mustJSON(t, b.Text, &doc)
					checkEvent(t, where, doc)
				case "headers":
					f.checkHeaders(where, b.Text)
				}
			}
			if last != nil && last.pendingDefault {
				f.check(last.where, last, map[string]any{"success": true})
			}
		})
	}

	t.Run("openapi-partner.yaml", func(t *testing.T) {
		f := newPublishedFlow(t, ts, "openapi-partner.yaml")
		for _, op := range ex.Operations {
			where := op.Method + " " + op.Path
			var ok []namedExample
			for _, r := range op.Responses {
				if r.Status == "200" {
					ok = append(ok, r)
				}
			}
			requests := op.Requests
			if len(requests) == 0 { // an operation without a body: its parameters' examples
				requests = []namedExample{{Name: "parameters"}}
			}
			for _, req := range requests {
				cmd := curlCommand{method: op.Method, path: op.Path, header: map[string]string{"x-api-key": "your-api-key-here"}}
				q := url.Values{}
				for name, v := range op.Params {
					if strings.Contains(cmd.path, "{"+name+"}") {
						cmd.path = strings.ReplaceAll(cmd.path, "{"+name+"}", v)
					} else {
						q.Set(name, v)
					}
				}
				if len(q) > 0 {
					cmd.path += "?" + q.Encode()
				}
				if req.Value != nil {
					b, _ := json.Marshal(req.Value)
					cmd.body, cmd.header["Content-Type"] = string(b), "application/json"
				}
				count("openapi request")
				sent := f.send(where+" "+req.Name, cmd)
				for _, r := range ok {
					f.check(where+" response "+r.Name, sent, r.Value.(map[string]any))
				}
				if len(ok) == 0 {
					f.check(where, sent, map[string]any{"success": true})
				}
			}
			for _, r := range op.Responses {
				if r.Status != "200" {
					count("openapi error example")
					doc := r.Value.(map[string]any)
					if got := fmt.Sprint(scenarioStatus(doc)); got != r.Status {
						t.Errorf("%s %s %s: the scenario for %q answers %s", where, r.Status, r.Name, errorMessage(doc), got)
					}
					f.scenario(where+" "+r.Status+" "+r.Name, doc)
				}
			}
		}
	})

	kinds := make([]string, 0, len(counts))
	for k, n := range counts {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(kinds)
	t.Logf("published examples: %s", strings.Join(kinds, ", "))
	if counts["curl"] == 0 || counts["openapi request"] == 0 {
		t.Fatal("no example was sent: the fixture is empty or unreadable")
	}
}

// classifyBlock names what a code block of the pages is. Code in other
// languages (the receivers and helpers of the guides) is not sent: it is
// counted, and the receivers' header check is covered by the webhook tests.
func classifyBlock(b pageBlock) (string, error) {
	text := strings.TrimSpace(b.Text)
	switch b.Lang {
	case "bash":
		if strings.Contains(text, "curl ") {
			return "curl", nil
		}
		if strings.Contains(text, "/api/") {
			return "", fmt.Errorf("a shell block that names the API without curl: cannot classify")
		}
		return "shell command (not an API request)", nil
	case "json":
		if strings.Contains(text, "//") || strings.Contains(text, "...") {
			return illustrative(text)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(text), &doc); err != nil {
			return "", fmt.Errorf("a JSON block that does not parse: %v", err)
		}
		switch {
		case doc["event_name"] != nil:
			return "event", nil
		case doc["success"] != nil:
			return "response", nil
		}
		return "", fmt.Errorf("a JSON block that is neither a response nor an event: cannot classify")
	case "python", "javascript":
		return "code sample (" + b.Lang + ")", nil
	case "":
		for _, l := range strings.Split(text, "\n") {
			if !regexp.MustCompile(`^[A-Za-z-]+: \S+$`).MatchString(l) {
				return "", fmt.Errorf("a plain block that is not a list of headers: cannot classify")
			}
		}
		return "headers", nil
	}
	return "", fmt.Errorf("a %q block: cannot classify", b.Lang)
}

// illustrative classifies JSON with comments or elisions: a shape shown for
// its keys, never sent.
func illustrative(text string) (string, error) {
	switch {
	case strings.Contains(text, `"event_name"`):
		return "event shape (illustrative)", nil
	case strings.Contains(text, `"success"`):
		return "response shape (illustrative)", nil
	case strings.Contains(text, `"clinic_id"`):
		return "request fragment (elided)", nil
	}
	return "", fmt.Errorf("an illustrative JSON block of unknown kind")
}

func mustJSON(t *testing.T, text string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(text), v); err != nil {
		t.Fatalf("decode %q: %v", text, err)
	}
}

// curlCommand is one curl invocation of a page.
type curlCommand struct {
	method, path string // path with query
	header       map[string]string
	body         string
	elided       bool // the page shortened it ("...")
}

// splitCurls returns the curl commands of a shell block, continuation lines
// joined and comments dropped.
func splitCurls(text string) []string {
	var cmds []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#") || !strings.Contains(trimmed, "curl ")) {
			continue
		}
		cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
		cur.WriteString("\n")
		_, err := shellWords(cur.String())
		if !strings.HasSuffix(trimmed, "\\") && err == nil { // the command ends with the line, outside quotes
			cmds = append(cmds, cur.String())
			cur.Reset()
		}
	}
	if cur.Len() > 0 {
		cmds = append(cmds, cur.String())
	}
	return cmds
}

// shellWords splits a command line as a POSIX shell would for the quoting the
// pages use (single and double quotes, no escapes inside single quotes).
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unbalanced quote in %q", s)
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}

func parseCurl(s string) (curlCommand, error) {
	words, err := shellWords(s)
	if err != nil {
		return curlCommand{}, err
	}
	c := curlCommand{header: map[string]string{}}
	for i := 0; i < len(words); i++ {
		w := words[i]
		next := func() string {
			if i+1 < len(words) {
				i++
				return words[i]
			}
			return ""
		}
		switch {
		case w == "curl":
		case w == "-X":
			c.method = next()
		case w == "-H":
			h := next()
			name, value, _ := strings.Cut(h, ":")
			c.header[strings.TrimSpace(name)] = strings.TrimSpace(value)
		case w == "-d" || w == "--data":
			c.body = next()
		case w == "...":
			c.elided = true
		case strings.HasPrefix(w, "http://") || strings.HasPrefix(w, "https://"):
			u, err := url.Parse(w)
			if err != nil {
				return c, err
			}
			c.path = u.RequestURI()
		default:
			return c, fmt.Errorf("curl argument %q: cannot classify", w)
		}
	}
	if strings.Contains(c.body, "...") || strings.Contains(c.header["x-api-key"], "$") {
		c.elided = true
	}
	if c.method == "" {
		c.method = "GET"
		if c.body != "" {
			c.method = "POST"
		}
	}
	if c.path == "" && !c.elided {
		return c, fmt.Errorf("curl without a URL")
	}
	return c, nil
}

// idRole names what an id field of a request or answer refers to.
func idRole(field, path string) string {
	switch field {
	case "clinic_id", "assigned_clinic":
		return "clinic"
	case "practitioner_id":
		return "practitioner"
	case "patient_id", "patientId":
		return "patient"
	case "medication_request_id":
		return "medication_request"
	case "webhook_id":
		return "webhook"
	case "id":
		if strings.HasPrefix(path, "/api/external/webhook") {
			return "webhook"
		}
	}
	return ""
}

// devPatient is the fictitious patient of the carrier-services example,
// held by every development server in the demo clinic.
const devPatient = "01aabf3a-51cd-4180-be17-8ac9446e9ace"

// publishedFlow runs one page's examples against the server.
type publishedFlow struct {
	t    *testing.T
	ts   *testServer
	page string
	ids  map[string]string // role + " " + documented id → the server's id
	// orders maps a medication request the flow created to its order, so
	// that a refill example can have the pharmacy ship it first, as the
	// pages assume between ordering and refilling.
	orders  map[string]string
	shipped map[string]bool
	all     []string // every clinic of the flow
	key     string   // a key for all of them, refreshed as clinics appear
	seq     int
}

func newPublishedFlow(t *testing.T, ts *testServer, page string) *publishedFlow {
	return &publishedFlow{t: t, ts: ts, page: page, ids: map[string]string{},
		orders: map[string]string{}, shipped: map[string]bool{}}
}

// clinic returns the fresh clinic that a documented clinic id stands for.
func (f *publishedFlow) clinic(documented string) string {
	if id, ok := f.ids["clinic "+documented]; ok {
		return id
	}
	f.seq++
	id := f.ts.newClinic(fmt.Sprintf("%s clinic %d", f.page, f.seq))
	f.ids["clinic "+documented] = id
	f.all = append(f.all, id)
	args := []string{"--name", "published " + f.page}
	for _, c := range f.all {
		args = append(args, "--clinic", c)
	}
	f.key = f.ts.newKey(args...).Key
	return id
}

// resource returns the server's id for a documented resource id, creating
// the resource in clinic when the page did not create it earlier.
func (f *publishedFlow) resource(role, documented, clinic string) string {
	if id, ok := f.ids[role+" "+documented]; ok {
		if order := f.orders[id]; role == "medication_request" && !f.shipped[order] {
			f.ship(order)
		}
		return id
	}
	if role == "patient" && documented == devPatient {
		return devPatient
	}
	var id string
	switch role {
	case "clinic":
		return f.clinic(documented)
	case "practitioner":
		id = f.newPractitioner(clinic)
	case "patient":
		id = f.newPatient(clinic, "CA")
	case "medication_request":
		_, id = f.shippedOrder(clinic)
	case "webhook":
		id = f.newWebhook(clinic)
	default:
		f.t.Fatalf("no way to create a %s", role)
	}
	f.ids[role+" "+documented] = id
	return id
}

func (f *publishedFlow) create(path string, body map[string]any, idField string) string {
	f.t.Helper()
	r := f.ts.req("POST", path, f.key, body)
	expectOK(f.t, r)
	var data map[string]any
	r.data(f.t, &data)
	id, _ := data[idField].(string)
	if id == "" {
		f.t.Fatalf("POST %s answered no %s: %s", path, idField, r.Body)
	}
	return id
}

func (f *publishedFlow) newPractitioner(clinic string) string {
	f.seq++
	return f.create("/api/external/practitioner", map[string]any{
		"clinic_id": clinic, "first_name": "Prescriber", "last_name": fmt.Sprintf("Number%d", f.seq),
		"email": fmt.Sprintf("prescriber%d@clinic.test", f.seq), "npi": fmt.Sprintf("19%08d", f.seq),
	}, "practitioner_id")
}

func (f *publishedFlow) newPatient(clinic, state string) string {
	f.seq++
	body := map[string]any{"clinic_id": clinic, "first_name": "Pat", "last_name": fmt.Sprintf("Number%d", f.seq),
		"date_of_birth": "1980-01-01"}
	if state != "" {
		body["address"] = map[string]any{"line1": "1 Test St", "city": "Testville", "state": state, "zip": "94102"}
	}
	return f.create("/api/external/patient", body, "patient_id")
}

// order creates an order in clinic; it answers the order and its first
// medication request.
func (f *publishedFlow) order(clinic string) (string, string) {
	f.t.Helper()
	r := f.ts.req("POST", "/api/external/medication-order", f.key, map[string]any{
		"clinic_id": clinic, "patient_id": f.newPatient(clinic, "CA"), "practitioner_id": f.newPractitioner(clinic),
		"carrier_id": "se-3818360", "service_id": "fedex_ground",
		"medication_requests": []any{map[string]any{"medication": "Testosterone Cypionate", "dose": "200mg/ml",
			"quantity": 1, "refills": "3", "direction": "Inject 0.5ml intramuscularly twice weekly"}},
	})
	expectOK(f.t, r)
	var a struct {
		Order   string `json:"medication_order_id"`
		Request string `json:"medication_request_id"`
	}
	r.data(f.t, &a)
	return a.Order, a.Request
}

func (f *publishedFlow) shippedOrder(clinic string) (string, string) {
	order, request := f.order(clinic)
	f.ship(order)
	return order, request
}

// ship walks an order to shipped through the operator commands, as
// NovaMed's pharmacy does.
func (f *publishedFlow) ship(order string) {
	f.t.Helper()
	f.shipped[order] = true
	for _, st := range []string{"verified", "submitted", "acknowledged", "filled", "shipped"} {
		args := []string{"orders", "advance", order, "--to", st}
		if st == "shipped" {
			args = append(args, "--tracking-number", "TRK"+order[:8])
		}
		f.ts.mustCLI(nil, args...)
	}
}

func (f *publishedFlow) newWebhook(clinic string) string {
	return f.create("/api/external/webhook", map[string]any{"clinic_id": clinic, "webhook_url": "http://127.0.0.1:9/published"}, "webhook_id")
}

// substitute replaces the documented ids of a request body by the server's.
// Clinic ids first, since the other resources are made in the request's
// clinic.
func (f *publishedFlow) substitute(body map[string]any, path string) {
	clinic := ""
	for _, k := range []string{"clinic_id", "assigned_clinic"} {
		if v, ok := body[k].(string); ok {
			body[k] = f.clinic(v)
			clinic = body[k].(string)
		}
	}
	if clinic == "" {
		clinic = f.clinic("default")
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok {
					if role := idRole(k, path); role != "" && role != "clinic" {
						x[k] = f.resource(role, s, clinic)
						continue
					}
				}
				x[k] = walk(e)
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		}
		return v
	}
	walk(body)
}

// sentExample is a request sent and its answer.
type sentExample struct {
	where          string
	cmd            curlCommand
	resp           *response
	pendingDefault bool
}

func (f *publishedFlow) send(where string, cmd curlCommand) *sentExample {
	f.t.Helper()
	u, err := url.Parse(cmd.path)
	if err != nil {
		f.t.Fatalf("%s: %v", where, err)
	}
	devKey := false
	q := u.Query()
	for name, vs := range q {
		if role := idRole(name, u.Path); role != "" {
			if role == "patient" && vs[0] == devPatient {
				devKey = true // the development key holds the demo clinic
				continue
			}
			q.Set(name, f.resource(role, vs[0], f.clinic("default")))
		}
	}
	u.RawQuery = q.Encode()
	var body any
	if cmd.body != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(cmd.body), &m); err != nil {
			f.t.Fatalf("%s: the body is not JSON: %v", where, err)
		}
		f.substitute(m, u.Path)
		body = m
	}
	f.clinic("default")
	key := f.key // after the substitution, which may have added clinics to it
	if devKey {
		key = f.ts.Key
	}
	var hdr []string
	for name, v := range cmd.header {
		if strings.EqualFold(name, "x-api-key") {
			continue
		}
		hdr = append(hdr, name, v)
	}
	r := f.ts.req(cmd.method, u.RequestURI(), key, body, hdr...)
	return &sentExample{where: where, cmd: cmd, resp: r}
}

// contractMessages are the messages the contract fixes (§2, §8); a page's
// message is compared only when it is one of them.
var contractMessages = []string{
	"Unauthorized. This can happen if the access token is invalid, expired or has been revoked",
	"Clinic not found", "Clinic ID must be a valid UUID.", "Resource not found",
	"Medication request not found", "Refills are not possible for pending medication requests",
	"Refill request already exists", "Service not available",
	"Practitioner created successfully", "Patient created successfully",
	"Medication request created successfully", "Refill request was created successfully.",
	"Webhook created successfully", "Webhook deleted successfully",
}

func errorMessage(doc map[string]any) string {
	e, _ := doc["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// scenarioStatus is the status of a documented answer.
func scenarioStatus(doc map[string]any) int {
	if doc["success"] == true {
		return 200
	}
	switch m := errorMessage(doc); {
	case strings.HasPrefix(m, "Unauthorized"):
		return 401
	case m == "Resource not found":
		return 404
	case strings.HasPrefix(m, "Rate limit exceeded"):
		return 429
	}
	return 400
}

// check compares an answer with a documented answer: the status, the keys of
// the envelope, of data (or of each item of data) and of error, the message
// where the contract fixes it, and it learns the ids the answer gave.
func (f *publishedFlow) check(where string, sent *sentExample, doc map[string]any) {
	f.t.Helper()
	r := sent.resp
	want := scenarioStatus(doc)
	if r.Status != want {
		f.t.Errorf("%s (%s %s): status %d, the page documents %d\n%s", where, sent.cmd.method, sent.cmd.path, r.Status, want, r.Body)
		return
	}
	// Every field of a published body is one the API reads (issue 25): an
	// accepted variant is never reported as ignored.
	if v := r.Header.Get("NovaMed-Ignored-Fields"); v != "" {
		f.t.Errorf("%s (%s %s): the API ignored fields of the published body: %s", where, sent.cmd.method, sent.cmd.path, v)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		f.t.Errorf("%s: answer is not JSON: %s", where, r.Body)
		return
	}
	compareKeys(f.t, where, doc, got)
	if m, ok := doc["message"].(string); ok && slices.Contains(contractMessages, m) && got["message"] != m {
		f.t.Errorf("%s: message %q, the contract says %q", where, got["message"], m)
	}
	if m := errorMessage(doc); slices.Contains(contractMessages, m) && !messageMatches(m, errorMessage(got)) {
		f.t.Errorf("%s: error message %q, the contract says %q", where, errorMessage(got), m)
	}
	// Learn the ids: later examples of the page name them.
	if d, ok := doc["data"].(map[string]any); ok {
		g, _ := got["data"].(map[string]any)
		for k, v := range d {
			s, ok := v.(string)
			if role := idRole(k, sent.cmd.path); ok && role != "" && role != "clinic" {
				if real, ok := g[k].(string); ok {
					f.ids[role+" "+s] = real
					if order, ok := g["medication_order_id"].(string); ok && role == "medication_request" {
						f.orders[real] = order
					}
				}
			}
		}
	}
}

func messageMatches(want, got string) bool {
	if want == "Resource not found" {
		return got == want || strings.HasSuffix(got, " not found")
	}
	return got == want
}

// compareKeys checks that every key the page documents is in the answer, at
// the top, in data (object, or each item of a list) and in error.
func compareKeys(t *testing.T, where string, doc, got map[string]any) {
	t.Helper()
	missing := func(scope string, want, have map[string]any) {
		for k := range want {
			if _, ok := have[k]; !ok {
				t.Errorf("%s: %s has no %q, which the page documents; answer: %v", where, scope, k, got)
			}
		}
	}
	missing("the envelope", doc, got)
	switch d := doc["data"].(type) {
	case map[string]any:
		g, _ := got["data"].(map[string]any)
		missing("data", d, g)
	case []any:
		g, _ := got["data"].([]any)
		if len(d) > 0 && len(g) == 0 {
			t.Errorf("%s: data is empty, the page documents %d items", where, len(d))
		}
		for i, item := range d {
			w, _ := item.(map[string]any)
			for _, gi := range g {
				h, _ := gi.(map[string]any)
				missing(fmt.Sprintf("data[%d]", i), w, h)
			}
		}
	}
	if e, ok := doc["error"].(map[string]any); ok {
		g, _ := got["error"].(map[string]any)
		missing("error", e, g)
	}
}

// scenario provokes the error a page documents without a request and checks
// the answer against it. Every documented message needs a scenario.
func (f *publishedFlow) scenario(where string, doc map[string]any) {
	f.t.Helper()
	clinic := f.clinic("default")
	var sent *sentExample
	post := func(path string, body map[string]any, key string) *sentExample {
		return &sentExample{where: where, cmd: curlCommand{method: "POST", path: path}, resp: f.ts.req("POST", path, key, body)}
	}
	switch m := errorMessage(doc); {
	case doc["success"] == true:
		f.t.Errorf("%s: a documented success without its request: cannot classify", where)
		return
	case strings.HasPrefix(m, "Unauthorized"):
		sent = post("/api/external/practitioner", map[string]any{"clinic_id": clinic}, "dev_not-a-key")
	case m == "Clinic ID must be a valid UUID.":
		sent = post("/api/external/patient", map[string]any{"clinic_id": "my-clinic", "first_name": "Al", "last_name": "Bo", "dob": "1980-01-01"}, f.key)
	case m == "Clinic not found":
		sent = post("/api/external/patient", map[string]any{"clinic_id": "5f0c8e8a-0000-4000-8000-000000000000", "first_name": "Al", "last_name": "Bo", "dob": "1980-01-01"}, f.key)
	case m == "Resource not found":
		path := "/api/external/patient/5f0c8e8a-0000-4000-8000-000000000000"
		sent = &sentExample{where: where, cmd: curlCommand{method: "GET", path: path}, resp: f.ts.req("GET", path, f.key, nil)}
	case m == "Medication request not found":
		sent = post("/api/external/refill-request", map[string]any{"medication_request_id": "5f0c8e8a-0000-4000-8000-000000000000"}, f.key)
	case m == "Refills are not possible for pending medication requests":
		_, req := f.order(clinic)
		sent = post("/api/external/refill-request", map[string]any{"medication_request_id": req}, f.key)
	case m == "Refill request already exists":
		_, req := f.shippedOrder(clinic)
		expectOK(f.t, f.ts.req("POST", "/api/external/refill-request", f.key, map[string]any{"medication_request_id": req}))
		sent = post("/api/external/refill-request", map[string]any{"medication_request_id": req}, f.key)
	case m == "Service not available":
		path := "/api/external/carriers/se-3818360/services?patientId=" + f.newPatient(clinic, "")
		sent = &sentExample{where: where, cmd: curlCommand{method: "GET", path: path}, resp: f.ts.req("GET", path, f.key, nil)}
	case strings.HasPrefix(m, "Rate limit exceeded"):
		f.rateLimited(where, doc)
		return
	case m == "Human-readable error message" || m == "Invalid request parameters":
		// The pages' generic error shape: any validation error shows it.
		sent = post("/api/external/patient", map[string]any{"clinic_id": clinic}, f.key)
		delete(doc, "success") // the shape's keys are checked; its status is any 400
		doc = map[string]any{"success": false, "error": map[string]any{"message": m}}
	default:
		f.t.Errorf("%s: a documented error %q without a scenario: cannot classify", where, m)
		return
	}
	f.check(where, sent, doc)
}

// rateLimited exhausts a key's limit and compares the 429 with the page's.
func (f *publishedFlow) rateLimited(where string, doc map[string]any) {
	f.t.Helper()
	clinic := f.ts.newClinic("rate limited " + f.page)
	k := f.ts.newKey("--clinic", clinic, "--rate-limit", "1")
	var r *response
	for i := 0; i < 3; i++ {
		r = f.ts.req("GET", "/api/external/me", k.Key, nil)
		if r.Status == 429 {
			break
		}
	}
	if r.Status != 429 {
		f.t.Errorf("%s: three requests on a key limited to 1/min: %d", where, r.Status)
		return
	}
	var got map[string]any
	_ = json.Unmarshal(r.Body, &got)
	compareKeys(f.t, where, doc, got)
	if !regexp.MustCompile(`^Rate limit exceeded\. Please retry after (1 second|([2-9]|[1-9][0-9]+) seconds)\.$`).MatchString(errorMessage(got)) {
		f.t.Errorf("%s: 429 message %q is not the contract's", where, errorMessage(got))
	}
	if r.Header.Get("Retry-After") == "" {
		f.t.Errorf("%s: 429 without Retry-After", where)
	}
}

// checkHeaders checks that the headers a page lists come with an
// authenticated answer.
func (f *publishedFlow) checkHeaders(where, text string) {
	f.t.Helper()
	f.clinic("default")
	r := f.ts.req("GET", "/api/external/me", f.key, nil)
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		name, _, _ := strings.Cut(l, ":")
		if r.Header.Get(name) == "" {
			f.t.Errorf("%s: the answer has no %s header", where, name)
		}
	}
}

// checkEvent compares a documented webhook payload with the event's schema
// in our OpenAPI document (the webhook tests deliver every event for real
// and validate it against that schema).
func checkEvent(t *testing.T, where string, doc map[string]any) {
	t.Helper()
	name, _ := doc["event_name"].(string)
	props, ok := eventDataProperties(t)[name]
	if !ok {
		t.Errorf("%s: event %q is not one we send", where, name)
		return
	}
	data, _ := doc["event_data"].(map[string]any)
	for k := range data {
		if !slices.Contains(props, k) {
			t.Errorf("%s: event %s documents event_data.%s, which our document's schema does not have (%v)", where, name, k, props)
		}
	}
}

// eventDataProperties reads the event_data properties of each webhook event
// of api/openapi.yaml, following $ref and allOf.
func eventDataProperties(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var resolve func(v any) map[string]any
	resolve = func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			var cur any = doc
			for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				cur = cur.(map[string]any)[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
			}
			return resolve(cur)
		}
		return m
	}
	var properties func(schema map[string]any) map[string]any
	properties = func(schema map[string]any) map[string]any {
		out := map[string]any{}
		if p, ok := schema["properties"].(map[string]any); ok {
			for k, v := range p {
				out[k] = v
			}
		}
		for _, key := range []string{"allOf", "oneOf", "anyOf"} {
			list, _ := schema[key].([]any)
			for _, s := range list {
				for k, v := range properties(resolve(s)) {
					out[k] = v
				}
			}
		}
		return out
	}
	events := map[string][]string{}
	hooks, _ := doc["webhooks"].(map[string]any)
	for name, item := range hooks {
		post := resolve(resolve(item)["post"])
		body := resolve(post["requestBody"])
		content, _ := body["content"].(map[string]any)
		media := resolve(content["application/json"])
		top := properties(resolve(media["schema"]))
		for k := range properties(resolve(top["event_data"])) {
			events[name] = append(events[name], k)
		}
	}
	if len(events) == 0 {
		t.Fatal("no webhook events found in api/openapi.yaml")
	}
	return events
}
