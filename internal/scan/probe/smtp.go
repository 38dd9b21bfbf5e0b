package probe

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strings"
)

// probeSMTPS handshakes TLS first (implicit TLS, port 465), then SMTP.
func probeSMTPS(s *session) (Info, error) {
	c, err := s.dial()
	if err != nil {
		return Info{}, err
	}
	defer c.Close()
	return tlsThenApp(s, c, 465)
}

// readReply reads one SMTP/FTP reply (RFC 5321 4.2, RFC 959 4.2): lines
// "ddd-text" continue it, "ddd text" ends it. At most 64 lines.
func readReply(r *bufio.Reader) (code string, lines []string, err error) {
	for range 64 {
		line, err := readLine(r, 1024)
		if err != nil && line == "" {
			return code, lines, err
		}
		if len(line) < 3 || !isDigits(line[:3]) {
			return code, lines, errMismatch
		}
		if code == "" {
			code = line[:3]
		}
		lines = append(lines, line)
		if len(line) == 3 || line[3] != '-' {
			return code, lines, nil
		}
	}
	return code, lines, errMismatch
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// readSMTP reads the 220 greeting, sends EHLO, notes STARTTLS, and QUITs.
func readSMTP(c net.Conn, r *bufio.Reader) (Info, error) {
	code, lines, err := readReply(r)
	if err != nil || code != "220" {
		if err == nil {
			err = errMismatch
		}
		return Info{}, err
	}
	info := Info{Service: "smtp", Banner: printable(lines[0], maxBanner)}
	info.Product, info.Version = smtpProduct(strings.Join(lines, " "))
	if _, err := io.WriteString(c, "EHLO patchday-scan.invalid\r\n"); err != nil {
		return info, nil
	}
	code, lines, err = readReply(r)
	if err != nil {
		return info, nil
	}
	if code != "250" {
		if code == "500" && containsFold(info.Banner, "FTP") {
			return Info{Service: "ftp", Banner: info.Banner}, nil
		}
		info.set("ehlo", printable(code, 16))
		return info, nil
	}
	starttls := "no"
	var exts []string
	for i, l := range lines {
		if i == 0 || len(l) < 4 {
			continue // the first line greets; extensions follow
		}
		kw := strings.ToUpper(strings.TrimSpace(l[4:]))
		exts = append(exts, printable(kw, 64))
		if kw == "STARTTLS" {
			starttls = "yes"
		}
	}
	info.set("starttls", starttls)
	if len(exts) > 0 {
		info.set("extensions", strings.Join(exts, ","))
	}
	io.WriteString(c, "QUIT\r\n")
	return info, nil
}

var (
	reExim     = regexp.MustCompile(`(?i)\bExim ([0-9][0-9.]*)`)
	reSendmail = regexp.MustCompile(`(?i)\bSendmail ([0-9][0-9.]*)`)
	rePostfix  = regexp.MustCompile(`(?i)\bPostfix\b`)
)

// smtpProduct recognises common MTAs from the greeting.
func smtpProduct(greeting string) (string, string) {
	switch {
	case rePostfix.MatchString(greeting):
		return "Postfix", "" // Postfix does not announce its version
	case reExim.MatchString(greeting):
		return "Exim", reExim.FindStringSubmatch(greeting)[1]
	case containsFold(greeting, "OpenSMTPD"):
		return "OpenSMTPD", ""
	case containsFold(greeting, "Microsoft ESMTP"):
		return "Microsoft ESMTP", ""
	case reSendmail.MatchString(greeting):
		return "Sendmail", reSendmail.FindStringSubmatch(greeting)[1]
	}
	return "", ""
}
