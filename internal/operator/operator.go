package operator

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// Status is an operator's account state.
type Status string

// The statuses: a disabled operator cannot sign in and their tokens fail.
const (
	Active   Status = "active"
	Disabled Status = "disabled"
)

// Operator is one member of staff. PasswordHash is an Argon2id encoding
// ("" until a setup link sets it); TOTPSecret is in clear only in memory
// (the store seals it).
type Operator struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	Status       Status    `json:"status"`
	PasswordHash string    `json:"-"`
	TOTPSecret   string    `json:"-"`
	TOTPLastStep int64     `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// LocalUser is set only for the operator CLI's direct database mode
	// (bootstrap and break-glass on the database host): the OS user who
	// ran it, an identity the database does not hold.
	LocalUser string `json:"-"`
}

// Actor is how the audit trail names the operator: operator:<id>, or
// local:<os user> in direct database mode.
func (o *Operator) Actor() string {
	if o.LocalUser != "" {
		return "local:" + o.LocalUser
	}
	return "operator:" + o.ID
}

// HasPassword reports whether the operator has set a password.
func (o *Operator) HasPassword() bool { return o.PasswordHash != "" }

// HasTOTP reports whether the operator has a second factor.
func (o *Operator) HasTOTP() bool { return o.TOTPSecret != "" }

// Token is an operator token as stored: its hash, never the token.
type Token struct {
	ID         string     `json:"id"`
	OperatorID string     `json:"operator_id"`
	HashHex    string     `json:"-"`
	Prefix     string     `json:"prefix"`
	Role       Role       `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// SetupLink is a one-time link as stored: its hash.
type SetupLink struct {
	HashHex    string
	OperatorID string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     *time.Time
}

// Store keeps operators, their tokens, setup links and the sign-in
// throttle. Not-found answers are novamed.NotFound errors; a second
// operator with one email is novamed.ErrConflict.
type Store interface {
	CreateOperator(ctx context.Context, o *Operator) error
	GetOperator(ctx context.Context, id string) (*Operator, error)
	GetOperatorByEmail(ctx context.Context, email string) (*Operator, error)
	ListOperators(ctx context.Context) ([]*Operator, error)
	// Each write below changes only the columns it names, in the stored
	// row (never a whole row read earlier), so a change made since the
	// caller read the operator stays.
	//
	// SetOperatorPassword writes the password hash and revokes every
	// token of the operator.
	SetOperatorPassword(ctx context.Context, id, hash string, at time.Time) error
	// RehashOperatorPassword replaces the password hash by newHash only
	// while it is still oldHash (no tokens revoked).
	RehashOperatorPassword(ctx context.Context, id, oldHash, newHash string, at time.Time) error
	// SetOperatorTOTP writes the TOTP secret ("" removes it), records
	// usedStep (> 0) as UseTOTPStep does, and revokes every token of the
	// operator when revokeTokens.
	SetOperatorTOTP(ctx context.Context, id, secret string, usedStep int64, at time.Time, revokeTokens bool) error
	// SetOperatorAccess changes role and/or status ("" keeps the stored
	// one), revokes every token of the operator when either changed, and
	// returns the operator as stored after it. A change that would leave
	// no active admin changes nothing and is ErrLastAdmin, decided
	// atomically with the write.
	SetOperatorAccess(ctx context.Context, id string, role Role, status Status, at time.Time) (*Operator, error)
	// UseTOTPStep records step as the last used, only if it is after the
	// stored one; it reports whether it was.
	UseTOTPStep(ctx context.Context, operatorID string, step int64) (bool, error)
	CreateOperatorToken(ctx context.Context, t *Token) error
	FindOperatorToken(ctx context.Context, hashHex string) (*Token, error)
	ListOperatorTokens(ctx context.Context, operatorID string) ([]*Token, error)
	RevokeOperatorToken(ctx context.Context, id string, at time.Time) (*Token, error)
	CreateSetupLink(ctx context.Context, l *SetupLink) error
	// UseSetupLink marks the unused, unexpired link with that hash used and
	// returns its operator id; any other link is novamed.NotFound.
	UseSetupLink(ctx context.Context, hashHex string, at time.Time) (string, error)
	LoginThrottle(ctx context.Context, subject string) (failures int, last time.Time, err error)
	RecordLoginFailure(ctx context.Context, subject string, at time.Time) error
	ResetLoginThrottle(ctx context.Context, subject string) error
}

