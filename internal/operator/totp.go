package operator

import (
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpPeriod is the TOTP step (RFC 6238's default, what every
// authenticator app assumes).
const totpPeriod = 30

// NewTOTP generates a TOTP secret for account and returns it with the
// otpauth:// URL an authenticator app imports (both secrets: shown once,
// never logged).
func NewTOTP(issuer, account string) (secret, url string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// TOTPCode is the code of secret at t (for tests and for enrolment checks).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// MatchTOTP finds the time step whose code code is, among the step of now
// and one either side (clock drift), and returns it; ok is false when none
// matches. The caller refuses a step not after the last one used, so a
// code works once.
func MatchTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	if len(code) != 6 {
		return 0, false
	}
	for _, d := range []int64{0, -1, 1} {
		t := now.Add(time.Duration(d*totpPeriod) * time.Second)
		want, err := TOTPCode(secret, t)
		if err == nil && constantEqual(want, code) {
			return t.Unix() / totpPeriod, true
		}
	}
	return 0, false
}

func constantEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
