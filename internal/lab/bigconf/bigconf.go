// Package bigconf generates nginx configurations of the size hosting and CDN nodes carry (tens of
// thousands of server blocks, regex locations, maps, TLS certificates), for the tests and the
// bench: what makes nginx take seconds to test and start its configuration, and what makes a dump
// of it (`nginx -T`) tens of megabytes.
package bigconf

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Options shape a generated configuration: an http-context file (server blocks and maps) to
// include from a main configuration.
type Options struct {
	Servers        int    // server blocks
	Listen         string // what each plain server listens on, e.g. "127.0.0.1:8080"
	RegexLocations int    // regex locations in each server block
	Maps           int    // map blocks, each with MapEntries regex entries
	MapEntries     int
	// TLS: every server block i < Certs also listens on TLSListen with the certificate
	// CertDir/i.pem (key i.key), written by WriteCerts.
	Certs     int
	TLSListen string
	CertDir   string
}

// Write writes the http-context configuration o describes.
func Write(w io.Writer, o Options) error {
	bw := bufio.NewWriter(w)
	for m := range o.Maps {
		fmt.Fprintf(bw, "map $uri $bigconf_map_%d {\n    default 0;\n", m)
		for e := range o.MapEntries {
			fmt.Fprintf(bw, "    \"~^/m%d/e%d/[a-z]+$\" %d;\n", m, e, e+1)
		}
		bw.WriteString("}\n")
	}
	for i := range o.Servers {
		fmt.Fprintf(bw, "server {\n    listen %s;\n", o.Listen)
		if i < o.Certs {
			fmt.Fprintf(bw, "    listen %s ssl;\n    ssl_certificate %s;\n    ssl_certificate_key %s;\n",
				o.TLSListen, certPath(o.CertDir, i, "pem"), certPath(o.CertDir, i, "key"))
		}
		fmt.Fprintf(bw, "    server_name s%d.bigconf.test www.s%d.bigconf.test;\n", i, i)
		for l := range o.RegexLocations {
			fmt.Fprintf(bw, "    location ~ ^/s%d/r%d/(?<rest>[^/]+)\\.(html|txt)$ { return 200 \"$rest\\n\"; }\n", i, l)
		}
		bw.WriteString("    location / { return 204; }\n}\n")
	}
	return bw.Flush()
}

// WriteDump writes what `nginx -T` would print for a main configuration main including, inside
// its http block, the configuration o describes: each file after nginx's header line for it.
func WriteDump(w io.Writer, main string, o Options) error {
	if _, err := fmt.Fprintf(w, "# configuration file /etc/nginx/nginx.conf:\n%s\n# configuration file /etc/nginx/conf.d/bigconf.conf:\n", main); err != nil {
		return err
	}
	return Write(w, o)
}

func certPath(dir string, i int, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%d.%s", i, ext))
}

// WriteCerts writes n self-signed certificates with their keys into dir, as Write's TLS server
// blocks name them: ECDSA P-256 (the fastest to generate, and common on such hosts), one name each.
func WriteCerts(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certificate directory: %w", err)
	}
	now := time.Now()
	for i := range n {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("certificate %d: key: %w", i, err)
		}
		name := fmt.Sprintf("s%d.bigconf.test", i)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i) + 1),
			Subject:      pkix.Name{CommonName: name},
			DNSNames:     []string{name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return fmt.Errorf("certificate %d: %w", i, err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return fmt.Errorf("certificate %d: key: %w", i, err)
		}
		if err := writePEM(certPath(dir, i, "pem"), "CERTIFICATE", der); err != nil {
			return err
		}
		if err := writePEM(certPath(dir, i, "key"), "EC PRIVATE KEY", keyDER); err != nil {
			return err
		}
	}
	return nil
}

func writePEM(path, kind string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
