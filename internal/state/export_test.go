package state

import "time"

// SetRenewFault sets l's lease renewal fault hook (see Local.renewFault),
// for the conformance tests in package state_test.
func SetRenewFault(l *Local, f func(step string) error) { l.renewFault = f }

// SetPoll sets how often l polls a held lock.
func SetPoll(l *Local, lo, hi time.Duration) { l.pollMin, l.pollMax = lo, hi }
