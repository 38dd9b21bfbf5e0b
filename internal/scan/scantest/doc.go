// Package scantest holds what the tests of the scanner and of its command line share:
// ports that stay closed while a test runs.
package scantest
