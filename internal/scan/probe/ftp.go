package probe

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strings"
)

// readFTP reads the 220 greeting (RFC 959) and says QUIT.
func readFTP(c net.Conn, r *bufio.Reader) (Info, error) {
	code, lines, err := readReply(r)
	if err != nil || code != "220" {
		if err == nil {
			err = errMismatch
		}
		return Info{}, err
	}
	info := Info{Service: "ftp", Banner: printable(lines[0], maxBanner)}
	info.Product, info.Version = ftpProduct(strings.Join(lines, " "))
	io.WriteString(c, "QUIT\r\n")
	return info, nil
}

var ftpProducts = []struct {
	re      *regexp.Regexp
	product string
}{
	{regexp.MustCompile(`(?i)\bvsFTPd ([0-9][0-9.]*)`), "vsftpd"},
	{regexp.MustCompile(`(?i)\bProFTPD ([0-9][0-9.a-z]*)`), "ProFTPD"},
	{regexp.MustCompile(`(?i)\bPure-FTPd(?: ([0-9][0-9.]*))?`), "Pure-FTPd"},
	{regexp.MustCompile(`(?i)\bFileZilla Server(?: (?:version )?([0-9][0-9.]*))?`), "FileZilla Server"},
	{regexp.MustCompile(`(?i)\bMicrosoft FTP Service()`), "Microsoft FTP Service"},
	{regexp.MustCompile(`(?i)\bwu-([0-9][0-9.]*)`), "wu-ftpd"},
}

func ftpProduct(greeting string) (string, string) {
	for _, p := range ftpProducts {
		if m := p.re.FindStringSubmatch(greeting); m != nil {
			v := ""
			if len(m) > 1 {
				v = m[1]
			}
			return p.product, strings.TrimRight(v, ".")
		}
	}
	return "", ""
}
