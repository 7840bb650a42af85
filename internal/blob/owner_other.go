//go:build !unix

package blob

// adoptRootOwner: on Windows a new directory inherits the folder's ACL.
func adoptRootOwner(file, root string) error { return nil }
