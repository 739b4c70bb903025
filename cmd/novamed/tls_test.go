package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"
)

// selfSignedCert writes a P-256 certificate for 127.0.0.1 and its key as
// PEM files and returns their paths and a pool that trusts the certificate.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "novamed test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// startTLSServer runs a production `novamed serve` with TLS through run().
// (The harness's startServer polls /healthz with plain http.Get, which
// cannot verify a self-signed certificate.) It returns the host:port.
func startTLSServer(t *testing.T, certFile, keyFile string, pool *x509.CertPool) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	vars := map[string]string{"NOVAMED_MASTER_KEY": testMasterKey(), "NOVAMED_CHECKPOINT_KEY_FILE": testCheckpointKeyFile(t)}
	args := []string{"serve", "--env", "production", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--tls-cert", certFile, "--tls-key", keyFile}
	go func() { done <- run(ctx, args, func(k string) string { return vars[k] }, &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("TLS server stopped with error: %v\nlogs:\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("TLS server did not shut down")
		}
	})

	line := regexp.MustCompile(`listening on https://(127\.0\.0\.1:\d+)`)
	addr := ""
	for deadline := time.Now().Add(15 * time.Second); addr == "" && time.Now().Before(deadline); {
		if m := line.FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("TLS server exited at start: %v\nstdout:\n%s\nlogs:\n%s", err, stdout.String(), stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if addr == "" {
		t.Fatalf("TLS server printed no https listening line; stdout:\n%s\nlogs:\n%s", stdout.String(), stderr.String())
	}
	client := tlsClient(&tls.Config{RootCAs: pool}, false)
	defer client.CloseIdleConnections()
	wait.Until(t, 2*time.Second, func() bool {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "TLS /healthz never answered 200; logs:\n%s", stderr.String())
	return addr
}

func tlsClient(cfg *tls.Config, h2 bool) *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2, Proxy: nil},
	}
}

// TestTLS: a production server with a certificate speaks TLS 1.2 and 1.3
// only, with AEAD suites only, and sends HSTS on every response.
func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSignedCert(t)
	addr := startTLSServer(t, certFile, keyFile, pool)

	t.Run("TLS 1.0 and 1.1 refused", func(t *testing.T) {
		for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: v})
			if err == nil {
				st := conn.ConnectionState()
				conn.Close()
				t.Errorf("a client limited to %s completed a handshake (version %s)", tls.VersionName(v), tls.VersionName(st.Version))
				continue
			}
			if !strings.Contains(err.Error(), "protocol version") {
				t.Logf("%s handshake failed with: %v", tls.VersionName(v), err)
			}
		}
	})

	t.Run("CBC suites refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}})
		if err == nil {
			st := conn.ConnectionState()
			conn.Close()
			t.Errorf("a CBC-only TLS 1.2 client completed a handshake with %s", tls.CipherSuiteName(st.CipherSuite))
		}
	})

	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v)+" accepted", func(t *testing.T) {
			client := tlsClient(&tls.Config{RootCAs: pool, MinVersion: v, MaxVersion: v}, false)
			defer client.CloseIdleConnections()
			resp, err := client.Get("https://" + addr + "/healthz")
			if err != nil {
				t.Fatalf("%s client: %v", tls.VersionName(v), err)
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("healthz over %s = %d", tls.VersionName(v), resp.StatusCode)
			}
			if resp.TLS == nil || resp.TLS.Version != v {
				t.Errorf("negotiated %v, want %s", resp.TLS, tls.VersionName(v))
			}
			if v == tls.VersionTLS12 {
				switch resp.TLS.CipherSuite {
				case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305:
				default:
					t.Errorf("TLS 1.2 suite %s is not a forward-secret AEAD suite", tls.CipherSuiteName(resp.TLS.CipherSuite))
				}
			}
			if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
				t.Errorf("healthz over TLS: Strict-Transport-Security = %q", hsts)
			}
		})
	}

	t.Run("HSTS on an API error", func(t *testing.T) {
		client := tlsClient(&tls.Config{RootCAs: pool}, false)
		defer client.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+addr+"/api/external/patient", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env envelope
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatalf("error body is not JSON: %v", err)
		}
		if resp.StatusCode != 401 || env.Error.Code != "UNAUTHORIZED" {
			t.Errorf("keyless request = %d %s, want 401 UNAUTHORIZED", resp.StatusCode, env.Error.Code)
		}
		if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
			t.Errorf("API error over TLS: Strict-Transport-Security = %q", hsts)
		}
	})

	t.Run("HTTP/2 offered by ALPN works", func(t *testing.T) {
		client := tlsClient(&tls.Config{RootCAs: pool}, true)
		defer client.CloseIdleConnections()
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("h2 client: %v", err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Errorf("h2 client got %d over %s", resp.StatusCode, resp.Proto)
		}
	})

	t.Run("plain HTTP on the TLS port is not served", func(t *testing.T) {
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
		defer client.CloseIdleConnections()
		resp, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Errorf("plain HTTP on the TLS port answered 200")
			}
		}
	})
}
