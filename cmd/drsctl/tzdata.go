package main

// The IANA time zone database is built in (about 450 KB), so a
// restore_window's time_zone means the same hours on a minimal container or
// a Windows host without zoneinfo files as on the machine that planned it.
import _ "time/tzdata"
