//go:build genclient

package genclient

// The generated client imports oapi-codegen's runtime; naming it here keeps
// the module required (and its checksums in go.sum) by go mod tidy, so the
// overlay build runs offline.
import (
	_ "github.com/oapi-codegen/runtime"
	_ "github.com/oapi-codegen/runtime/types"
)
