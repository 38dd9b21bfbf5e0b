//go:build !linux

package scan

import "sync"

// startEngine reports that there is no connect engine here (see connect_linux.go): the
// workers dial with net.Dialer.
func (sc *scanRun) startEngine(wg *sync.WaitGroup, outcomes chan<- outcome, reportAll bool) bool {
	return false
}
