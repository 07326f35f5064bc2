package server_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestScopedTokenLimitsRole(t *testing.T) {
	cfg := testConfig(t.TempDir(), "")
	const regulatorToken = "regulator-scope-token-0123456789ab"
	cfg.HTTP.APITokens = append(cfg.HTTP.APITokens, "regulator:"+regulatorToken)
	srv := startServer(t, cfg)

	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, "http://"+srv.HTTPAddr().String()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+regulatorToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do(http.MethodGet, "/api/v1/vehicles", ""); got != http.StatusOK {
		t.Errorf("regulator token GET /api/v1/vehicles = %d, want 200", got)
	}
	if got := do(http.MethodPost, "/api/v1/vehicles", `{"terminal":"S1","plate":"浙G·S0001"}`); got != http.StatusForbidden {
		t.Errorf("regulator token POST /api/v1/vehicles = %d, want 403", got)
	}
}
