package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/config"
)

// warnDays is how close to expiry a certificate turns the check to warn.
const warnDays = 14

// checkTLS handshakes over conn as a client for serverName, then verifies
// the chain itself so that every problem is named rather than reported as
// one handshake error: untrusted issuer, name not on the certificate,
// expired or not yet valid. It closes conn.
func checkTLS(ctx context.Context, conn net.Conn, serverName string, roots *x509.CertPool, now time.Time) Check {
	c := Check{Name: "tls"}
	tc := tls.Client(conn, &tls.Config{ServerName: serverName, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) // verified below, by hand
	defer tc.Close()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Status, c.Code = Fail, "tls_handshake"
		c.Detail = "handshake with " + serverName + ": " + err.Error()
		c.Cause = "the server did not complete a TLS handshake: it may speak plain HTTP, or a middlebox cut the connection"
		return c
	}
	certs := tc.ConnectionState().PeerCertificates
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	days := int(leaf.NotAfter.Sub(now).Hours() / 24)
	c.Detail = fmt.Sprintf("subject %q, names %s, issuer %q, expires %s (%d days left)",
		leaf.Subject.CommonName, strings.Join(certNames(leaf), ","), leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly), days)
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: serverName, Roots: roots, Intermediates: inter, CurrentTime: now})
	var (
		hostErr    x509.HostnameError
		authErr    x509.UnknownAuthorityError
		invalidErr x509.CertificateInvalidError
	)
	switch {
	case err == nil && days < warnDays:
		c.Status, c.Code = Warn, "tls_expiring"
		c.Cause = fmt.Sprintf("the certificate expires in %d days", days)
		c.Fix = "renew it before then; moat picks up a new listener certificate on reload"
	case err == nil:
		c.Status = OK
	case errors.As(err, &hostErr):
		c.Status, c.Code = Fail, "tls_name_mismatch"
		c.Cause = fmt.Sprintf("the certificate is not valid for %s (it names %s): clients see an SSLError / hostname mismatch",
			serverName, strings.Join(certNames(leaf), ", "))
		if config.PrivateLinkZone(serverName) {
			c.Code = "tls_privatelink_name"
			c.Cause = fmt.Sprintf("%s is the privatelink name; the service's certificate is for the public name (%s), "+
				"so calling the privatelink name always fails TLS", serverName, strings.Join(certNames(leaf), ", "))
			c.Fix = "call the public name and let DNS (a CNAME into the privatelink zone) or connect_address lead to the private endpoint"
		} else {
			c.Fix = "dial the name the certificate was issued for, or reissue the certificate with this name as a SAN"
		}
	case errors.As(err, &authErr):
		c.Status, c.Code = Fail, "tls_untrusted"
		c.Cause = fmt.Sprintf("the certificate was issued by %q, which neither the configured CA bundle nor the system roots trust", leaf.Issuer.CommonName)
		c.Fix = "add the issuing CA's certificate (PEM) to ca_file (upstreams) or the clients' trust store"
	case errors.As(err, &invalidErr) && invalidErr.Reason == x509.Expired:
		c.Status, c.Code = Fail, "tls_expired"
		if now.Before(leaf.NotBefore) {
			c.Code = "tls_not_yet_valid"
			c.Cause = "the certificate is not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339) + " (or this host's clock is wrong)"
		} else {
			c.Cause = "the certificate expired on " + leaf.NotAfter.UTC().Format(time.RFC3339)
		}
		c.Fix = "renew the certificate (and check this host's clock)"
	default:
		c.Status, c.Code = Fail, "tls_invalid"
		c.Cause = err.Error()
	}
	return c
}

// certNames lists the names and addresses a certificate is valid for.
func certNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, "CN="+c.Subject.CommonName+" (no SANs)")
	}
	return names
}
