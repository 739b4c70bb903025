package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
)

// PartnerStore is what the partner and key pages need: the onboarding
// actions' store (the same one the admin API and the CLI use) and keys.
type PartnerStore interface {
	onboarding.Store
	ListAPIKeys(ctx context.Context, clinicID string) ([]*novamed.APIKey, error)
	GetAPIKey(ctx context.Context, id string) (*novamed.APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) (*novamed.APIKey, error)
	RollAPIKey(ctx context.Context, id string, next *novamed.APIKey, graceUntil time.Time) (*novamed.APIKey, error)
}

// actor is the onboarding actor of a console request.
func (c *Console) actor(q *req) onboarding.Actor {
	return onboarding.Actor{ID: "operator:" + q.s.op.ID, RequestID: newRequestID(), Addr: c.clientAddr(q.r), Via: "console"}
}

func (c *Console) deps() onboarding.Deps { return onboarding.Deps{Env: c.cfg.Env, Now: c.cfg.Now} }

type partnerRow struct {
	*novamed.Partner
	BAAState  string
	ExpiresIn int // days until the BAA expires (-1: no expiry)
}

type partnersData struct {
	Query, Status  string
	Items          []partnerRow
	Prev, Next     string
	Total, Showing int
}

func (c *Console) partnerRow(p *novamed.Partner) partnerRow {
	r := partnerRow{Partner: p, BAAState: p.BAAState(c.now()), ExpiresIn: -1}
	if p.BAA != nil {
		if e := p.BAA.ExpiresAt(); e != nil && r.BAAState == "on record" {
			r.ExpiresIn = int(e.Sub(c.now()).Hours() / 24)
		}
	}
	return r
}

// partners lists partners, searched by name or id and filtered by status.
func (c *Console) partners(q *req) error {
	qs := q.r.URL.Query()
	d := &partnersData{Query: strings.TrimSpace(qs.Get("q")), Status: qs.Get("status")}
	all, err := c.cfg.Partners.ListPartners(q.r.Context())
	if err != nil {
		return err
	}
	needle := strings.ToLower(d.Query)
	var rows []partnerRow
	for _, p := range all {
		if needle != "" && !strings.Contains(strings.ToLower(p.Name), needle) && p.ID != needle {
			continue
		}
		if d.Status != "" && string(p.Status) != d.Status {
			continue
		}
		rows = append(rows, c.partnerRow(p))
	}
	offset, _ := strconv.Atoi(qs.Get("offset"))
	offset = max(0, min(offset, len(rows)))
	end := min(offset+pageSize, len(rows))
	d.Items, d.Total, d.Showing = rows[offset:end], len(rows), end-offset
	page := func(o int) string {
		v := url.Values{"offset": {strconv.Itoa(o)}}
		if d.Query != "" {
			v.Set("q", d.Query)
		}
		if d.Status != "" {
			v.Set("status", d.Status)
		}
		return Prefix + "/partners?" + v.Encode()
	}
	if offset > 0 {
		d.Prev = page(max(0, offset-pageSize))
	}
	if end < len(rows) {
		d.Next = page(end)
	}
	c.render(q.w, q.r, http.StatusOK, "partners", c.newView(q.r, q.s, "Partners", d))
	return nil
}

type newPartnerData struct {
	Name, Contacts string
	Errors         map[string]string
}

func (c *Console) newPartnerPage(q *req) error {
	c.render(q.w, q.r, http.StatusOK, "partner_new", c.newView(q.r, q.s, "New partner", &newPartnerData{Errors: map[string]string{}}))
	return nil
}

