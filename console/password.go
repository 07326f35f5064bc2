package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password length limits in characters. The maximum bounds the work one
// login request can cause; argon2id itself accepts any length.
const (
	MinPasswordLength = 10
	MaxPasswordLength = 256
)

// argon2id cost parameters for new hashes: 2 passes over 19 MiB with one
// thread. Stored hashes carry their own parameters, so raising these later
// keeps old hashes verifiable.
const (
	argonTime      = 2
	argonMemoryKiB = 19 * 1024
	argonThreads   = 1
	argonSaltBytes = 16
	argonKeyBytes  = 32
)

// ErrMalformedHash is returned by VerifyPassword for a stored hash it
// cannot parse.
var ErrMalformedHash = errors.New("malformed argon2id hash")

// HashPassword returns the argon2id hash of password with a fresh random
// salt, in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, base64 without padding.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyBytes)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the encoded argon2id
// hash. The derived keys are compared in constant time.
func VerifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	var memoryKiB, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memoryKiB, &passes, &threads); err != nil {
		return false, fmt.Errorf("%w: parameters %q: %v", ErrMalformedHash, parts[3], err)
	}
	// Refuse parameters far beyond what HashPassword writes, so a tampered
	// record cannot make one login allocate gigabytes.
	if memoryKiB == 0 || memoryKiB > 1<<20 || passes == 0 || passes > 16 || threads == 0 {
		return false, fmt.Errorf("%w: parameters %q out of range", ErrMalformedHash, parts[3])
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("%w: salt: %v", ErrMalformedHash, err)
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, fmt.Errorf("%w: key: %v", ErrMalformedHash, err)
	}
	got := argon2.IDKey([]byte(password), salt, passes, memoryKiB, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// checkPassword returns why password cannot be set as a user's password,
// or "" when it can.
func checkPassword(password string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLength:
		return fmt.Sprintf("must be at least %d characters", MinPasswordLength)
	case n > MaxPasswordLength:
		return fmt.Sprintf("must be at most %d characters", MaxPasswordLength)
	}
	return ""
}

// randomToken returns n random bytes encoded as unpadded base64url.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
