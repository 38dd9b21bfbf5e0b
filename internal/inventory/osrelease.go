package inventory

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/patchday/patchday/internal/protocol"
)

// ParseOSRelease parses os-release(5) syntax, which is also that of /etc/default/locale and
// similar files: KEY=value lines, blank lines and # comments, values in shell quoting ('...'
// literal, "..." with \$ \" \\ \` escapes, backslash escapes outside quotes). It parses every
// line it can; on malformed lines it returns those values together with a *SyntaxError for
// the first bad line.
func ParseOSRelease(r io.Reader) (map[string]string, error) {
	vars := map[string]string{}
	var first error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, err := parseAssignment(line)
		if err != nil {
			if first == nil {
				first = &SyntaxError{Line: n, Msg: err.Error()}
			}
			continue
		}
		vars[key] = value
	}
	if err := sc.Err(); err != nil {
		return vars, err
	}
	return vars, first
}

func parseAssignment(line string) (key, value string, err error) {
	line = strings.TrimPrefix(line, "export ")
	key, raw, ok := strings.Cut(line, "=")
	if !ok {
		return "", "", fmt.Errorf("no '=' in %q", line)
	}
	if !validKey(key) {
		return "", "", fmt.Errorf("invalid variable name %q", key)
	}
	value, err = unquote(raw)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", key, err)
	}
	return key, value, nil
}

func validKey(k string) bool {
	for i, c := range []byte(k) {
		alpha := c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
		if !alpha && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return k != ""
}

// unquote undoes shell quoting of one word, as a POSIX shell would in an assignment.
func unquote(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", errors.New("unterminated single quote")
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 2
		case '"':
			i++
			for {
				if i >= len(s) {
					return "", errors.New("unterminated double quote")
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				// Inside double quotes a backslash escapes only these; elsewhere it is literal.
				if c == '\\' && i+1 < len(s) && strings.IndexByte("$\"\\`", s[i+1]) >= 0 {
					c = s[i+1]
					i++
				}
				b.WriteByte(c)
				i++
			}
		case '\\':
			if i+1 < len(s) {
				b.WriteByte(s[i+1])
			}
			i += 2
		case ' ', '\t':
			// The word ends here; only a comment may follow it.
			if rest := strings.TrimLeft(s[i:], " \t"); rest != "" && rest[0] != '#' {
				return "", fmt.Errorf("unquoted white space before %q", rest)
			}
			return b.String(), nil
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// osRelease fills the OS fields from os-release. Without the file, os-release(5) says to
// assume ID=linux and PRETTY_NAME=Linux.
func (c *Collector) osRelease(inv *protocol.Inventory) error {
	vars := map[string]string{}
	for _, name := range []string{"etc/os-release", "usr/lib/os-release"} {
		f, err := os.Open(c.path(name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("os-release: %w", err)
		}
		vars, err = ParseOSRelease(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("os-release %s: %w", c.path(name), err)
		}
		break
	}
	inv.OSID = cmp.Or(vars["ID"], "linux")
	inv.OSVersion = vars["VERSION_ID"]
	inv.OSCodename = vars["VERSION_CODENAME"]
	inv.OSName = cmp.Or(vars["PRETTY_NAME"], "Linux")
	return nil
}

// darwinVersion reads macOS's version from SystemVersion.plist: "14.5", "macOS 14.5".
func (c *Collector) darwinVersion() (version, name string) {
	b := c.readOptional("System/Library/CoreServices/SystemVersion.plist")
	if b == nil {
		return "", ""
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	var key, elem string
	values := map[string]string{}
	for {
		tok, err := d.Token()
		if err != nil {
			break // end of file, or a broken plist: keep what was read
		}
		switch t := tok.(type) {
		case xml.StartElement:
			elem = t.Name.Local
		case xml.EndElement:
			elem = ""
		case xml.CharData:
			switch elem {
			case "key":
				key = string(t)
			case "string":
				values[key] = string(t)
			}
		}
	}
	version = values["ProductVersion"]
	name = strings.TrimSpace(values["ProductName"] + " " + version)
	return version, name
}