// createPartner is the onboarding flow's first step.
func (c *Console) createPartner(q *req) error {
	d := &newPartnerData{Name: q.r.PostFormValue("name"), Contacts: q.r.PostFormValue("contacts"), Errors: map[string]string{}}
	p, err := onboarding.CreatePartner(q.r.Context(), c.cfg.Partners, c.deps(), c.actor(q),
		onboarding.CreatePartnerInput{Name: d.Name, Contacts: lines(d.Contacts)})
	if msg, ok := invalid(err); ok {
		field := "name"
		if strings.Contains(strings.ToLower(msg), "contact") {
			field = "contacts"
		}
		d.Errors[field] = msg
		c.render(q.w, q.r, http.StatusUnprocessableEntity, "partner_new", c.newView(q.r, q.s, "New partner", d))
		return nil
	}
	if err != nil {
		return err
	}
	c.redirect(q.w, q.r, Prefix+"/partners/"+p.ID+"?done=created")
	return nil
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// invalid returns the message of a validation error (a client mistake to
// show beside a field).
func invalid(err error) (string, bool) {
	var de *novamed.Error
	if errors.As(err, &de) && statusOf(de.Code) < 500 && de.Code != novamed.CodeNotFound {
		return de.Message, true
	}
	return "", false
}

// fieldOf picks the form field an error message names first (by its
// name, or the name with spaces), or the first field.
func fieldOf(msg string, pairs ...string) string {
	low := strings.ToLower(msg)
	best, at := "", len(low)+1
	for i := 0; i+1 < len(pairs); i += 2 {
		for _, w := range pairs[i : i+2] {
			if j := strings.Index(low, w); j >= 0 && j < at {
				best, at = pairs[i], j
			}
		}
	}
	if best == "" && len(pairs) > 0 {
		return pairs[0]
	}
	return best
}

// refill copies the posted fields into a page's form, to show them again
// with a validation error, and returns the field msg names (fieldOf, a
// field's name read with spaces for underscores too).
func refill(r *http.Request, form map[string]string, fields []string, msg string) string {
	pairs := make([]string, 0, 2*len(fields))
	for _, f := range fields {
		form[f] = r.PostFormValue(f)
		pairs = append(pairs, f, strings.ReplaceAll(f, "_", " "))
	}
	return fieldOf(msg, pairs...)
}

// partnerData is the partner page: details, the onboarding checklist,
// clinics and keys, and the forms of the next steps.
type partnerData struct {
	partnerRow
	Clinics              []*novamed.Clinic
	Keys                 []*novamed.APIKey
	Errors               map[string]string
	Form                 map[string]string
	Steps                []step
	Issued               *issuedKey
	KeyEnv               string
	CanChange, CanRevoke bool
}

type step struct {
	Label string
	Done  bool
}

type issuedKey struct {
	Key    string
	Prefix string
	ID     string
}

func (c *Console) loadPartner(q *req, id string) (*partnerData, error) {
	ctx := q.r.Context()
	p, err := c.cfg.Partners.GetPartner(ctx, id)
	if err != nil {
		return nil, err
	}
	d := &partnerData{partnerRow: c.partnerRow(p), Errors: map[string]string{}, Form: map[string]string{}, KeyEnv: string(c.cfg.Env),
		CanChange: c.cfg.Accounts.Can(q.s.op.Role, CapChange), CanRevoke: c.cfg.Accounts.Can(q.s.op.Role, CapRevoke)}
	if d.Clinics, err = c.cfg.Partners.ListPartnerClinics(ctx, p.ID); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, cl := range d.Clinics {
		keys, err := c.cfg.Partners.ListAPIKeys(ctx, cl.ID)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if !seen[k.ID] {
				seen[k.ID] = true
				d.Keys = append(d.Keys, k)
			}
		}
	}
	slices.SortFunc(d.Keys, func(a, b *novamed.APIKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	liveKey := slices.ContainsFunc(d.Keys, func(k *novamed.APIKey) bool { return k.Usable(c.now()) })
	d.Steps = []step{
		{"Partner created", true},
		{"BAA recorded", p.BAA != nil},
		{"Approved", p.Status != novamed.PartnerOnboarding},
		{"Clinic added", len(d.Clinics) > 0},
		{"Key issued (" + string(c.cfg.Env) + ")", liveKey},
	}
	return d, nil
}

func (c *Console) partner(q *req) error {
	d, err := c.loadPartner(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	c.showPartner(q, d, http.StatusOK)
	return nil
}

var partnerNotices = map[string]string{
	"created": "Partner created. Next: record the BAA.", "baa": "BAA recorded.", "approve": "Partner approved.",
	"suspend": "Partner suspended: its keys are refused on every replica.", "reinstate": "Partner reinstated: its keys work again.",
	"clinic": "Clinic added.",
}

func (c *Console) showPartner(q *req, d *partnerData, status int) {
	v := c.newView(q.r, q.s, d.Name, d)
	v.Notice = partnerNotices[q.r.URL.Query().Get("done")]
	c.render(q.w, q.r, status, "partner", v)
}

// partnerForm runs one onboarding action from the partner page: on a
// validation error the page is shown again with the message beside the
// field; on success the browser goes back to the partner page.
func (c *Console) partnerForm(q *req, done string, fields []string, act func(d *partnerData) error) error {
	id := q.r.PathValue("id")
	err := act(nil)
	if msg, ok := invalid(err); ok {
		d, lerr := c.loadPartner(q, id)
		if lerr != nil {
			return lerr
		}
		d.Errors[refill(q.r, d.Form, fields, msg)] = msg
		c.showPartner(q, d, http.StatusUnprocessableEntity)
		return nil
	}
	if err != nil {
		return err
	}
	c.redirect(q.w, q.r, Prefix+"/partners/"+id+"?done="+done)
	return nil
}

func (c *Console) recordBAA(q *req) error {
	f := q.r.PostFormValue
	return c.partnerForm(q, "baa", []string{"signed_on", "signer", "document", "expires_on"}, func(*partnerData) error {
		_, err := onboarding.RecordBAA(q.r.Context(), c.cfg.Partners, c.deps(), c.actor(q), q.r.PathValue("id"),
			onboarding.BAAInput{SignedOn: f("signed_on"), Signer: f("signer"), Document: f("document"), ExpiresOn: f("expires_on")})
		return err
	})
}

func (c *Console) partnerStatus(action string) handler {
	return func(q *req) error {
		return c.partnerForm(q, action, []string{"status"}, func(*partnerData) error {
			_, err := onboarding.SetStatus(q.r.Context(), c.cfg.Partners, c.deps(), c.actor(q), q.r.PathValue("id"), action)
			if err == nil && action != "approve" && c.cfg.OnKeysChanged != nil {
				c.cfg.OnKeysChanged(q.r.Context())
			}
			return err
		})
	}
}

func (c *Console) createClinic(q *req) error {
	return c.partnerForm(q, "clinic", []string{"clinic_name"}, func(*partnerData) error {
		_, err := onboarding.CreateClinic(q.r.Context(), c.cfg.Partners, c.deps(), c.actor(q), q.r.PostFormValue("clinic_name"), q.r.PathValue("id"))
		return err
	})
}

// issueKey issues a key for some of the partner's clinics and shows it
// once (a production key needs a recent re-authentication: the route
// says so).
func (c *Console) issueKey(q *req) error {
	id := q.r.PathValue("id")
	in := onboarding.KeyInput{Name: q.r.PostFormValue("key_name"), Clinics: q.r.PostForm["clinics"]}
	var formErr error
	if v := strings.TrimSpace(q.r.PostFormValue("rate_limit")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			formErr = novamed.Errorf(novamed.CodeInvalid, "The rate limit is a whole number of requests per minute.")
		}
		in.RateLimit = n
	}
	if v := strings.TrimSpace(q.r.PostFormValue("expires_on")); v != "" && formErr == nil {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			formErr = novamed.Errorf(novamed.CodeInvalid, "The key's expires on must be a date (YYYY-MM-DD).")
		}
		in.ExpiresAt = &t
	}
	if len(in.Clinics) == 0 && formErr == nil {
		formErr = novamed.Errorf(novamed.CodeInvalid, "Choose at least one clinic for the key.")
	}
	var k *novamed.APIKey
	var raw string
	err := formErr
	if err == nil {
		k, raw, err = onboarding.IssueKey(q.r.Context(), c.cfg.Partners, c.deps(), c.actor(q), in)
	}
	if err != nil {
		return c.partnerForm(q, "", []string{"clinics", "key_name", "rate_limit", "expires_on"}, func(*partnerData) error { return err })
	}
	d, err := c.loadPartner(q, id)
	if err != nil {
		return err
	}
	d.Issued = &issuedKey{Key: raw, Prefix: k.Prefix, ID: k.ID}
	c.showPartner(q, d, http.StatusOK)
	return nil
}
