// Package netpolicy reproduces Azure's public network access model for a
// Cognitive Services account (wire reference §3.1, §3.2) and decides, before
// any authentication, whether a client may talk to the gateway at all
// (§2.12 step 2), so that unauthenticated scanners learn nothing.
//
// The model has three layers, evaluated in a fixed order by [Policy.Decide]:
//
//  1. The listener's AllowedSources, an NSG-like allow list in front of
//     everything else. Azure enforces NSGs at the network layer; moat enforces
//     them per request so that one address rule set covers both.
//  2. Private endpoint listeners, whose traffic Azure always allows,
//     whatever publicNetworkAccess and networkAcls say.
//  3. The account's publicNetworkAccess: "disabled" (private endpoints only),
//     "enabled" (all networks) or "selected" (the portal's "Selected networks
//     and private endpoints": networkAcls.defaultAction Deny plus ipRules and
//     virtualNetworkRules).
//
// A self-hosted gateway has no Azure subnets, so a virtual network rule is a
// named CIDR: a client whose address falls inside it counts as coming from
// that subnet.
//
// Azure accepts only public IPv4 addresses in ipRules and refuses /31 and /32
// prefixes (bare addresses are required instead). moat deliberately does not
// copy that restriction: it runs inside private networks, where the callers
// that need allowing have RFC 1918, CGNAT, ULA or other IPv6 addresses, and
// where a /32 written by a configuration tool means exactly one host. Rules
// therefore accept any IPv4 or IPv6 address or prefix; a bare address is a
// /32 or /128. IPv4-mapped IPv6 forms are refused in rules and unmapped in
// client addresses, so one IPv4 rule matches a client whatever socket family
// it arrived on.
//
// Behind reverse proxies the client address comes from [ClientAddr], which
// believes X-Forwarded-For and Forwarded only when the socket peer is a
// trusted proxy. PROXY protocol listeners are handled below HTTP by package
// proxyproto; their connections already report the original client.
package netpolicy
