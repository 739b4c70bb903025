//go:build race

package main

// raceEnabled: this test binary was built with -race, so the generated
// client's tests are too (and reuse the race build cache).
const raceEnabled = true
