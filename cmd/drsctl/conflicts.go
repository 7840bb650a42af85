package main

import "flag"

// isSet reports whether the command line gave the flag name, whatever its
// value (-refresh=true is as contradictory with a saved plan as
// -refresh=false).
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
