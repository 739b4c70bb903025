package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// common are the flags every command shares, with NOVAMED_* fallbacks.
type common struct {
	dataDir       string
	db            string
	env           string
	masterKeyFile string
	json          bool
	serving       bool // set by serve: production then refuses the data folder's key
}

func (c *common) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.dataDir, "data-dir", envOr(getenv, "NOVAMED_DATA_DIR", "./novamed-data"), "data folder (SQLite database, development master key)")
	fs.StringVar(&c.db, "db", getenv("NOVAMED_DB"), "database: sqlite:PATH (default: DATA_DIR/novamed.db)")
	fs.StringVar(&c.env, "env", envOr(getenv, "NOVAMED_ENV", "development"), "environment: development or production")
	fs.StringVar(&c.masterKeyFile, "master-key-file", getenv("NOVAMED_MASTER_KEY_FILE"), "file holding the base64 PHI master key")
	fs.BoolVar(&c.json, "json", false, "print one JSON object")
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// parseFlags parses flags that may stand before or after positional
// arguments (novamed keys revoke KEY_ID --data-dir D).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func (c *common) environment() (novamed.Environment, error) {
	e := novamed.Environment(c.env)
	if !e.Valid() {
		return "", fmt.Errorf("--env must be development or production, not %q", c.env)
	}
	return e, nil
}

// keyring loads the PHI master key: NOVAMED_MASTER_KEY, else the key file,
// else (development only) DATA_DIR/master.key, created on first run.
func (c *common) keyring(getenv func(string) string, env novamed.Environment) (*phi.Keyring, error) {
	var key []byte
	var err error
	switch {
	case getenv("NOVAMED_MASTER_KEY") != "":
		key, err = phi.ParseKey(getenv("NOVAMED_MASTER_KEY"))
		if err != nil {
			return nil, fmt.Errorf("NOVAMED_MASTER_KEY: %w", err)
		}
	case c.masterKeyFile != "":
		key, err = phi.LoadKeyFile(c.masterKeyFile)
		if err != nil {
			return nil, err
		}
	case env == novamed.Production && c.serving:
		return nil, errors.New("production needs a PHI master key: set NOVAMED_MASTER_KEY (base64 of 32 bytes) or --master-key-file; refusing to start without encryption at rest")
	default:
		// Operator commands (keys create --env production included) may use
		// the development key of the data folder; only serve in production
		// insists on an explicit key, and nothing but development creates one.
		path := filepath.Join(c.dataDir, "master.key")
		key, err = phi.LoadKeyFile(path)
		if errors.Is(err, os.ErrNotExist) && env == novamed.Production {
			return nil, errors.New("production needs a PHI master key: set NOVAMED_MASTER_KEY (base64 of 32 bytes) or --master-key-file")
		}
		if errors.Is(err, os.ErrNotExist) {
			if key, err = phi.GenerateKey(); err == nil {
				err = phi.WriteKeyFile(path, key)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("development master key: %w", err)
		}
	}
	return phi.NewKeyring(map[uint32][]byte{1: key})
}

// openStore opens the configured database.
func (c *common) openStore(ctx context.Context, getenv func(string) string) (*sqlstore.Store, novamed.Environment, error) {
	env, err := c.environment()
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("data folder: %w", err)
	}
	ring, err := c.keyring(getenv, env)
	if err != nil {
		return nil, "", err
	}
	dsn := c.db
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(c.dataDir, "novamed.db")
	}
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		s, err := sqlstore.OpenSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), sqlstore.Options{Keyring: ring})
		return s, env, err
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return nil, "", errors.New("--db postgres:// is not available in this build yet; use sqlite:PATH")
	}
	return nil, "", fmt.Errorf("--db must be sqlite:PATH or postgres://…")
}

// emit prints v as one JSON object, or text for people.
func emit(w io.Writer, asJSON bool, v any, text string) error {
	if asJSON {
		enc := json.NewEncoder(w)
		return enc.Encode(v)
	}
	_, err := fmt.Fprint(w, text)
	return err
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
