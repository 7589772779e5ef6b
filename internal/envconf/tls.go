package envconf

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"os"
)

// LoadKeyPair reads a PEM certificate (chain) and its private key, the
// files of variables certVar and keyVar: nil when both are empty. Each error
// is a *FieldError naming the variable of the file at fault; none holds key
// material.
func LoadKeyPair(certFile, keyFile, certVar, keyVar string) (*tls.Certificate, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case keyFile == "":
		return nil, &FieldError{Var: keyVar, Msg: "required when " + certVar + " is set"}
	case certFile == "":
		return nil, &FieldError{Var: certVar, Msg: "required when " + keyVar + " is set"}
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &FieldError{Var: certVar, Msg: err.Error()}
	}
	if !hasPEMBlock(certPEM, "CERTIFICATE") {
		return nil, &FieldError{Var: certVar, Msg: fmt.Sprintf("no PEM certificate in %q", certFile)}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &FieldError{Var: keyVar, Msg: err.Error()}
	}
	// crypto/tls's messages here are fixed strings, never key material.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &FieldError{Var: keyVar, Msg: fmt.Sprintf("%q with %s %q: %v", keyFile, certVar, certFile, err)}
	}
	return &pair, nil
}

// hasPEMBlock reports whether b holds at least one PEM block of type typ.
func hasPEMBlock(b []byte, typ string) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if blk.Type == typ {
			return true
		}
	}
}

// ServerTLS are the PEM files of a listener's TLS: its certificate (chain)
// and key, and CA certificates that every client must present a
// certificate of (mutual TLS), or none.
type ServerTLS struct{ CertFile, KeyFile, ClientCAFile string }

// Config reads the files into the listener's TLS configuration (TLS 1.2 or
// later; with ClientCAFile, a client certificate of those CAs required): nil
// without any file. vars names the variables of the files, in the order of
// the fields. Each error is a *FieldError naming the variable at fault.
func (t ServerTLS) Config(vars ServerTLS) (*tls.Config, error) {
	if t == (ServerTLS{}) {
		return nil, nil
	}
	if t.CertFile == "" && t.KeyFile == "" {
		return nil, &FieldError{Var: vars.ClientCAFile, Msg: "is set but " + vars.CertFile + " is empty: client certificates need TLS"}
	}
	pair, err := LoadKeyPair(t.CertFile, t.KeyFile, vars.CertFile, vars.KeyFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{Certificates: []tls.Certificate{*pair}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		pool, err := LoadCAPool(t.ClientCAFile)
		if err != nil {
			return nil, &FieldError{Var: vars.ClientCAFile, Msg: err.Error()}
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
