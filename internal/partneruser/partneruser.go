// Package partneruser holds the people of a partner who use the developer
// portal (issue 24): their roles, one-time invitations, password and TOTP
// sign-in. Passwords, TOTP codes, one-time secrets and the sign-in
// throttle are internal/operator's, so staff and partner users are held to
// the same rules; only the account table differs.
package partneruser

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
)

// Role is a partner user's role.
type Role string

// The roles: an admin does everything in the portal, invites and removes
// colleagues and may touch production keys; a developer reads everything
// and rolls development keys only.
const (
	Admin     Role = "partner_admin"
	Developer Role = "partner_developer"
)

// Valid reports whether r is a role.
func (r Role) Valid() bool { return r == Admin || r == Developer }

// NeedsTOTP reports whether the role must have a second factor: anyone
// who can touch production keys.
func (r Role) NeedsTOTP() bool { return r == Admin }

// Status is an account's state.
type Status string

// The statuses: invited until the invitation is accepted; a disabled user
// cannot sign in and their sessions end.
const (
	Invited  Status = "invited"
	Active   Status = "active"
	Disabled Status = "disabled"
)

// User is one partner user. PasswordHash is Argon2id; TOTPSecret is in
// clear only in memory (the store seals it).
type User struct {
	ID           string    `json:"id"`
	PartnerID    string    `json:"partner_id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	Status       Status    `json:"status"`
	PasswordHash string    `json:"-"`
	TOTPSecret   string    `json:"-"`
	TOTPLastStep int64     `json:"-"`
	InvitedBy    string    `json:"invited_by"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Actor is how the audit trail names a partner user.
func (u *User) Actor() string { return "partner_user:" + u.ID }

// HasTOTP reports whether the user has a second factor.
func (u *User) HasTOTP() bool { return u.TOTPSecret != "" }

// Invitation is a one-time link as stored: the hash of its secret.
type Invitation struct {
	HashHex   string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Store keeps partner users and invitations (not-found answers are
// novamed.NotFound; a second user with one email is novamed.ErrConflict).
type Store interface {
	operator.ThrottleStore
	GetPartner(ctx context.Context, id string) (*novamed.Partner, error)
	// CreatePartnerUser stores u and its first invitation with eff.
	CreatePartnerUser(ctx context.Context, u *User, inv *Invitation, eff novamed.Effects) error
	GetPartnerUser(ctx context.Context, id string) (*User, error)
	GetPartnerUserByEmail(ctx context.Context, email string) (*User, error)
	// ListPartnerUsers lists a partner's users by email.
	ListPartnerUsers(ctx context.Context, partnerID string) ([]*User, error)
	// PartnerInvitation returns the unused, unexpired invitation with
	// that hash at time at (novamed.NotFound otherwise).
	PartnerInvitation(ctx context.Context, hashHex string, at time.Time) (*Invitation, error)
	// AcceptPartnerInvitation marks the invitation used (if still unused
	// and unexpired at u.UpdatedAt) and writes u's password, second factor
	// and status with eff, in one transaction.
	AcceptPartnerInvitation(ctx context.Context, hashHex string, u *User, eff novamed.Effects) error
	// SetPartnerUserStatus writes the user's status (only) with eff.
	SetPartnerUserStatus(ctx context.Context, id string, st Status, at time.Time, eff novamed.Effects) error
	// UsePartnerTOTPStep records step as the last used if it is after the
	// stored one, and reports whether it was.
	UsePartnerTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
}

// InvitationTTL is how long an invitation link works.
const InvitationTTL = 72 * time.Hour

// InvitationPath is where an invitation link points; the secret follows.
const InvitationPath = "/portal/setup/"

const secretPrefix = "inv_"

// Actor is who acts and from where, for the audit record.
type Actor struct {
	// ID is operator:<id> or partner_user:<id>.
	ID        string
	RequestID string
	Addr      string
	Via       string
}

// Service is partner-user identity on a Store.
type Service struct {
	Store Store
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Params are Argon2id's costs (operator.DefaultPasswordParams when
	// zero).
	Params operator.PasswordParams
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) params() operator.PasswordParams {
	if s.Params == (operator.PasswordParams{}) {
		return operator.DefaultPasswordParams
	}
	return s.Params
}

// Record is the audit record of an action that succeeded.
func Record(a Actor, at time.Time, action, resourceType string, ids ...string) *novamed.AuditRecord {
	rid := a.RequestID
	if rid == "" {
		rid = "por_" + uuid.NewString()
	}
	return &novamed.AuditRecord{Time: at, RequestID: rid, Actor: a.ID, Action: action, ResourceType: resourceType,
		ResourceIDs: ids, ClientAddr: a.Addr, UserAgent: a.Via, Status: 200}
}

// InviteInput are the fields of an invitation.
type InviteInput struct {
	PartnerID, Email, Name string
	Role                   Role
}

// FieldError is a refused input, naming the field to show it beside.
type FieldError struct{ Field, Message string }

func (e *FieldError) Error() string { return e.Message }

// Invite creates an invited user of a partner and returns them with the
// invitation link's path (shown once: only its hash is kept). The caller
// decides who may invite to which partner.
func (s *Service) Invite(ctx context.Context, a Actor, in InviteInput) (*User, string, time.Time, error) {
	email := operator.NormalizeEmail(in.Email)
	name := strings.TrimSpace(in.Name)
	switch {
	case operator.CheckEmail(email) != nil:
		return nil, "", time.Time{}, &FieldError{"email", "Enter an email address (name@example.com)."}
	case name == "" || len(name) > 200 || strings.ContainsAny(name, "\r\n"):
		return nil, "", time.Time{}, &FieldError{"name", "Enter a name of 1 to 200 characters on one line."}
	case !in.Role.Valid():
		return nil, "", time.Time{}, &FieldError{"role", "Choose partner_admin or partner_developer."}
	}
	p, err := s.Store.GetPartner(ctx, strings.ToLower(in.PartnerID))
	if err != nil {
		return nil, "", time.Time{}, err
	}
	raw, err := operator.NewSecret(secretPrefix)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	now := s.now()
	u := &User{ID: uuid.Must(uuid.NewV7()).String(), PartnerID: p.ID, Email: email, Name: name, Role: in.Role, Status: Invited,
		InvitedBy: a.ID, CreatedAt: now, UpdatedAt: now}
	inv := &Invitation{HashHex: operator.HashSecret(raw), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(InvitationTTL)}
	err = s.Store.CreatePartnerUser(ctx, u, inv, novamed.Effects{Audit: Record(a, now, "partner_user.invite", "partner_user", u.ID, p.ID)})
	if errors.Is(err, novamed.ErrConflict) {
		return nil, "", time.Time{}, &FieldError{"email", "Someone with this email address already has a portal account."}
	}
	if err != nil {
		return nil, "", time.Time{}, err
	}
	return u, InvitationPath + raw, inv.ExpiresAt, nil
}

// ErrInvitationInvalid is an invitation link that is malformed, unknown,
// used or expired (not told apart).
var ErrInvitationInvalid = errors.New("partneruser: this invitation link is not valid")

// Invitee returns the user an unused invitation link is for.
func (s *Service) Invitee(ctx context.Context, raw string) (*User, error) {
	if !operator.WellFormed(raw, secretPrefix) {
		return nil, ErrInvitationInvalid
	}
	inv, err := s.Store.PartnerInvitation(ctx, operator.HashSecret(raw), s.now())
	if isNotFound(err) {
		return nil, ErrInvitationInvalid
	}
	if err != nil {
		return nil, err
	}
	u, err := s.Store.GetPartnerUser(ctx, inv.UserID)
	if err != nil {
		return nil, err
	}
	if u.Status != Invited {
		return nil, ErrInvitationInvalid
	}
	return u, nil
}

// Accept spends an invitation: it sets the password and, when
// totpSecret is not "", the second factor that code proved (required for
// a role that NeedsTOTP), and activates the user.
func (s *Service) Accept(ctx context.Context, a Actor, raw, password, totpSecret, code string) (*User, error) {
	u, err := s.Invitee(ctx, raw)
	if err != nil {
		return nil, err
	}
	if err := operator.CheckPassword(password); err != nil {
		return nil, &FieldError{"password", err.Error() + "."}
	}
	now := s.now()
	if totpSecret == "" && u.Role.NeedsTOTP() {
		return nil, &FieldError{"code", "An admin of the portal needs an authenticator app: scan the QR code and enter its code."}
	}
	if totpSecret != "" {
		step, ok := operator.MatchTOTP(totpSecret, code, now)
		if !ok {
			return nil, &FieldError{"code", "That code does not match: scan the QR code again and enter the current code."}
		}
		u.TOTPSecret, u.TOTPLastStep = totpSecret, step
	}
	if u.PasswordHash, err = operator.HashPassword(password, s.params()); err != nil {
		return nil, err
	}
	u.Status, u.UpdatedAt = Active, now
	a.ID = u.Actor()
	err = s.Store.AcceptPartnerInvitation(ctx, operator.HashSecret(raw), u,
		novamed.Effects{Audit: Record(a, now, "partner_user.accept", "partner_user", u.ID, u.PartnerID)})
	if isNotFound(err) {
		return nil, ErrInvitationInvalid
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// ErrTOTPRequired refuses the sign-in of a user whose role needs a second
// factor they do not have.
var ErrTOTPRequired = errors.New("partneruser: this account needs a second factor")

// Login checks a sign-in from addr under internal/operator's throttle.
// It returns the user, *operator.ThrottledError while a delay runs, or
// operator.ErrBadCredentials (unknown email, wrong password or code,
// reused code, account not active: not told apart).
func (s *Service) Login(ctx context.Context, email, password, code, addr string) (*User, error) {
	email = operator.NormalizeEmail(email)
	now := s.now()
	var u *User
	err := operator.Throttled(ctx, s.Store, now, []string{"portal_" + operator.AccountSubject(email), operator.AddressSubject(addr)}, func() error {
		var err error
		u, err = s.check(ctx, email, password, code, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Service) check(ctx context.Context, email, password, code string, now time.Time) (*User, error) {
	u, err := s.Store.GetPartnerUserByEmail(ctx, email)
	if isNotFound(err) {
		operator.VerifyOrDummy("", password)
		return nil, operator.ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if !operator.VerifyOrDummy(u.PasswordHash, password) || u.Status != Active {
		return nil, operator.ErrBadCredentials
	}
	switch {
	case u.HasTOTP():
		step, ok := operator.MatchTOTP(u.TOTPSecret, code, now)
		if !ok {
			return nil, operator.ErrBadCredentials
		}
		fresh, err := s.Store.UsePartnerTOTPStep(ctx, u.ID, step)
		if err != nil {
			return nil, err
		}
		if !fresh {
			return nil, operator.ErrBadCredentials
		}
	case u.Role.NeedsTOTP():
		return nil, ErrTOTPRequired
	}
	return u, nil
}

// SetStatus disables or re-enables a user of partnerID (novamed.NotFound
// for a user of another partner, as for one that does not exist).
func (s *Service) SetStatus(ctx context.Context, a Actor, partnerID, userID string, st Status) (*User, error) {
	u, err := s.Store.GetPartnerUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.PartnerID != partnerID {
		return nil, novamed.NotFound("User")
	}
	if st != Active && st != Disabled {
		return nil, novamed.Errorf(novamed.CodeInvalid, "status must be active or disabled")
	}
	if u.Status == Invited && st == Active {
		return nil, novamed.Errorf(novamed.CodeInvalid, "This user has not accepted their invitation yet.")
	}
	now := s.now()
	action := "partner_user.disable"
	if st == Active {
		action = "partner_user.enable"
	}
	if err := s.Store.SetPartnerUserStatus(ctx, u.ID, st, now, novamed.Effects{Audit: Record(a, now, action, "partner_user", u.ID, u.PartnerID)}); err != nil {
		return nil, err
	}
	u.Status, u.UpdatedAt = st, now
	return u, nil
}

func isNotFound(err error) bool {
	var e *novamed.Error
	return errors.As(err, &e) && e.Code == novamed.CodeNotFound
}
