//go:build !linux

package state

// selfIdentity is zero where there is no /proc to pin a process down by:
// a lock taken here is judged by its expiry alone.
func selfIdentity() ProcessIdentity { return ProcessIdentity{} }

// holderGone never tells a holder gone on this platform: a PID alone does
// not say whether the holder still runs (PIDs are reused) nor that it ran
// on this machine (host names repeat), and taking over a live lock is worse
// than waiting for a short expiry.
func holderGone(LockInfo) (bool, string) { return false, "" }
