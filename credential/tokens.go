package credential

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const adminTokenFile = "admin-token.hmac"

// Tokens checks API bearer tokens against stored hashes. It is immutable
// after construction and safe for concurrent use.
type Tokens struct {
	hasher *Hasher
	hashes [][]byte
	// scopes[i] is the scope of hashes[i], such as "admin" or "regulator".
	scopes []string
}

// ScopedToken is a plain token and the scope it grants.
type ScopedToken struct {
	Scope string
	Token string
}

// AdminScope is the scope of unscoped tokens and of the admin token.
const AdminScope = "admin"

// NewTokens accepts the given plain tokens (from configuration) and any
// extra hashes (the stored admin token).
func NewTokens(h *Hasher, plain []string, hashes ...[]byte) *Tokens {
	scoped := make([]ScopedToken, len(plain))
	for i, p := range plain {
		scoped[i] = ScopedToken{Scope: AdminScope, Token: p}
	}
	return NewScopedTokens(h, scoped, hashes...)
}

// NewScopedTokens accepts tokens that each grant their own scope, plus
// hashes of admin tokens.
func NewScopedTokens(h *Hasher, scoped []ScopedToken, adminHashes ...[]byte) *Tokens {
	t := &Tokens{hasher: h}
	for _, st := range scoped {
		t.hashes = append(t.hashes, h.Hash(st.Token))
		t.scopes = append(t.scopes, st.Scope)
	}
	for _, hash := range adminHashes {
		t.hashes = append(t.hashes, hash)
		t.scopes = append(t.scopes, AdminScope)
	}
	return t
}

// Scope returns the scope token grants, and false when no token matches.
// Every stored hash is compared, so the time taken does not reveal which
// one matched.
func (t *Tokens) Scope(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	got := t.hasher.Hash(token)
	found := -1
	for i, want := range t.hashes {
		if subtle.ConstantTimeCompare(got, want) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return t.scopes[found], true
}

// Valid reports whether token matches any accepted token. Every stored
// hash is compared, so the time taken does not reveal which one matched.
func (t *Tokens) Valid(token string) bool {
	if token == "" {
		return false
	}
	got := t.hasher.Hash(token)
	match := 0
	for _, want := range t.hashes {
		match |= subtle.ConstantTimeCompare(got, want)
	}
	return match == 1
}

// EnsureAdminToken returns the stored admin token hash from dir. On first
// start it creates a random token, stores only its hash, and returns the
// plain token so the caller can show it once.
func EnsureAdminToken(dir string, h *Hasher) (hash []byte, created string, err error) {
	path := filepath.Join(dir, adminTokenFile)
	data, err := os.ReadFile(path)
	if err == nil {
		hash, err := decodeHex(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, "", fmt.Errorf("read admin token hash %s: %w", path, err)
		}
		return hash, "", nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("read admin token hash: %w", err)
	}

	token, err := RandomSecret(32)
	if err != nil {
		return nil, "", err
	}
	hash = h.Hash(token)
	if err := writeFileSync(path, []byte(fmt.Sprintf("%x\n", hash))); err != nil {
		return nil, "", fmt.Errorf("write admin token hash: %w", err)
	}
	return hash, token, nil
}

// LoadAdminToken returns the stored admin token hash from dir, and false
// when none is stored yet.
func LoadAdminToken(dir string) (hash []byte, ok bool, err error) {
	path := filepath.Join(dir, adminTokenFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read admin token hash: %w", err)
	}
	hash, err = decodeHex(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, false, fmt.Errorf("read admin token hash %s: %w", path, err)
	}
	return hash, true, nil
}

// NewAdminToken returns a random admin token and its hash without storing
// anything, so a start that fails later does not use up the one showing of
// the token; SaveAdminToken stores the hash once the start succeeded.
func NewAdminToken(h *Hasher) (token string, hash []byte, err error) {
	token, err = RandomSecret(32)
	if err != nil {
		return "", nil, err
	}
	return token, h.Hash(token), nil
}

// SaveAdminToken stores the admin token hash in dir.
func SaveAdminToken(dir string, hash []byte) error {
	if err := writeFileSync(filepath.Join(dir, adminTokenFile), []byte(fmt.Sprintf("%x\n", hash))); err != nil {
		return fmt.Errorf("write admin token hash: %w", err)
	}
	return nil
}

// ResetAdminToken replaces the stored admin token with a new random one
// and returns it; the old token stops working at the next start.
func ResetAdminToken(dir string, h *Hasher) (string, error) {
	path := filepath.Join(dir, adminTokenFile)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("remove admin token hash: %w", err)
	}
	_, token, err := EnsureAdminToken(dir, h)
	return token, err
}

func decodeHex(s string) ([]byte, error) {
	var out []byte
	if _, err := fmt.Sscanf(s, "%x", &out); err != nil || len(out) != 32 {
		return nil, fmt.Errorf("want 64 hex digits")
	}
	return out, nil
}
