// Package reqlogfault holds the request log's fault tests: real `moat
// serve` processes writing to PostgreSQL through a forwarder that refuses
// and hangs, and a replica killed with SIGKILL under load. They check that
// every call that got a response is in the log exactly once.
package reqlogfault
