package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// freshPostgres creates an empty database through the admin URL and returns
// its URL and a function that drops it.
func freshPostgres(admin string) (string, func(), error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var b [6]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand does not fail
	name := "novamed_bench_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("-postgres: create database: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`) //nolint:errcheck // best effort at exit
		db.Close()
	}
	return u.String(), drop, nil
}
