package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func newDisk(t testing.TB) *Disk {
	t.Helper()
	d, err := OpenDisk(t.TempDir(), DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// listDigests returns the digests Walk reports.
func listDigests(t testing.TB, d *Disk) []string {
	t.Helper()
	var got []string
	if err := d.Walk(context.Background(), func(i Info) error {
		got = append(got, i.Digest)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// tmpFiles returns the names in the store's temporary directory.
func tmpFiles(t testing.TB, d *Disk) []string {
	t.Helper()
	es, err := os.ReadDir(d.tmp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// countingReader counts the bytes its reader delivered.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// failingReader delivers data, then fails: a connection lost mid-upload.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// endless never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

func TestPut(t *testing.T) {
	content := bytes.Repeat([]byte("patchday payload "), 40000) // 680,000 bytes: several buffers
	size := int64(len(content))
	dg := sum(content)
	other := sum([]byte("something else"))

	tests := []struct {
		name     string
		stored   [][]byte // put before the test
		r        io.Reader
		want     Expect
		err      error  // nil: success
		errText  string // in the error message
		existed  bool
		maxRead  int64 // when > 0: Put must not read more than this
		wantData []byte
	}{
		{name: "ok, nothing expected", r: bytes.NewReader(content), wantData: content},
		{name: "ok, everything expected", r: bytes.NewReader(content), want: Expect{Digest: dg, Size: size, MaxSize: size}, wantData: content},
		{name: "ok, empty content", r: strings.NewReader(""), want: Expect{Digest: sum(nil)}, wantData: []byte{}},
		{name: "existing content is kept", stored: [][]byte{content}, r: bytes.NewReader(content), want: Expect{Digest: dg}, existed: true, wantData: content},
		{name: "digest mismatch", r: bytes.NewReader(content), want: Expect{Digest: other}, err: ErrDigestMismatch, errText: other},
		{name: "digest mismatch with the content stored", stored: [][]byte{content}, r: bytes.NewReader(content[1:]), want: Expect{Digest: dg}, err: ErrDigestMismatch},
		{name: "size mismatch: shorter", r: bytes.NewReader(content), want: Expect{Size: size + 1}, err: ErrSizeMismatch, errText: fmt.Sprintf("got %d bytes, want %d", size, size+1)},
		{name: "size mismatch: longer stops reading", r: bytes.NewReader(content), want: Expect{Size: 1000}, err: ErrSizeMismatch, errText: "1000", maxRead: 1001},
		{name: "too large", r: bytes.NewReader(content), want: Expect{MaxSize: size - 1}, err: ErrTooLarge, errText: fmt.Sprintf("limit of %d bytes", size-1), maxRead: size},
		{name: "too large, endless stream", r: endless{}, want: Expect{MaxSize: 1 << 20}, err: ErrTooLarge, errText: "limit of 1048576 bytes", maxRead: 1<<20 + 1},
		{name: "declared size over the limit reads nothing", r: bytes.NewReader(content), want: Expect{Size: size, MaxSize: 10}, err: ErrTooLarge, errText: "limit of 10 bytes", maxRead: -1},
		{name: "exactly at the limit", r: bytes.NewReader(content), want: Expect{MaxSize: size}, wantData: content},
		{name: "truncated upload: reader fails mid-way", r: &failingReader{data: content[:300000], err: io.ErrUnexpectedEOF}, err: io.ErrUnexpectedEOF, errText: "after 300000 bytes"},
		{name: "truncated upload with expected digest", r: &failingReader{data: content[:300000], err: errors.New("connection reset")}, want: Expect{Digest: dg, Size: size}, errText: "connection reset"},
		{name: "truncated upload: clean EOF but short", r: bytes.NewReader(content[:300000]), want: Expect{Digest: dg, Size: size}, err: ErrSizeMismatch},
		{name: "invalid expected digest", r: bytes.NewReader(content), want: Expect{Digest: "../../etc/passwd"}, err: ErrInvalidDigest, maxRead: -1},
		{name: "uppercase expected digest", r: bytes.NewReader(content), want: Expect{Digest: strings.ToUpper(dg)}, err: ErrInvalidDigest, maxRead: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := newDisk(t)
			var before []string
			for _, b := range tc.stored {
				if _, err := d.Put(ctx, bytes.NewReader(b), Expect{}); err != nil {
					t.Fatal(err)
				}
				before = append(before, sum(b))
			}
			cr := &countingReader{r: tc.r}
			info, err := d.Put(ctx, cr, tc.want)
			if tc.maxRead > 0 && cr.n > tc.maxRead {
				t.Errorf("Put read %d bytes, want at most %d", cr.n, tc.maxRead)
			}
			if tc.maxRead < 0 && cr.n != 0 {
				t.Errorf("Put read %d bytes, want none", cr.n)
			}
			if len(tmpFiles(t, d)) != 0 {
				t.Errorf("temporary files left: %v", tmpFiles(t, d))
			}
			if tc.err != nil || tc.errText != "" {
				if err == nil {
					t.Fatalf("Put succeeded (%+v), want error %v", info, tc.err)
				}
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Errorf("error %q is not %v", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("error %q does not mention %q", err, tc.errText)
				}
				// Nothing new is visible, under any name.
				if got := listDigests(t, d); !slices.Equal(got, before) {
					t.Errorf("blobs after failed Put = %v, want %v", got, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			wantDigest := sum(tc.wantData)
			if info.Digest != wantDigest || info.Size != int64(len(tc.wantData)) || info.Existed != tc.existed {
				t.Errorf("Info = %+v, want digest %s size %d existed %v", info, wantDigest, len(tc.wantData), tc.existed)
			}
			if info.ModTime.IsZero() {
				t.Error("Info.ModTime is zero")
			}
			got, err := os.ReadFile(filepath.Join(d.Dir(), "blobs", "sha256", wantDigest[:2], wantDigest))
			if err != nil {
				t.Fatalf("blob not at its sharded path: %v", err)
			}
			if !bytes.Equal(got, tc.wantData) {
				t.Error("stored content differs")
			}
			if got := listDigests(t, d); len(got) != 1 || got[0] != wantDigest {
				t.Errorf("Walk = %v, want only %s", got, wantDigest)
			}
		})
	}
}

func TestPutFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	d := newDisk(t)
	info, err := d.Put(context.Background(), strings.NewReader("x"), Expect{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d.path(info.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != fileMode {
		t.Errorf("blob mode %v, want %v", fi.Mode().Perm(), fs.FileMode(fileMode))
	}
}

func TestPutCancelled(t *testing.T) {
	d := newDisk(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{r: endless{}, n: 3 << 20, cancel: cancel}
	_, err := d.Put(ctx, r, Expect{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(listDigests(t, d)) != 0 || len(tmpFiles(t, d)) != 0 {
		t.Error("a cancelled Put left something behind")
	}
}

// cancelAfter cancels its context once n bytes were read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= n
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// Many uploads of the same content at once: all succeed, one stores it,
// the others find it stored.
func TestPutConcurrentSameContent(t *testing.T) {
	d := newDisk(t)
	content := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 150000)
	dg := sum(content)
	const n = 64
	var wg sync.WaitGroup
	infos := make([]Info, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			infos[i], errs[i] = d.Put(context.Background(), bytes.NewReader(content), Expect{Digest: dg, Size: int64(len(content))})
		}()
	}
	close(start)
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Put %d: %v", i, errs[i])
		}
		if infos[i].Digest != dg || infos[i].Size != int64(len(content)) {
			t.Fatalf("Put %d: %+v", i, infos[i])
		}
		if !infos[i].Existed {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d Puts report storing the blob, want exactly 1", fresh)
	}
	if got := listDigests(t, d); len(got) != 1 || got[0] != dg {
		t.Errorf("Walk = %v", got)
	}
	if len(tmpFiles(t, d)) != 0 {
		t.Errorf("temporary files left: %v", tmpFiles(t, d))
	}
	if err := d.Verify(context.Background(), dg); err != nil {
		t.Error(err)
	}
}

// Different content concurrently, many sharing shard directories.
func TestPutConcurrentDistinct(t *testing.T) {
	d := newDisk(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	want := make([]string, n)
	for i := range n {
		b := []byte(fmt.Sprintf("payload %d", i))
		want[i] = sum(b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.Put(context.Background(), bytes.NewReader(b), Expect{Digest: sum(b)}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	slices.Sort(want)
	if got := listDigests(t, d); !slices.Equal(got, want) {
		t.Errorf("Walk returned %d digests, want %d in order", len(got), len(want))
	}
}

func TestOpenStatDelete(t *testing.T) {
	ctx := context.Background()
	d := newDisk(t)
	content := []byte("hello, patchday")
	dg := sum(content)
	if _, err := d.Stat(ctx, dg); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat before Put: %v, want ErrNotFound", err)
	}
	if _, _, err := d.Open(ctx, dg); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open before Put: %v, want ErrNotFound", err)
	}
	if _, err := d.Put(ctx, bytes.NewReader(content), Expect{}); err != nil {
		t.Fatal(err)
	}
	info, err := d.Stat(ctx, dg)
	if err != nil || info.Digest != dg || info.Size != int64(len(content)) {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
	rc, info, err := d.Open(ctx, dg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("Disk.Open returned %T, want *os.File (for sendfile)", rc)
	}
	if _, err := rc.Seek(7, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(rc)
	rc.Close()
	if string(rest) != "patchday" || info.Size != int64(len(content)) {
		t.Errorf("after Seek read %q, info %+v", rest, info)
	}
	if err := d.Delete(ctx, dg); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, dg); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat after Delete: %v", err)
	}
	if err := d.Delete(ctx, dg); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	// Storing it again after deletion works.
	if info, err := d.Put(ctx, bytes.NewReader(content), Expect{}); err != nil || info.Existed {
		t.Errorf("Put after Delete = %+v, %v", info, err)
	}
}

func TestWalk(t *testing.T) {
	ctx := context.Background()
	d := newDisk(t)
	var want []string
	for i := range 20 {
		info, err := d.Put(ctx, strings.NewReader(fmt.Sprint("blob ", i)), Expect{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, info.Digest)
	}
	slices.Sort(want)
	// Junk in the store directory is ignored.
	junk := sum([]byte("junk"))
	wrongShard := "00" + junk[2:]
	if junk[:2] == "00" {
		wrongShard = "ff" + junk[2:]
	}
	must(t, os.MkdirAll(filepath.Join(d.blobs, "zz"), 0o750))
	must(t, os.WriteFile(filepath.Join(d.blobs, "zz", junk), nil, 0o640))
	must(t, os.WriteFile(filepath.Join(d.blobs, "README"), nil, 0o640))
	must(t, os.MkdirAll(filepath.Join(d.blobs, junk[:2]), 0o750))
	must(t, os.WriteFile(filepath.Join(d.blobs, junk[:2], "not-a-digest"), nil, 0o640))
	must(t, os.WriteFile(filepath.Join(d.blobs, junk[:2], wrongShard), nil, 0o640))
	must(t, os.Mkdir(filepath.Join(d.blobs, junk[:2], junk), 0o750))

	if got := listDigests(t, d); !slices.Equal(got, want) {
		t.Errorf("Walk = %v\nwant %v", got, want)
	}
	var n int
	if err := d.Walk(ctx, func(Info) error { n++; return fs.SkipAll }); err != nil || n != 1 {
		t.Errorf("Walk with SkipAll: %d calls, %v", n, err)
	}
	stop := errors.New("stop")
	if err := d.Walk(ctx, func(Info) error { return stop }); err != stop {
		t.Errorf("Walk returned %v, want the callback's error", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Walk(cctx, func(Info) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Walk with cancelled context: %v", err)
	}
}

func TestVerifyAndRepair(t *testing.T) {
	ctx := context.Background()
	d := newDisk(t)
	content := bytes.Repeat([]byte("abc"), 1000)
	info, err := d.Put(ctx, bytes.NewReader(content), Expect{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(ctx, info.Digest); err != nil {
		t.Fatal(err)
	}
	// Damage the stored blob (a bad disk, an operator's mistake).
	must(t, os.WriteFile(d.path(info.Digest), content[:100], 0o640))
	if err := d.Verify(ctx, info.Digest); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("Verify of a damaged blob: %v", err)
	}
	// Putting the content again replaces the damaged copy.
	info2, err := d.Put(ctx, bytes.NewReader(content), Expect{})
	if err != nil {
		t.Fatal(err)
	}
	if info2.Existed || info2.Size != int64(len(content)) {
		t.Errorf("repair Put = %+v", info2)
	}
	if err := d.Verify(ctx, info.Digest); err != nil {
		t.Errorf("after repair: %v", err)
	}
}

func TestOpenDiskCleansLeftoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDisk(dir, DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	write := func(name string, mtime time.Time) {
		p := filepath.Join(d.tmp, name)
		must(t, os.WriteFile(p, []byte("partial upload"), 0o600))
		must(t, os.Chtimes(p, mtime, mtime))
	}
	write("put-1111", old)                             // crashed upload: removed
	write("put-2222", old.Add(-24*time.Hour))          // older still: removed
	write("put-3333", time.Now())                      // in progress: kept
	write("put-4444", time.Now().Add(-10*time.Minute)) // recent: kept
	write("other.txt", old)                            // not ours: kept

	// Cleanup disabled.
	if _, err := OpenDisk(dir, DiskOptions{TempMaxAge: -1}); err != nil {
		t.Fatal(err)
	}
	if got := tmpFiles(t, d); len(got) != 5 {
		t.Fatalf("with cleanup disabled: %v", got)
	}
	if _, err := OpenDisk(dir, DiskOptions{}); err != nil {
		t.Fatal(err)
	}
	got := tmpFiles(t, d)
	want := []string{"other.txt", "put-3333", "put-4444"}
	if !slices.Equal(got, want) {
		t.Errorf("after reopening: %v, want %v", got, want)
	}
	// A shorter age, explicitly.
	n, err := d.CleanTemp(5 * time.Minute)
	if err != nil || n != 1 {
		t.Errorf("CleanTemp(5m) = %d, %v; want 1 removed", n, err)
	}
	if len(listDigests(t, d)) != 0 {
		t.Error("leftovers became blobs")
	}
}

// Digests arrive from URLs and request bodies: every entry point refuses
// anything but 64 lowercase hex characters, so no path can escape the store.
func TestPathTraversalRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := OpenDisk(filepath.Join(dir, "store"), DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret")
	must(t, os.WriteFile(secret, []byte("do not serve"), 0o600))
	good := sum([]byte("x"))
	bad := []string{
		"",
		".",
		"..",
		"../secret",
		"../../../../../../etc/passwd",
		"ab/../../../secret",
		good[:2] + "/" + good[3:],
		"..%2f..%2fsecret",
		strings.Repeat(".", 64),
		strings.Repeat("../", 21) + "x",
		"/" + good[1:],
		`..\..\secret` + good[12:],
		good[:63],
		good + "0",
		strings.ToUpper(good),
		"sha256:" + good,
		good[:32] + "\x00" + good[33:],
		good[:62] + "é",
		strings.Repeat("g", 64),
	}
	for _, dg := range bad {
		if err := ValidateDigest(dg); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("ValidateDigest(%q) = %v", dg, err)
		}
		if _, err := d.Stat(ctx, dg); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("Stat(%q) = %v", dg, err)
		}
		if f, _, err := d.Open(ctx, dg); !errors.Is(err, ErrInvalidDigest) {
			if f != nil {
				f.Close()
			}
			t.Errorf("Open(%q) = %v", dg, err)
		}
		if err := d.Delete(ctx, dg); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("Delete(%q) = %v", dg, err)
		}
		if err := d.Verify(ctx, dg); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("Verify(%q) = %v", dg, err)
		}
		if _, err := d.Put(ctx, strings.NewReader("x"), Expect{Digest: dg}); !errors.Is(err, ErrInvalidDigest) && dg != "" {
			t.Errorf("Put with Expect.Digest %q = %v", dg, err)
		}
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "do not serve" {
		t.Errorf("file outside the store touched: %q, %v", b, err)
	}
}

func TestParseDigest(t *testing.T) {
	good := sum([]byte("x"))
	for _, in := range []string{good, strings.ToUpper(good), "sha256:" + good, "SHA256:" + strings.ToUpper(good), " " + good + "\n"} {
		if got, err := ParseDigest(in); err != nil || got != good {
			t.Errorf("ParseDigest(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "sha256:", "sha512:" + good, "md5:" + good[:32], good[1:], "sha256:../" + good[3:]} {
		if _, err := ParseDigest(in); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("ParseDigest(%q) = %v, want ErrInvalidDigest", in, err)
		}
	}
	if got := ETag(good); got != `"sha256:`+good+`"` {
		t.Errorf("ETag = %s", got)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkPut(b *testing.B) {
	for _, size := range []int{64 << 10, 16 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			d := newDisk(b)
			data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				copy(data, fmt.Sprintf("%015d", i)) // new content every time
				if _, err := d.Put(context.Background(), bytes.NewReader(data), Expect{MaxSize: int64(size)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPutExisting(b *testing.B) {
	d := newDisk(b)
	data := bytes.Repeat([]byte("0123456789abcdef"), (16<<20)/16)
	if _, err := d.Put(context.Background(), bytes.NewReader(data), Expect{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := d.Put(context.Background(), bytes.NewReader(data), Expect{}); err != nil {
			b.Fatal(err)
		}
	}
}
