package server

import (
	"fmt"
	"sort"
	"sync"

	"github.com/hwtrack/hwtrack/credential"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/storage"
)

// registry keeps the registered vehicles in memory, so authenticating an
// MQTT connection and labelling a deviation never touch the disk.
type registry struct {
	hasher *credential.Hasher

	// mu guards vehicles.
	mu       sync.RWMutex
	vehicles map[string]model.Vehicle
}

func newRegistry(store *storage.Store, hasher *credential.Hasher) (*registry, error) {
	vs, err := store.Vehicles()
	if err != nil {
		return nil, fmt.Errorf("load vehicles: %w", err)
	}
	r := &registry{hasher: hasher, vehicles: make(map[string]model.Vehicle, len(vs))}
	for _, v := range vs {
		r.vehicles[v.Terminal] = v
	}
	return r, nil
}

// Check implements broker.Credentials.
func (r *registry) Check(terminal, password string) bool {
	r.mu.RLock()
	v, ok := r.vehicles[terminal]
	r.mu.RUnlock()
	return ok && r.hasher.Verify(password, v.SecretHash)
}

func (r *registry) put(v model.Vehicle) {
	r.mu.Lock()
	r.vehicles[v.Terminal] = v
	r.mu.Unlock()
}

func (r *registry) vehicle(terminal string) model.Vehicle {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if v, ok := r.vehicles[terminal]; ok {
		return v
	}
	return model.Vehicle{Terminal: terminal}
}

func (r *registry) terminals() []string {
	r.mu.RLock()
	out := make([]string, 0, len(r.vehicles))
	for t := range r.vehicles {
		out = append(out, t)
	}
	r.mu.RUnlock()
	sort.Strings(out)
	return out
}
