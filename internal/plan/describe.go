package plan

// Describe is how an action reads on its own line, in apply's output and
// in every -json message about it: "primary/database → target: verb", the
// target left out for actions on the primary or its backup folder. A ship,
// verify or restore names its target: two targets' ships of the same backup
// must not read alike.
func (a *Action) Describe() string {
	s := a.Primary + "/" + a.Database
	if a.Target != "" {
		s += " → " + a.Target
	}
	return s + ": " + a.Verb()
}
