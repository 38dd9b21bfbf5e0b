package installer

import (
	"sync"
	"unicode/utf8"
)

// maxLog bounds Result.Log: enough for the error dpkg or a script prints last, small
// enough to travel in every install report.
const maxLog = 8 << 10

// tailBuffer keeps the last bytes written to it, so a command that prints megabytes costs
// a fixed amount of memory. It is an io.Writer safe for the stdout and stderr copiers.
type tailBuffer struct {
	mu        sync.Mutex
	buf       []byte // a ring of capacity max once full
	start     int    // index of the oldest byte when the ring is full
	max       int
	truncated bool
}

func newTail(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		// Only the end of p survives.
		t.truncated = t.truncated || len(t.buf) > 0 || len(p) > t.max
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		t.start = 0
		return n, nil
	}
	if room := t.max - len(t.buf); room > 0 {
		k := min(room, len(p))
		t.buf = append(t.buf, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 { // the ring is full: overwrite the oldest bytes
		t.truncated = true
		k := copy(t.buf[t.start:], p)
		p = p[k:]
		t.start = (t.start + k) % t.max
	}
	return n, nil
}

// String returns the kept bytes in order. When older output was dropped, it starts at a
// rune boundary after a marker, and the whole stays within max bytes.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]byte, 0, len(t.buf))
	out = append(out, t.buf[t.start:]...)
	out = append(out, t.buf[:t.start]...)
	if !t.truncated {
		return string(out)
	}
	const marker = "[...]\n"
	if len(out) > t.max-len(marker) {
		out = out[len(out)-(t.max-len(marker)):]
	}
	for len(out) > 0 && !utf8.RuneStart(out[0]) {
		out = out[1:]
	}
	return marker + string(out)
}
