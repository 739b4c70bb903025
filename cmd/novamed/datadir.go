package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// privateDataFiles are the files novamed keeps in its data folder. Only these are
// tightened: a data folder pointed at a busy directory must not have its
// other files' modes changed.
var privateDataFiles = []string{"novamed.db", "novamed.db-wal", "novamed.db-shm", "novamed.db-journal",
	"master.key", "master.key.tmp", "checkpoint.key", checkpointFileName}

// secureDataDir makes the data folder private: created 0700, or an
// existing one (and novamed's files in it) tightened to 0700/0600 with a
// warning. It fails, and the command refuses to go on, when that cannot
// be done. chmod is os.Chmod outside tests.
func secureDataDir(dir string, warn func(string), chmod func(string, fs.FileMode) error) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	if err := securePath(dir, 0o700, warn, chmod); err != nil {
		return err
	}
	for _, name := range privateDataFiles {
		if err := securePath(filepath.Join(dir, name), 0o600, warn, chmod); err != nil {
			return err
		}
	}
	return nil
}

// securePath tightens path to mode when group or others have any access;
// a missing path is fine. A symbolic link is judged, and tightened, as what
// it points to (chmod follows links): the mode that protects the data is the
// target's, and a link's own mode (always 0777) says nothing.
func securePath(path string, mode fs.FileMode, warn func(string), chmod func(string, fs.FileMode) error) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data file %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := chmod(path, mode); err != nil {
		return fmt.Errorf("%s is mode %04o (open to other users) and could not be tightened to %04o (%v); refusing to start: fix its owner or mode", path, st.Mode().Perm(), mode, err)
	}
	if warn != nil {
		// The base name only: a path may say more than the log should.
		warn(fmt.Sprintf("data file or folder %q was mode %04o (open to other users); tightened to %04o", filepath.Base(path), st.Mode().Perm(), mode))
	}
	return nil
}

// sqliteFiles are the database file and the two SQLite keeps beside it.
func sqliteFiles(path string) []string { return []string{path, path + "-wal", path + "-shm"} }

// createPrivate creates path empty with mode 0600 if it does not exist.
// SQLite gives its -wal and -shm files the mode of the database file, so
// this makes them private too, whatever the umask.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
