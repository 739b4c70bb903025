// Command gensamples writes api/codesamples_gen_test.go from the Go
// samples of api/codesamples.go (run by go generate ./api, from api/).
package main

import (
	"log"
	"os"

	"github.com/novamed/partner-api/api"
)

func main() {
	if err := os.WriteFile("codesamples_gen_test.go", api.GoSamplesTestFile(), 0o644); err != nil {
		log.Fatal(err)
	}
}
