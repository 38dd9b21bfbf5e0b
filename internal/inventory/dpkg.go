package inventory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/patchday/patchday/internal/protocol"
)

// ParseDpkgStatus reads dpkg's status database (/var/lib/dpkg/status) and returns the
// installed packages in file order: those whose files are on the machine (see onDisk). Source is the source package without its "(version)", set only when it differs
// from the package name.
//
// It streams stanzas (RFC 822-style fields, continuation lines, blank-line separated) and keeps
// only the fields it needs: a machine's status file is megabytes of descriptions and conffiles,
// and pault.ag/go/debian/control builds a map of every field of every stanza and reports no
// line numbers. A malformed line is a *SyntaxError giving its line number.
func ParseDpkgStatus(r io.Reader) ([]protocol.Package, error) {
	p := statusParser{br: bufio.NewReaderSize(r, 64<<10)}
	return p.parse()
}

type statusParser struct {
	br   *bufio.Reader
	long []byte // holds a line longer than br's buffer
	line int

	pkgs []protocol.Package
	// The stanza being read.
	start     int // line of its first field; 0 between stanzas
	seen      uint8
	installed bool
	pkg       protocol.Package
}

// Bits of statusParser.seen: the fields read, to report duplicates.
const (
	seenPackage uint8 = 1 << iota
	seenStatus
	seenVersion
	seenArch
	seenSource
)

func (p *statusParser) parse() ([]protocol.Package, error) {
	for {
		line, err := p.readLine()
		if len(line) > 0 || err == nil {
			p.line++
			if perr := p.parseLine(line); perr != nil {
				return nil, perr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("after line %d: %w", p.line, err)
		}
	}
	if err := p.endStanza(); err != nil {
		return nil, err
	}
	return p.pkgs, nil
}

// readLine returns the next line without its line ending. The slice is valid until the next
// call.
func (p *statusParser) readLine() ([]byte, error) {
	line, err := p.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		p.long = append(p.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = p.br.ReadSlice('\n')
			p.long = append(p.long, line...)
		}
		line = p.long
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, err
}

func (p *statusParser) parseLine(line []byte) error {
	if len(bytes.TrimLeft(line, " \t")) == 0 {
		return p.endStanza()
	}
	if line[0] == ' ' || line[0] == '\t' {
		if p.start == 0 {
			return &SyntaxError{Line: p.line, Msg: "continuation line outside a field"}
		}
		return nil // a Description, Conffiles... line: not needed
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || bytes.ContainsAny(line[:colon], " \t") {
		return &SyntaxError{Line: p.line, Msg: fmt.Sprintf("not a field: %q", truncate(line, 60))}
	}
	if p.start == 0 {
		p.start = p.line
	}
	name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
	var bit uint8
	switch {
	case bytes.EqualFold(name, []byte("Package")):
		bit, p.pkg.Name = seenPackage, string(value)
	case bytes.EqualFold(name, []byte("Status")):
		// Compared without converting: no allocation for a field read in every stanza.
		bit = seenStatus
		p.installed = onDisk(string(value))
	case bytes.EqualFold(name, []byte("Version")):
		bit, p.pkg.Version = seenVersion, string(value)
	case bytes.EqualFold(name, []byte("Architecture")):
		bit, p.pkg.Arch = seenArch, internArch(value)
	case bytes.EqualFold(name, []byte("Source")):
		// "Source: glibc (2.36-9)" when the source version differs from the binary's.
		src, _, _ := bytes.Cut(value, []byte(" "))
		bit, p.pkg.Source = seenSource, string(src)
	default:
		return nil
	}
	if p.seen&bit != 0 {
		return &SyntaxError{Line: p.line, Msg: fmt.Sprintf("duplicate field %s", name)}
	}
	p.seen |= bit
	return nil
}

// endStanza records the stanza just read, if it is an installed package.
func (p *statusParser) endStanza() error {
	if p.start == 0 {
		return nil
	}
	pkg, installed, start := p.pkg, p.installed, p.start
	p.pkg, p.installed, p.start, p.seen = protocol.Package{}, false, 0, 0
	if pkg.Name == "" {
		return &SyntaxError{Line: start, Msg: "stanza without a Package field"}
	}
	if !installed {
		return nil
	}
	if pkg.Version == "" {
		return &SyntaxError{Line: start, Msg: fmt.Sprintf("installed package %s has no Version", pkg.Name)}
	}
	if pkg.Source == pkg.Name {
		pkg.Source = ""
	}
	p.pkgs = append(p.pkgs, pkg)
	return nil
}

// internArch returns the common architectures without allocating.
func internArch(b []byte) string {
	switch string(b) {
	case "amd64":
		return "amd64"
	case "all":
		return "all"
	case "arm64":
		return "arm64"
	case "i386":
		return "i386"
	case "armhf":
		return "armhf"
	}
	return string(b)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// upstreamVersion returns the upstream part of a Debian version without repacking suffixes:
// "1:1.0.7+dfsg-1~deb12u1" gives "1.0.7".
func upstreamVersion(v string) string {
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexAny(v, "+~"); i >= 0 {
		v = v[:i]
	}
	return v
}

// onDisk reports whether a Status field describes a package whose files are on the machine:
// its third word (the package state) is installed, or a state an apt run passes through
// (triggers pending or awaited, half-configured, unpacked), so that a package mid-upgrade
// does not vanish from the inventory; whatever the desired state (install, hold, deinstall).
func onDisk(status string) bool {
	f := strings.Fields(status)
	if len(f) != 3 || f[1] != "ok" {
		return false
	}
	switch f[2] {
	case "installed", "triggers-pending", "triggers-awaited", "half-configured", "unpacked":
		return true
	}
	return false
}
