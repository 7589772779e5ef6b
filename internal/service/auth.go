package service

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/lagwatch/lagwatch/internal/envconf"
)

// Credentials are what a client must present to be let in: a bearer token
// (Authorization: Bearer <token>), a user and password (HTTP basic
// authentication), or either of them when both are set. The zero value lets
// everyone in.
//
// Secrets are compared in constant time, over their SHA-256 digests so
// that not even their length shows in the time an answer takes.
type Credentials struct {
	Token    envconf.Secret
	Username string
	Password envconf.Secret
}

// Set reports whether any credential is asked for.
func (c Credentials) Set() bool { return c.Token != "" || c.Username != "" || c.Password != "" }

// Allows reports whether r carries the credentials; always true when none
// are set.
func (c Credentials) Allows(r *http.Request) bool {
	if !c.Set() {
		return true
	}
	if c.Token != "" {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		// RFC 6750: the scheme is case-insensitive.
		if ok && strings.EqualFold(scheme, "Bearer") && equal(strings.TrimSpace(token), string(c.Token)) == 1 {
			return true
		}
	}
	if c.Username != "" {
		user, pass, ok := r.BasicAuth()
		// Both compared whatever the first says: one answer time for any
		// wrong pair.
		if ok && equal(user, c.Username)&equal(pass, string(c.Password)) == 1 {
			return true
		}
	}
	return false
}

// equal is 1 when a and b are the same, 0 when not, in a time that does not
// depend on where they differ or on their lengths.
func equal(a, b string) int {
	x, y := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(x[:], y[:])
}

// Challenge is the WWW-Authenticate value of a 401 answer: the schemes
// that would be accepted.
func (c Credentials) Challenge() string {
	var schemes []string
	if c.Token != "" {
		schemes = append(schemes, `Bearer realm="lagwatch"`)
	}
	if c.Username != "" {
		schemes = append(schemes, `Basic realm="lagwatch", charset="UTF-8"`)
	}
	return strings.Join(schemes, ", ")
}

// Guard is h behind c: a request without the credentials gets 401, with
// Challenge and a line of plain text, and never reaches h. Without
// credentials set, h itself.
func (c Credentials) Guard(h http.Handler) http.Handler {
	if !c.Set() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.Allows(r) {
			w.Header().Set("WWW-Authenticate", c.Challenge())
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
