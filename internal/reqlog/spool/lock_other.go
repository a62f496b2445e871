//go:build !unix

package spool

// lockDir does nothing where flock is missing: one process per data
// directory is then the operator's to ensure.
func lockDir(string) (unlock func(), err error) { return func() {}, nil }
