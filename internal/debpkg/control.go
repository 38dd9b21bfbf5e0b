package debpkg

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Field is one field of a deb822 paragraph.
type Field struct {
	Name string
	// Value is the field's value, its first line without surrounding white
	// space. For a multi-line field, continuation lines follow after "\n", each
	// with its leading white space kept and trailing white space removed,
	// as in the file (" ." lines included).
	Value string
}

// Paragraph is a deb822 paragraph: fields in file order.
type Paragraph []Field

// Get returns the value of the named field (names are case-insensitive).
func (p Paragraph) Get(name string) (string, bool) {
	for _, f := range p {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Value returns the value of the named field, or "" when it is absent.
func (p Paragraph) Value(name string) string {
	v, _ := p.Get(name)
	return v
}

// ParseParagraph parses text holding one deb822 paragraph (RFC 822-like
// "Name: value" lines; lines starting with a space or a tab continue the
// previous field), as dpkg reads a binary package's control file: empty
// lines may surround the paragraph, a second paragraph, a duplicate field
// or a line that is not a field is an error (wrapping ErrBadControl), and
// the line number is given.
func ParseParagraph(text []byte) (Paragraph, error) {
	var (
		p       Paragraph
		seen    = map[string]bool{}
		ended   bool // a blank line after fields
		lineNum int
	)
	for len(text) > 0 {
		var line []byte
		line, text, _ = bytes.Cut(text, []byte("\n"))
		lineNum++
		trimmed := bytes.TrimRight(line, " \t\r")
		if len(trimmed) == 0 {
			ended = ended || len(p) > 0
			continue
		}
		if ended {
			return nil, fmt.Errorf("%w: line %d: more than one paragraph", ErrBadControl, lineNum)
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(p) == 0 {
				return nil, fmt.Errorf("%w: line %d: continuation line before any field", ErrBadControl, lineNum)
			}
			last := &p[len(p)-1]
			last.Value += "\n" + string(trimmed)
			continue
		}
		name, value, ok := bytes.Cut(trimmed, []byte(":"))
		if !ok {
			return nil, fmt.Errorf("%w: line %d: %q is not a field (no colon)", ErrBadControl, lineNum, clip(string(trimmed)))
		}
		if err := checkFieldName(string(name)); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadControl, lineNum, err)
		}
		key := strings.ToLower(string(name))
		if seen[key] {
			return nil, fmt.Errorf("%w: line %d: duplicate field %s", ErrBadControl, lineNum, name)
		}
		seen[key] = true
		p = append(p, Field{Name: string(name), Value: string(bytes.TrimLeft(value, " \t"))})
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("%w: no fields", ErrBadControl)
	}
	return p, nil
}

func checkFieldName(name string) error {
	if name == "" {
		return fmt.Errorf("empty field name")
	}
	if name[0] == '#' || name[0] == '-' {
		return fmt.Errorf("field name %q may not start with %q", clip(name), name[0])
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("field name %q has a character that is not printable ASCII", clip(name))
		}
	}
	return nil
}

