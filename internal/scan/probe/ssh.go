package probe

import (
	"bufio"
	"strings"
)

// readSSH reads the SSH identification string (RFC 4253 section 4.2):
// "SSH-protoversion-softwareversion SP comments CR LF". Servers may send
// other lines first; at most 8 lines are skipped.
func readSSH(r *bufio.Reader) (Info, error) {
	for range 8 {
		line, err := readLine(r, 255)
		if strings.HasPrefix(line, "SSH-") {
			return parseSSHIdent(line), nil
		}
		if err != nil {
			return Info{}, err
		}
	}
	return Info{}, errMismatch
}

// parseSSHIdent parses "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".
func parseSSHIdent(line string) Info {
	info := Info{Service: "ssh", Banner: printable(line, maxBanner)}
	rest := strings.TrimPrefix(line, "SSH-")
	proto, rest, _ := strings.Cut(rest, "-")
	info.set("protocol", printable(proto, 16))
	software, comments, _ := strings.Cut(rest, " ")
	if comments != "" {
		info.set("comments", printable(comments, maxBanner))
	}
	software = printable(software, maxBanner)
	product, version := splitProductVersion(software, '_')
	switch strings.ToLower(product) {
	case "openssh":
		product = "OpenSSH"
	case "dropbear":
		product = "Dropbear"
	}
	info.Product, info.Version = product, version
	return info
}
