package envconf

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
)

// Redacted stands for a secret that is set.
const Redacted = "[REDACTED]"

// Secret is a password, API key, token or URL holding one. Every rendering
// of it (fmt with any verb, slog, encoding/json) shows Redacted, or nothing
// when it is empty, so that it cannot reach a log or a message by accident.
// Convert it to string only where it is sent.
type Secret string

// String is Redacted, or "" for an unset secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString, Format, LogValue and MarshalJSON all show String.
func (s Secret) GoString() string             { return s.String() }
func (s Secret) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, s.String()) }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(s.String()) }
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
