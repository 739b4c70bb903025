package auditarchive

import (
	"bytes"
	"sync"
	"testing"
)

// TestSharedDecoderOutlivesClose: an archiver's decoder is shared by
// concurrent decodes (verify and export beside a pass); closing the
// archiver while decodes are under way waits for them instead of closing
// the decoder under them (a nil dereference and a hang in klauspost's
// decoder), and a decode after close makes a new decoder.
func TestSharedDecoderOutlivesClose(t *testing.T) {
	var z zstdCoders
	var data bytes.Buffer
	enc, done, err := z.encoder(&data)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("audit record "), 50000)
	if _, err := enc.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	done()
	var wg sync.WaitGroup
	start, finished := make(chan struct{}), make(chan struct{})
	for range 4 {
		wg.Go(func() {
			<-start
			for range 30 {
				dec, done, err := z.decoder()
				if err != nil {
					t.Error(err)
					return
				}
				got, err := dec.DecodeAll(data.Bytes(), nil)
				done()
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("DecodeAll = %d bytes, %v", len(got), err)
					return
				}
			}
		})
	}
	close(start)
	go func() { wg.Wait(); close(finished) }()
	for closes := 0; ; closes++ {
		select {
		case <-finished:
			z.close()
			if closes == 0 {
				t.Log("the decodes ended before a close overlapped them")
			}
			return
		default:
			z.close()
		}
	}
}
