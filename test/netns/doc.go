// Package netns holds moat's network-isolation end-to-end tests. They build
// a small network out of Linux network namespaces and veth pairs (a VNet
// with moat's private endpoint, the internet, a trusted reverse proxy and
// balancer, an untrusted host that forges headers), run the moat binary in
// it and check, byte for byte, who gets a completion and who gets which of
// Azure's 403s in each public network access mode, over IPv4 and IPv6, and
// across a SIGHUP reload with a stream in flight (see docs/network.md).
//
// They need root and iproute2. Without them they skip locally and fail when
// the CI environment variable is set.
package netns