// NormalizeEmail is the stored form of an email: trimmed, lower case.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CheckEmail validates an operator's email address.
func CheckEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 {
		return fmt.Errorf("%q is not an email address", email)
	}
	return nil
}

// Service is the operator identity on a Store.
type Service struct {
	Store Store
	// Env is the deployment's environment: production requires TOTP.
	Env novamed.Environment
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Params are the Argon2id costs of new hashes (DefaultPasswordParams
	// when zero).
	Params PasswordParams
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) params() PasswordParams {
	if s.Params == (PasswordParams{}) {
		return DefaultPasswordParams
	}
	return s.Params
}

// RequireTOTP reports whether sign-in needs a second factor (production).
func (s *Service) RequireTOTP() bool { return s.Env == novamed.Production }

// Create adds an active operator; password "" leaves the password to a
// setup link.
func (s *Service) Create(ctx context.Context, email, name string, role Role, password string) (*Operator, error) {
	email = NormalizeEmail(email)
	if err := CheckEmail(email); err != nil {
		return nil, novamed.Errorf(novamed.CodeInvalid, "%s", err.Error())
	}
	if !role.Valid() {
		return nil, novamed.Errorf(novamed.CodeInvalid, "role must be one of viewer, support, pharmacy, security, admin")
	}
	now := s.now()
	o := &Operator{ID: uuid.NewString(), Email: email, Name: strings.TrimSpace(name), Role: role, Status: Active,
		CreatedAt: now, UpdatedAt: now}
	if o.Name == "" {
		o.Name = email
	}
	if password != "" {
		if err := CheckPassword(password); err != nil {
			return nil, novamed.Errorf(novamed.CodeInvalid, "%s", err.Error())
		}
		h, err := HashPassword(password, s.params())
		if err != nil {
			return nil, err
		}
		o.PasswordHash = h
	}
	if err := s.Store.CreateOperator(ctx, o); err != nil {
		if errors.Is(err, novamed.ErrConflict) {
			return nil, novamed.Errorf(novamed.CodeDuplicate, "An operator with email %s exists.", email)
		}
		return nil, err
	}
	return o, nil
}

// SetupLinkPath is where the staff console serves setup links.
const SetupLinkPath = "/console/setup/"

// SetupLinkTTL is how long a setup link works.
const SetupLinkTTL = 72 * time.Hour

// NewSetupLink stores a one-time link for o and returns its path (shown
// once: only its hash is kept).
func (s *Service) NewSetupLink(ctx context.Context, o *Operator) (path string, expires time.Time, err error) {
	raw, err := newSecret("setup_")
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	l := &SetupLink{HashHex: HashSecret(raw), OperatorID: o.ID, CreatedAt: now, ExpiresAt: now.Add(SetupLinkTTL)}
	if err := s.Store.CreateSetupLink(ctx, l); err != nil {
		return "", time.Time{}, err
	}
	return SetupLinkPath + raw, l.ExpiresAt, nil
}

// UseSetupLink spends a setup link's secret (the last path segment) and
// sets the operator's password.
func (s *Service) UseSetupLink(ctx context.Context, raw, password string) (*Operator, error) {
	if err := CheckPassword(password); err != nil {
		return nil, novamed.Errorf(novamed.CodeInvalid, "%s", err.Error())
	}
	if !wellFormed(raw, "setup_") {
		return nil, novamed.NotFound("setup link")
	}
	id, err := s.Store.UseSetupLink(ctx, HashSecret(raw), s.now())
	if err != nil {
		return nil, err
	}
	return s.SetPassword(ctx, id, password)
}

// SetPassword replaces an operator's password and revokes their tokens.
func (s *Service) SetPassword(ctx context.Context, id, password string) (*Operator, error) {
	if err := CheckPassword(password); err != nil {
		return nil, novamed.Errorf(novamed.CodeInvalid, "%s", err.Error())
	}
	o, err := s.Store.GetOperator(ctx, id)
	if err != nil {
		return nil, err
	}
	h, err := HashPassword(password, s.params())
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.Store.SetOperatorPassword(ctx, o.ID, h, now); err != nil {
		return nil, err
	}
	o.PasswordHash, o.UpdatedAt = h, now
	return o, nil
}

// EnrolTOTP gives o a new TOTP secret (replacing any) and returns the
// otpauth:// URL to import, shown once.
func (s *Service) EnrolTOTP(ctx context.Context, o *Operator) (url string, err error) {
	secret, url, err := NewTOTP("NovaMed "+string(s.Env), o.Email)
	if err != nil {
		return "", err
	}
	now := s.now()
	if err := s.Store.SetOperatorTOTP(ctx, o.ID, secret, 0, now, false); err != nil {
		return "", err
	}
	o.TOTPSecret, o.UpdatedAt = secret, now
	return url, nil
}

// Update changes role and/or status; either change revokes the
// operator's tokens (a token is scoped to the role it was issued under).
func (s *Service) Update(ctx context.Context, o *Operator, role Role, status Status) error {
	if role != "" && !role.Valid() {
		return novamed.Errorf(novamed.CodeInvalid, "role must be one of viewer, support, pharmacy, security, admin")
	}
	if status != "" && status != Active && status != Disabled {
		return novamed.Errorf(novamed.CodeInvalid, "status must be active or disabled")
	}
	// Only what changes from o as the caller saw it is written, to the
	// stored row: a change made since o was read (another admin disabling
	// it) stays unless this one changes the same thing.
	if role == o.Role {
		role = ""
	}
	if status == o.Status {
		status = ""
	}
	got, err := s.Store.SetOperatorAccess(ctx, o.ID, role, status, s.now())
	if errors.Is(err, ErrLastAdmin) {
		// Another change took the other admins away since CheckKeepsAdmin.
		return lastAdminError("", o)
	}
	if err != nil {
		return err
	}
	*o = *got
	return nil
}

// DefaultTokenTTL and MaxTokenTTL bound operator tokens' lifetimes.
const (
	DefaultTokenTTL = 8 * time.Hour
	MaxTokenTTL     = 90 * 24 * time.Hour
)

// IssueToken stores a new token for o, scoped to o's current role, and
// returns it (shown once).
func (s *Service) IssueToken(ctx context.Context, o *Operator, ttl time.Duration) (string, *Token, error) {
	if o.Status != Active {
		return "", nil, novamed.Errorf(novamed.CodeInvalid, "Operator %s is disabled.", o.Email)
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	if ttl > MaxTokenTTL {
		return "", nil, novamed.Errorf(novamed.CodeInvalid, "A token lives at most %s.", "90 days")
	}
	raw, err := newSecret(TokenPrefix)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	t := &Token{ID: uuid.NewString(), OperatorID: o.ID, HashHex: HashSecret(raw), Prefix: DisplayPrefix(raw), Role: o.Role,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.Store.CreateOperatorToken(ctx, t); err != nil {
		return "", nil, err
	}
	return raw, t, nil
}

// ErrUnauthenticated is every failure of Authenticate: malformed, unknown,
// expired or revoked token, disabled operator, or a role that changed
// since the token was issued. The cases are not told apart.
var ErrUnauthenticated = errors.New("operator: unauthenticated")

// Authenticate resolves a bearer token to its active operator.
func (s *Service) Authenticate(ctx context.Context, raw string) (*Operator, *Token, error) {
	if !wellFormed(raw, TokenPrefix) {
		return nil, nil, ErrUnauthenticated
	}
	t, err := s.Store.FindOperatorToken(ctx, HashSecret(raw))
	if isNotFound(err) {
		return nil, nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	if t.RevokedAt != nil || !now.Before(t.ExpiresAt) {
		return nil, t, ErrUnauthenticated
	}
	o, err := s.Store.GetOperator(ctx, t.OperatorID)
	if err != nil {
		return nil, t, err
	}
	if o.Status != Active || o.Role != t.Role {
		return nil, t, ErrUnauthenticated
	}
	return o, t, nil
}

func isNotFound(err error) bool {
	var e *novamed.Error
	return errors.As(err, &e) && e.Code == novamed.CodeNotFound
}

// ThrottledError refuses a sign-in attempt that came before its delay
// ended; RetryAfter is the rest of the delay.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins: retry in %s", e.RetryAfter.Round(time.Second))
}

// ErrBadCredentials is a failed sign-in: unknown email, wrong password,
// wrong or reused TOTP code, disabled operator (not told apart).
var ErrBadCredentials = errors.New("operator: email, password or code is wrong")

// ErrTOTPRequired is a sign-in in production by an operator without a
// second factor enrolled (they enrol through their setup link or an admin).
var ErrTOTPRequired = errors.New("operator: a TOTP second factor is required on production; enrol one first")

// Login checks a sign-in attempt from addr, under the throttle of both the
// account and the address. It returns the operator, *ThrottledError while
// a delay runs (the attempt is not checked, nor counted), or
// ErrBadCredentials.
func (s *Service) Login(ctx context.Context, email, password, code, addr string) (*Operator, error) {
	email = NormalizeEmail(email)
	now := s.now()
	var o *Operator
	err := Throttled(ctx, s.Store, now, []string{AccountSubject(email), AddressSubject(addr)}, func() error {
		var err error
		o, err = s.check(ctx, email, password, code, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// ThrottleStore keeps failed sign-ins per subject.
type ThrottleStore interface {
	LoginThrottle(ctx context.Context, subject string) (failures int, last time.Time, err error)
	RecordLoginFailure(ctx context.Context, subject string, at time.Time) error
	ResetLoginThrottle(ctx context.Context, subject string) error
}

// Throttled runs a sign-in check under the throttle of subjects (the
// account first; an "address:" subject with an empty address is skipped):
// *ThrottledError while a delay runs (check is not run, nor counted);
// ErrBadCredentials from check counts a failure for every subject; a
// success clears the account's failures. The staff sign-in and the
// partner portal's share it.
func Throttled(ctx context.Context, st ThrottleStore, now time.Time, subjects []string, check func() error) error {
	subjects = slices.DeleteFunc(slices.Clone(subjects), func(s string) bool { return s == AddressSubject("") })
	var wait time.Duration
	for _, sub := range subjects {
		n, last, err := st.LoginThrottle(ctx, sub)
		if err != nil {
			return err
		}
		wait = max(wait, Wait(n, last, now))
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	err := check()
	if errors.Is(err, ErrBadCredentials) {
		for _, sub := range subjects {
			if ferr := st.RecordLoginFailure(ctx, sub, now); ferr != nil {
				return ferr
			}
		}
		return err
	}
	if err != nil {
		return err
	}
	return st.ResetLoginThrottle(ctx, subjects[0])
}

// VerifyOrDummy checks password against encoded, or against a dummy hash
// when encoded is "" (an unknown account or one without a password), so
// that the answer takes as long either way.
func VerifyOrDummy(encoded, password string) bool {
	if encoded == "" {
		_, _ = VerifyPassword(dummyHash, password)
		return false
	}
	ok, err := VerifyPassword(encoded, password)
	return err == nil && ok
}

// dummyHash is verified against when the email is unknown, so that the
// answer takes as long as for a known one.
var dummyHash = "$argon2id$v=19$m=47104,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$n3ZgQnkbxX6xd7b9TgHq7W1z2f0D1w0mSGm2Yx8pZ5g"

func (s *Service) check(ctx context.Context, email, password, code string, now time.Time) (*Operator, error) {
	o, err := s.Store.GetOperatorByEmail(ctx, email)
	if isNotFound(err) {
		VerifyOrDummy("", password)
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if !VerifyOrDummy(o.PasswordHash, password) || o.Status != Active {
		return nil, ErrBadCredentials
	}
	switch {
	case o.HasTOTP():
		step, ok := MatchTOTP(o.TOTPSecret, code, now)
		if !ok {
			return nil, ErrBadCredentials
		}
		fresh, err := s.Store.UseTOTPStep(ctx, o.ID, step)
		if err != nil {
			return nil, err
		}
		if !fresh {
			return nil, ErrBadCredentials
		}
	case s.RequireTOTP():
		return nil, ErrTOTPRequired
	}
	if NeedsRehash(o.PasswordHash, s.params()) {
		// Only the hash, and only while it is the one just verified: a
		// whole-row write here would undo a disable made meanwhile and
		// move totp_last_step back (the code just used would work again).
		if h, err := HashPassword(password, s.params()); err == nil {
			if s.Store.RehashOperatorPassword(ctx, o.ID, o.PasswordHash, h, now) == nil {
				o.PasswordHash = h
			}
		}
	}
	return o, nil
}

// ResetThrottle clears the sign-in delay of an account and, when addr is
// not "", of an address.
func (s *Service) ResetThrottle(ctx context.Context, email, addr string) error {
	if err := s.Store.ResetLoginThrottle(ctx, AccountSubject(email)); err != nil {
		return err
	}
	if addr != "" {
		return s.Store.ResetLoginThrottle(ctx, AddressSubject(addr))
	}
	return nil
}
