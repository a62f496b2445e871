// Package inproc holds moat's in-process Go benchmarks: a client, moat and
// the fixed-answer upstream in one test binary, so that `go test -bench`
// reports allocations per call and `-cpuprofile` shows where a call's CPU
// time goes. bench/run.sh measures the same call across processes; these
// benchmarks explain its numbers. moat is built only through its exported
// API (config.Parse, gateway.New, Start, Addr, Shutdown), as cmd/moat does.
package inproc
