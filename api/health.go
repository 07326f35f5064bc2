package api

import "net/http"

type healthResponse struct {
	Status string `json:"status"`
}

type readyResponse struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

// healthz returns 200 whenever the process can serve HTTP at all.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, healthResponse{Status: "ok"})
	return nil
}

// readyz returns 200 when Options.Ready returns nil and 503 with its error
// otherwise, so a load balancer holds traffic back during start-up.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, readyResponse{Ready: false, Reason: err.Error()})
		return nil
	}
	writeJSON(w, http.StatusOK, readyResponse{Ready: true})
	return nil
}
