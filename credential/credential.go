// Package credential hashes and checks the secrets hwtrack accepts: vehicle
// MQTT passwords and API bearer tokens.
//
// Both are machine secrets, long and random, so a keyed hash (HMAC-SHA256
// with a server key) protects them as well as a slow KDF would while a
// reconnect storm of the whole fleet costs microseconds per vehicle. The key
// lives in the data directory, so a stolen copy of the store alone does not
// let anyone test guesses offline.
package credential

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const keyFile = "server.key"

// Hasher computes keyed hashes of secrets. It is safe for concurrent use.
type Hasher struct {
	key []byte
}

// NewHasher returns a Hasher with the given key (at least 32 bytes).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("credential key is %d bytes, want at least 32", len(key))
	}
	return &Hasher{key: append([]byte(nil), key...)}, nil
}

// LoadOrCreateHasher reads the server key from dir, creating a random one
// with mode 0600 on first start.
func LoadOrCreateHasher(dir string) (*Hasher, error) {
	path := filepath.Join(dir, keyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate credential key: %w", err)
		}
		if err := writeFileSync(path, key); err != nil {
			return nil, fmt.Errorf("write credential key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read credential key: %w", err)
	}
	return NewHasher(key)
}

// Hash returns the keyed hash of secret.
func (h *Hasher) Hash(secret string) []byte {
	mac := hmac.New(sha256.New, h.key)
	mac.Write([]byte(secret))
	return mac.Sum(nil)
}

// Verify reports whether secret hashes to want, in constant time.
func (h *Hasher) Verify(secret string, want []byte) bool {
	if len(want) == 0 {
		return false
	}
	return hmac.Equal(h.Hash(secret), want)
}

// RandomSecret returns a URL-safe random secret with n bytes of entropy.
func RandomSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func writeFileSync(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
