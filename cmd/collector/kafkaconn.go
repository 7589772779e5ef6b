package main

import (
	"crypto/tls"
	"time"

	"github.com/lagwatch/lagwatch/internal/kafkasource"
)

// source is what kafkasource needs to read this cluster: brokers, TLS, SASL,
// the group filter, the timeouts, and the variable prefix its errors name
// (they never contain the password).
func (c ClusterConfig) source(dialTimeout, requestTimeout time.Duration, concurrency int) kafkasource.Cluster {
	kc := kafkasource.Cluster{
		Name: c.Name, Brokers: c.Brokers, VarPrefix: c.prefix(),
		Filter: c.GroupFilter(), Concurrency: concurrency, DialTimeout: dialTimeout, RequestTimeout: requestTimeout,
	}
	if c.TLS != nil {
		f := c.TLS.files()
		kc.TLS = &f
	}
	if c.SASL != nil {
		s := c.SASL.settings()
		kc.SASL = &s
	}
	return kc
}

// GroupFilter returns whether a consumer group is watched: it must match
// GroupAllow (when set) and must not match GroupDeny (when set). Both are
// unanchored: "^orders-" selects ids starting with "orders-", "orders"
// every id containing it.
func (c ClusterConfig) GroupFilter() func(group string) bool {
	allow, deny := c.GroupAllow, c.GroupDeny
	return func(group string) bool {
		if allow != nil && !allow.MatchString(group) {
			return false
		}
		return deny == nil || !deny.MatchString(group)
	}
}

func (t TLSConfig) files() kafkasource.TLSFiles {
	return kafkasource.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, InsecureSkipVerify: t.InsecureSkipVerify}
}

// build reads the PEM files as kafkasource.New will, for validation. Each
// error is an *envconf.FieldError naming the variable of the file at fault.
func (t TLSConfig) build(prefix string) (*tls.Config, error) {
	return t.files().Config(prefix)
}

func (s SASLConfig) settings() kafkasource.SASL {
	return kafkasource.SASL{Mechanism: s.Mechanism, Username: s.Username, Password: s.Password}
}

// mechanism checks the SASL settings as kafkasource.New will, for
// validation. Errors are *envconf.FieldError values without the password.
func (s SASLConfig) mechanism(prefix string) (kafkasource.SASL, error) {
	k := s.settings()
	return k, k.Check(prefix)
}
