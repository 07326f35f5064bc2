package api

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"sync"
	"time"
)

// Prefixes of generated IDs, so an ID shows what it names.
const (
	prefixZone    = "zon_"
	prefixBooking = "bkg_"
	prefixTrip    = "trp_"
)

// idEncoding is lowercase base32hex without padding. Its alphabet is in
// ASCII order, so encoded IDs sort like the bytes they encode.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// idGenerator makes opaque, URL-safe IDs that sort by creation time: 48 bits
// of Unix milliseconds followed by 80 random bits, 26 characters after the
// prefix. Within one millisecond, or when the clock steps back, it
// increments the previous ID instead, so IDs from one generator are strictly
// increasing.
type idGenerator struct {
	mu   sync.Mutex // guards last
	last [16]byte
}

func newIDGenerator() *idGenerator {
	return &idGenerator{}
}

// New returns prefix followed by a fresh ID.
func (g *idGenerator) New(prefix string, now time.Time) string {
	var id [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint16(id[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(id[2:6], uint32(ms))
	// crypto/rand.Read never returns an error (Go 1.24 and later).
	_, _ = rand.Read(id[6:])

	g.mu.Lock()
	if string(id[:6]) <= string(g.last[:6]) {
		id = g.last
		incrementBytes(id[:])
	}
	g.last = id
	g.mu.Unlock()

	return prefix + idEncoding.EncodeToString(id[:])
}

// incrementBytes adds one to b read as a big-endian number.
func incrementBytes(b []byte) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
}
