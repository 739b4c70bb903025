package main

import (
	"errors"
	"flag"
	"time"
)

// consoleFlags are serve's staff console settings.
type consoleFlags struct {
	idle, absolute, reauth time.Duration
}

func (cf *consoleFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.DurationVar(&cf.idle, "console-idle-timeout", durationEnv(getenv, "NOVAMED_CONSOLE_IDLE_TIMEOUT", 15*time.Minute),
		"staff console: sign out after this long without activity (HIPAA automatic log-off)")
	fs.DurationVar(&cf.absolute, "console-session-limit", durationEnv(getenv, "NOVAMED_CONSOLE_SESSION_LIMIT", 12*time.Hour),
		"staff console: sign out this long after signing in, whatever the activity")
	fs.DurationVar(&cf.reauth, "console-reauth-window", durationEnv(getenv, "NOVAMED_CONSOLE_REAUTH_WINDOW", 5*time.Minute),
		"staff console: how recent a password and code check must be before issuing a production key or rotating the master key")
}

func (cf *consoleFlags) check() error {
	if cf.idle < time.Second || cf.absolute < cf.idle || cf.reauth <= 0 {
		return errors.New("--console-idle-timeout must be at least 1s, --console-session-limit at least the idle timeout, --console-reauth-window positive")
	}
	return nil
}
