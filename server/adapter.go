package server

import (
	"github.com/hwtrack/hwtrack/api"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/storage"
)

// storeAdapter gives the API the store with the API's own query type, so
// the api package does not depend on storage.
type storeAdapter struct {
	*storage.Store
}

var (
	_ api.Store         = storeAdapter{}
	_ api.BookingLister = storeAdapter{}
)

func (a storeAdapter) Deviations(q api.DeviationQuery) ([]model.Deviation, error) {
	return a.Store.Deviations(storage.DeviationQuery(q))
}
