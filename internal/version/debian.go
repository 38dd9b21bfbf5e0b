package version

import (
	"fmt"

	debversion "pault.ag/go/debian/version"
)

// CompareDebian orders two Debian package versions ([epoch:]upstream[-revision]) exactly as
// dpkg --compare-versions does: -1, 0 or +1. The comparison is the maintained implementation
// of pault.ag/go/debian; the tests hold it to the real dpkg on this machine.
func CompareDebian(a, b string) (int, error) {
	va, err := debversion.Parse(a)
	if err != nil {
		return 0, fmt.Errorf("debian version %q: %w", a, err)
	}
	vb, err := debversion.Parse(b)
	if err != nil {
		return 0, fmt.Errorf("debian version %q: %w", b, err)
	}
	switch c := debversion.Compare(va, vb); {
	case c < 0:
		return -1, nil
	case c > 0:
		return 1, nil
	}
	return 0, nil
}
