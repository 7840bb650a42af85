package plan

// KeyFromServerPath maps a path a server wrote or read (as its history
// records it) back to a key under base, the server_path of a backup folder
// or destination; ok is false when the path is not under it. It is the
// rule refresh and planning use, for `drsctl state rebuild`.
func KeyFromServerPath(base, p string) (key string, ok bool) { return keyFromServerPath(base, p) }
