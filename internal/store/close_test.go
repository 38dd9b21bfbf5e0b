package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/patchday/patchday/internal/store"
)

// Reads still running when the store closes (a report made in the background as a server
// stops) get an error, never a panic, and reads after it too. Each query text is new, so
// every read goes to SQLite's statement cache for a statement it has not prepared.
func TestReadsDuringClose(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				var n int
				if err := st.QueryRowForTest(ctx, fmt.Sprintf("SELECT %d + %d", w, i)).Scan(&n); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	close(start)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Error("a read after close gave no error")
		}
	}
}
