// Package authz decides which client identities may use which keys, types
// and operations (docs/features.md, "Per-identity authorization"). No rules
// means every verified client may do everything: upstream's behaviour.
package authz

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Operations a rule can grant.
var Operations = []string{"lock", "release", "fetch", "fetch_all", "watch", "history"}

// Types a rule can name.
var Types = []string{"lock", "presence"}

// Config is the "authorization" object of locket.json.
type Config struct {
	Rules []Rule `json:"rules"`
}

// Rule grants the clients whose certificate matches Identity the listed
// operations on the listed keys and types. An empty list means "any".
type Rule struct {
	Name     string `json:"name"`
	Identity Match  `json:"identity"`
	// Keys are exact keys, or prefixes when they end in "*".
	Keys       []string `json:"keys"`
	Types      []string `json:"types"`
	Operations []string `json:"operations"`
}

// Match selects certificates: every non-empty list must contain the
// certificate's common name, one of its organizational units, one of its
// subject alternative names (DNS names, IP addresses, URIs, e-mails).
type Match struct {
	CN  []string `json:"cn"`
	OU  []string `json:"ou"`
	SAN []string `json:"san"`
}

// Enabled says whether any rule is configured.
func (c Config) Enabled() bool { return len(c.Rules) > 0 }

// Validate checks names of operations and types.
func (c Config) Validate() error {
	var errs []error
	for i, r := range c.Rules {
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		for _, op := range r.Operations {
			if !slices.Contains(Operations, op) {
				errs = append(errs, fmt.Errorf("authorization rule %s: operation %q is not one of %s", name, op, strings.Join(Operations, ", ")))
			}
		}
		for _, t := range r.Types {
			if !slices.Contains(Types, t) {
				errs = append(errs, fmt.Errorf("authorization rule %s: type %q is not one of %s", name, t, strings.Join(Types, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

// Identity is what the rules look at in a verified client certificate.
type Identity struct {
	CN   string
	OU   []string
	SANs []string
	// Subject is the name recorded as the acquirer of a lock and in history.
	Subject string
}

// IdentityOf reads a certificate.
func IdentityOf(cert *x509.Certificate) Identity {
	id := Identity{CN: cert.Subject.CommonName, OU: cert.Subject.OrganizationalUnit, Subject: cert.Subject.String()}
	id.SANs = append(id.SANs, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		id.SANs = append(id.SANs, ip.String())
	}
	for _, u := range cert.URIs {
		id.SANs = append(id.SANs, u.String())
	}
	id.SANs = append(id.SANs, cert.EmailAddresses...)
	if id.Subject == "" && len(id.SANs) > 0 {
		id.Subject = "SAN=" + id.SANs[0]
	}
	return id
}

// Request is one operation to decide on. Key and Type are "" when the
// request does not name one (FetchAll names no key; Fetch no type).
type Request struct {
	Operation string
	Key       string
	Type      string
}

// Allow returns the name (or 1-based number) of the first rule that grants
// req to id, and whether one does. A rule that restricts keys does not grant
// a request naming no key (it would reach every key); the same for types.
func (c Config) Allow(id Identity, req Request) (string, bool) {
	if !c.Enabled() {
		return "", true
	}
	for i, r := range c.Rules {
		if !r.Identity.matches(id) {
			continue
		}
		if len(r.Operations) > 0 && !slices.Contains(r.Operations, req.Operation) {
			continue
		}
		if len(r.Types) > 0 && (req.Type == "" || !slices.Contains(r.Types, req.Type)) {
			continue
		}
		if len(r.Keys) > 0 && (req.Key == "" || !keyMatches(r.Keys, req.Key)) {
			continue
		}
		if r.Name != "" {
			return r.Name, true
		}
		return fmt.Sprintf("#%d", i+1), true
	}
	return "", false
}

func (m Match) matches(id Identity) bool {
	if len(m.CN) > 0 && !slices.Contains(m.CN, id.CN) {
		return false
	}
	if len(m.OU) > 0 && !slices.ContainsFunc(id.OU, func(ou string) bool { return slices.Contains(m.OU, ou) }) {
		return false
	}
	if len(m.SAN) > 0 && !slices.ContainsFunc(id.SANs, func(s string) bool { return slices.Contains(m.SAN, s) }) {
		return false
	}
	return true
}

func keyMatches(keys []string, key string) bool {
	for _, k := range keys {
		if p, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(key, p) {
			return true
		}
		if k == key {
			return true
		}
	}
	return false
}
