package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/config"
)

// certCheckEvery bounds how often a handshake looks at the certificate
// files: a stat of two files at most once a second costs nothing, and a
// renewed certificate is served within a second of being written.
const certCheckEvery = time.Second

// certSource serves one listener's certificate per handshake
// (tls.Config.GetCertificate), so a renewed certificate is used by the next
// connection with no restart and no connection dropped. It reloads when the
// files change (size or modification time) and on SIGHUP. A new pair that
// does not load (half-written, key not matching) keeps the old one serving
// and is logged; the next change tries again.
type certSource struct {
	listener          string
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	cur       atomic.Pointer[loadedCert]
	lastCheck atomic.Int64 // unix nanoseconds of the last file check
	mu        sync.Mutex   // one reload at a time
	tried     fileStamp    // the files as last tried, loaded or not; under mu
}

// loadedCert is a certificate in service and when it expires.
type loadedCert struct {
	cert     *tls.Certificate
	notAfter time.Time
}

// fileStamp identifies a version of the certificate and key files.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func newCertSource(listener string, t *config.TLS, log *slog.Logger, now func() time.Time) (*certSource, error) {
	c := &certSource{listener: listener, certFile: t.CertFile, keyFile: t.KeyFile, log: log, now: now}
	if err := c.reload(true); err != nil {
		return nil, err
	}
	return c, nil
}

// setFiles points the source at new files (a reload changed cert_file or
// key_file); the next reload reads them.
func (c *certSource) setFiles(certFile, keyFile string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.certFile, c.keyFile = certFile, keyFile
}

// GetCertificate implements tls.Config.GetCertificate.
func (c *certSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := c.now().UnixNano()
	if last := c.lastCheck.Load(); now-last >= int64(certCheckEvery) && c.lastCheck.CompareAndSwap(last, now) {
		_ = c.reload(false)
	}
	return c.cur.Load().cert, nil
}

// reload loads the pair if the files changed since the last try, or always
// when force is set (SIGHUP, first load).
func (c *certSource) reload(force bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.stamp()
	if err != nil {
		if force {
			return c.failed(err)
		}
		return nil // being replaced right now; the next check sees the new files
	}
	if !force && st == c.tried {
		return nil
	}
	c.tried = st
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return c.failed(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return c.failed(err)
	}
	pair.Leaf = leaf
	prev := c.cur.Swap(&loadedCert{cert: &pair, notAfter: leaf.NotAfter})
	if prev != nil && !prev.cert.Leaf.Equal(leaf) {
		c.log.Info("listener certificate reloaded", "listener", c.listener, "subject", leaf.Subject.String(),
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func (c *certSource) failed(err error) error {
	err = fmt.Errorf("listener %s: load certificate: %w", c.listener, err)
	if c.cur.Load() != nil {
		c.log.Error("new listener certificate does not load; still serving the previous one", "listener", c.listener, "err", err)
	}
	return err
}

func (c *certSource) stamp() (fileStamp, error) {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return fileStamp{}, err
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

// certExpiryCollector exports each TLS listener's certificate expiry at
// scrape time, so an alert can fire weeks before clients see an SSL error.
type certExpiryCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func newCertExpiryCollector(s *Server) *certExpiryCollector {
	return &certExpiryCollector{s: s, desc: prometheus.NewDesc("moat_tls_certificate_expiry_seconds",
		"Seconds until the certificate a TLS listener serves expires (negative once expired).", []string{"listener"}, nil)}
}

func (c *certExpiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certExpiryCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.s.now()
	for _, b := range c.s.servers {
		if b.certs == nil {
			continue
		}
		_ = b.certs.reload(false) // a scrape sees files renewed while no one connected
		left := b.certs.cur.Load().notAfter.Sub(now).Seconds()
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, left, b.name)
	}
}

// listenerTLS builds a TLS listener's handshake settings around a
// certSource.
func (s *Server) listenerTLS(lc config.Listener) (*certSource, *tls.Config, error) {
	certs, err := newCertSource(lc.Name, lc.TLS, s.log, s.now)
	if err != nil {
		return nil, nil, err
	}
	minV := uint16(tls.VersionTLS12)
	if lc.TLS.MinVersion == "1.3" {
		minV = tls.VersionTLS13
	}
	tc := &tls.Config{MinVersion: minV, GetCertificate: certs.GetCertificate}
	if f := lc.TLS.ClientCAFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("listener %s: client_ca_file: %w", lc.Name, err)
		}
		tc.ClientCAs = x509.NewCertPool()
		if !tc.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("listener %s: client_ca_file %s holds no PEM certificate", lc.Name, f)
		}
		tc.ClientAuth = tls.RequireAndVerifyClientCert
		if lc.TLS.ClientAuth == "optional" {
			tc.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return certs, tc, nil
}

// sameHandshake reports whether two TLS settings differ only in the
// certificate files, which a reload may change.
func sameHandshake(a, b config.TLS) bool {
	a.CertFile, a.KeyFile, b.CertFile, b.KeyFile = "", "", "", ""
	return a == b
}
