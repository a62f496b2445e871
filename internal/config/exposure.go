package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// loopbackAddress reports whether a listener address binds loopback only:
// 127.0.0.0/8, ::1 or the name localhost. ":8080" and 0.0.0.0 bind every
// interface and are not loopback.
func loopbackAddress(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// validateExposure refuses development mode where someone else can reach
// it: with auth.disabled every call is anonymous and may create keys, so
// every listener, data and management, must bind loopback only.
func (c *Config) validateExposure() []error {
	if !c.Auth.Disabled {
		return nil
	}
	var errs []error
	for _, l := range c.AllListeners() {
		if !loopbackAddress(l.Address) {
			errs = append(errs, fmt.Errorf("auth.disabled: listener %q binds %s, which is not loopback; "+
				"without authentication moat only listens on 127.0.0.1, ::1 or localhost", l.Name, l.Address))
		}
	}
	return errs
}

// validateAllowedHosts checks management.allowed_hosts entries are bare
// host names: a port, scheme or path would never match a Host header.
func (m *Management) validateAllowedHosts() []error {
	var errs []error
	for _, h := range m.AllowedHosts {
		name := strings.TrimPrefix(h, "*.")
		if name == "" || strings.ContainsAny(name, ":/@ *") {
			errs = append(errs, fmt.Errorf("management.allowed_hosts: %q must be a host name or *.suffix, without port or scheme", h))
		}
	}
	return errs
}

func (q *QueryLimits) validate() []error {
	if q.MaxConcurrent < 0 || q.MaxPerPrincipal < 0 || q.Workers < 0 {
		return []error{fmt.Errorf("management.query: max_concurrent, max_per_principal and workers cannot be negative")}
	}
	return nil
}

// checkEndpointURL validates an upstream or collector URL. Credentials in
// the URL (https://user:pw@host) are refused: they would travel in config
// dumps and logs; the error names the field but never repeats the URL's
// user info.
func checkEndpointURL(field, raw string) error {
	p, err := url.Parse(raw)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return fmt.Errorf("%s %q must be an http(s) URL", field, RedactURL(raw))
	}
	if p.User != nil {
		return fmt.Errorf("%s %q must not carry user info (credentials in the URL); "+
			"use the upstream's api_key or auth settings", field, RedactURL(raw))
	}
	return nil
}

// RedactURL removes the user info from a URL-like string, parsable or not,
// so it can be shown: "https://user:pw@host/x" becomes "https://REDACTED@host/x".
func RedactURL(raw string) string {
	rest, scheme := raw, ""
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme, rest = raw[:i+3], raw[i+3:]
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return raw
	}
	return scheme + "REDACTED" + rest[at:]
}