// ParseControl parses a binary package's control file and checks the
// fields every package has: Package, Version and Architecture, with dpkg's
// syntax rules for each. Errors wrap ErrBadControl.
func ParseControl(text []byte) (*Control, error) {
	p, err := ParseParagraph(text)
	if err != nil {
		return nil, err
	}
	c := &Control{Fields: p}
	for _, req := range []string{"Package", "Version", "Architecture"} {
		if v, ok := p.Get(req); !ok || v == "" {
			return nil, fmt.Errorf("%w: missing required field %s", ErrBadControl, req)
		}
	}
	for _, f := range []string{"Package", "Version", "Architecture"} {
		if strings.Contains(p.Value(f), "\n") {
			return nil, fmt.Errorf("%w: %s: a single line is required", ErrBadControl, f)
		}
	}
	name := p.Value("Package")
	if err := checkPackageName(name); err != nil {
		return nil, fmt.Errorf("%w: Package %q: %v", ErrBadControl, clip(name), err)
	}
	c.Package = strings.ToLower(name)
	c.Version = p.Value("Version")
	if err := checkVersion(c.Version); err != nil {
		return nil, fmt.Errorf("%w: Version %q: %v", ErrBadControl, clip(c.Version), err)
	}
	c.Architecture = p.Value("Architecture")
	if err := checkArchitecture(c.Architecture); err != nil {
		return nil, fmt.Errorf("%w: Architecture %q: %v", ErrBadControl, clip(c.Architecture), err)
	}
	c.Maintainer = fold(p.Value("Maintainer"))
	c.Depends = fold(p.Value("Depends"))
	if n, err := strconv.ParseInt(p.Value("Installed-Size"), 10, 64); err == nil && n >= 0 {
		c.InstalledSizeKiB = n
	}
	c.Description, _, _ = strings.Cut(p.Value("Description"), "\n")
	return c, nil
}

// fold joins a multi-line (folded) field onto one line.
func fold(v string) string {
	if !strings.ContainsAny(v, "\n\t") && !strings.Contains(v, "  ") {
		return v
	}
	return strings.Join(strings.Fields(v), " ")
}

// checkPackageName applies dpkg's rule (pkg_name_is_illegal): a letter or
// digit, then letters, digits and "-+._". (dpkg lowercases the name.)
func checkPackageName(s string) error {
	if !isAlnum(s[0]) {
		return fmt.Errorf("must start with a letter or digit")
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !strings.ContainsRune("-+._", rune(c)) {
			return fmt.Errorf("character %q not allowed (only letters, digits and -+._)", c)
		}
	}
	return nil
}

// checkArchitecture applies dpkg's rule (dpkg_arch_name_is_illegal).
func checkArchitecture(s string) error {
	if !isAlnum(s[0]) {
		return fmt.Errorf("must start with a letter or digit")
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' {
			return fmt.Errorf("character %q not allowed (only letters, digits and -)", c)
		}
	}
	return nil
}

// checkVersion applies dpkg's parseversion rules, warnings included (dpkg
// refuses to install a package whose version draws a warning):
// [epoch:]upstream[-revision], epoch a number, upstream starting with a
// digit, upstream of [A-Za-z0-9.+~:-], revision of [A-Za-z0-9.+~].
func checkVersion(v string) error {
	if strings.ContainsAny(v, " \t") {
		return fmt.Errorf("has embedded spaces")
	}
	rest := v
	if epoch, after, ok := strings.Cut(v, ":"); ok {
		if epoch == "" {
			return fmt.Errorf("epoch is empty")
		}
		if _, err := strconv.ParseUint(epoch, 10, 31); err != nil {
			if allDigits(epoch) {
				return fmt.Errorf("epoch is too big")
			}
			return fmt.Errorf("epoch is not a number")
		}
		if after == "" {
			return fmt.Errorf("nothing after the colon")
		}
		rest = after
	}
	upstream, revision := rest, ""
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		upstream, revision = rest[:i], rest[i+1:]
		if revision == "" {
			return fmt.Errorf("revision is empty")
		}
	}
	if upstream == "" {
		return fmt.Errorf("upstream version is empty")
	}
	if !isDigit(upstream[0]) {
		return fmt.Errorf("upstream version does not start with a digit")
	}
	for i := 0; i < len(upstream); i++ {
		if c := upstream[i]; !isAlnum(c) && !strings.ContainsRune(".-+~:", rune(c)) {
			return fmt.Errorf("invalid character %q in upstream version", c)
		}
	}
	for i := 0; i < len(revision); i++ {
		if c := revision[i]; !isAlnum(c) && !strings.ContainsRune(".+~", rune(c)) {
			return fmt.Errorf("invalid character %q in revision", c)
		}
	}
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
