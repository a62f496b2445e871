package auth

import "crypto/x509"

// CertificatePrincipal is the principal of a client certificate that a
// listener has already verified against its client CA bundle. Its name is
// the first URI SAN (a SPIFFE ID, say), else the first DNS SAN, else the
// first email SAN, else the subject's common name: SANs first because they
// are what modern CAs put identities in, and the CN is only a fallback.
// Role assignments name it as cert:<name>.
func CertificatePrincipal(c *x509.Certificate) *Principal {
	name := c.Subject.CommonName
	switch {
	case len(c.URIs) > 0:
		name = c.URIs[0].String()
	case len(c.DNSNames) > 0:
		name = c.DNSNames[0]
	case len(c.EmailAddresses) > 0:
		name = c.EmailAddresses[0]
	}
	return &Principal{Type: TypeCert, ID: name, Name: c.Subject.String(), AppOnly: true}
}
