// Package gateway is the moat process: it opens the stores and the request
// log, binds the data and management listeners, serves the management
// plane (metrics, status, admin API, KQL and dashboard, pprof), runs the
// background work (retention, replica heartbeats, identity change feed,
// the in-process simulator) and, on start and on every reload, builds a
// dataplane.Pipeline from the config and swaps it in atomically. The
// request path itself is package dataplane; docs/architecture.md says how
// the two are cut.
package gateway
