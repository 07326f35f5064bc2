package credential

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestHasherKeyPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateHasher(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateHasher(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Hash("s3cret-0123456789"), b.Hash("s3cret-0123456789")) {
		t.Fatal("hash changed across reload of the key")
	}
	info, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", info.Mode().Perm())
	}
}

func TestVerify(t *testing.T) {
	h, err := NewHasher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	stored := h.Hash("right-password-123456")
	if !h.Verify("right-password-123456", stored) {
		t.Error("correct password rejected")
	}
	if h.Verify("wrong-password-123456", stored) {
		t.Error("wrong password accepted")
	}
	if h.Verify("", nil) {
		t.Error("empty hash accepted")
	}
	other, _ := NewHasher(bytes.Repeat([]byte{8}, 32))
	if other.Verify("right-password-123456", stored) {
		t.Error("hash from another key accepted")
	}
}

func TestAdminTokenShownOnce(t *testing.T) {
	dir := t.TempDir()
	h, _ := LoadOrCreateHasher(dir)
	hash, token, err := EnsureAdminToken(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) < 40 {
		t.Fatalf("admin token %q is too short", token)
	}
	again, second, err := EnsureAdminToken(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	if second != "" {
		t.Error("admin token returned again on second start")
	}
	if !bytes.Equal(hash, again) {
		t.Error("stored hash changed")
	}
	tokens := NewTokens(h, []string{"config-token-abcdefghijklmnop"}, again)
	for _, c := range []struct {
		token string
		want  bool
	}{{token, true}, {"config-token-abcdefghijklmnop", true}, {"nope", false}, {"", false}} {
		if got := tokens.Valid(c.token); got != c.want {
			t.Errorf("Valid(%q) = %v, want %v", c.token, got, c.want)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if bytes.Contains(raw, []byte(token)) {
		t.Error("plain admin token written to disk")
	}
}

func TestTokenScopes(t *testing.T) {
	h, _ := NewHasher(bytes.Repeat([]byte{9}, 32))
	adminHash := h.Hash("admin-token-0123456789abcdefghij")
	tokens := NewScopedTokens(h, []ScopedToken{
		{Scope: "regulator", Token: "regulator-token-0123456789abcdef"},
		{Scope: "dispatcher", Token: "dispatcher-token-0123456789abcde"},
	}, adminHash)
	cases := []struct {
		token, scope string
		ok           bool
	}{
		{"regulator-token-0123456789abcdef", "regulator", true},
		{"dispatcher-token-0123456789abcde", "dispatcher", true},
		{"admin-token-0123456789abcdefghij", AdminScope, true},
		{"unknown-token-0123456789abcdefgh", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		scope, ok := tokens.Scope(c.token)
		if scope != c.scope || ok != c.ok {
			t.Errorf("Scope(%q) = %q, %v; want %q, %v", c.token, scope, ok, c.scope, c.ok)
		}
	}
}
