package api

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func TestRegisterVehicle(t *testing.T) {
	t.Run("with password", func(t *testing.T) {
		api := newTestAPI(t)
		r := api.do("POST", "/api/v1/vehicles", `{"terminal":"013800000001","plate":"浙G·A1234","password":"0123456789abcdef"}`)
		expectStatus(t, r, http.StatusCreated)

		var out registeredVehicles
		r.json(t, &out)
		if len(out.Vehicles) != 1 || out.Vehicles[0].Terminal != "013800000001" || out.Vehicles[0].Plate != "浙G·A1234" {
			t.Fatalf("response = %s, want the registered vehicle", r.body)
		}
		if out.Vehicles[0].Password != "" || strings.Contains(string(r.body), "0123456789abcdef") {
			t.Errorf("response %s echoes a client-chosen password", r.body)
		}

		stored := api.store.vehicles["013800000001"]
		if !bytes.Equal(stored.SecretHash, testHash("0123456789abcdef")) {
			t.Errorf("stored hash = %x, want HashSecret of the password", stored.SecretHash)
		}
		if !stored.CreatedAt.Equal(testStart) {
			t.Errorf("CreatedAt = %v, want %v", stored.CreatedAt, testStart)
		}
		if len(api.hooks.registered) != 1 || api.hooks.registered[0] != "013800000001" {
			t.Errorf("VehicleRegistered calls = %v, want the terminal once", api.hooks.registered)
		}
	})

	t.Run("generated password", func(t *testing.T) {
		api := newTestAPI(t)
		r := api.do("POST", "/api/v1/vehicles", `{"terminal":"T-1","plate":"浙G·B5678"}`)
		expectStatus(t, r, http.StatusCreated)

		var out registeredVehicles
		r.json(t, &out)
		password := out.Vehicles[0].Password
		if len(password) != generatedPasswordChars || strings.Trim(password, passwordAlphabet) != "" {
			t.Fatalf("generated password %q: want %d characters from the password alphabet", password, generatedPasswordChars)
		}
		stored := api.store.vehicles["T-1"]
		if !bytes.Equal(stored.SecretHash, testHash(password)) {
			t.Errorf("stored hash does not match the returned password")
		}

		r = api.do("GET", "/api/v1/vehicles/T-1", nil)
		expectStatus(t, r, http.StatusOK)
		if strings.Contains(string(r.body), password) || strings.Contains(string(r.body), "secret") {
			t.Errorf("GET vehicle %s shows the password or its hash", r.body)
		}
	})
}

func TestRegisterVehicleValidation(t *testing.T) {
	long := strings.Repeat("x", 65)
	cases := []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{"missing terminal", `{"plate":"浙G·A1234"}`, 422, codeInvalidInput, "terminal"},
		{"terminal with space", `{"terminal":"T 1","plate":"浙G·A1234"}`, 422, codeInvalidInput, "terminal"},
		{"terminal with slash", `{"terminal":"T/1","plate":"浙G·A1234"}`, 422, codeInvalidInput, "terminal"},
		{"terminal with plus", `{"terminal":"T+","plate":"浙G·A1234"}`, 422, codeInvalidInput, "terminal"},
		{"terminal not ascii", `{"terminal":"车1","plate":"浙G·A1234"}`, 422, codeInvalidInput, "terminal"},
		{"terminal too long", `{"terminal":"` + long + `","plate":"浙G·A1234"}`, 422, codeInvalidInput, "terminal"},
		{"missing plate", `{"terminal":"T1"}`, 422, codeInvalidInput, "plate"},
		{"blank plate", `{"terminal":"T1","plate":"  "}`, 422, codeInvalidInput, "plate"},
		{"plate too long", `{"terminal":"T1","plate":"浙G·A12345678901234"}`, 422, codeInvalidInput, "plate"},
		{"plate with padding", `{"terminal":"T1","plate":" 浙G·A1234"}`, 422, codeInvalidInput, "plate"},
		{"plate with control", `{"terminal":"T1","plate":"浙G\u0007A1234"}`, 422, codeInvalidInput, "plate"},
		{"short password", `{"terminal":"T1","plate":"浙G·A1234","password":"short"}`, 422, codeInvalidInput, "password"},
		{"empty password", `{"terminal":"T1","plate":"浙G·A1234","password":""}`, 422, codeInvalidInput, "password"},
		{"huge password", `{"terminal":"T1","plate":"浙G·A1234","password":"` + strings.Repeat("p", 300) + `"}`, 422, codeInvalidInput, "password"},
		{"unknown field", `{"terminal":"T1","plate":"浙G·A1234","colour":"yellow"}`, 422, codeInvalidInput, "colour"},
		{"wrong type", `{"terminal":1,"plate":"浙G·A1234"}`, 422, codeInvalidInput, "terminal"},
		{"invalid json", `{"terminal":"T1",`, 400, codeInvalidJSON, ""},
		{"syntax error", `{"terminal" "T1"}`, 400, codeInvalidJSON, ""},
		{"empty body", ``, 400, codeInvalidJSON, ""},
		{"two documents", `{"terminal":"T1","plate":"浙G·A1234"} {}`, 400, codeInvalidJSON, ""},
		{"string body", `"T1"`, 422, codeInvalidInput, "(body)"},
		{"empty array", `[]`, 422, codeInvalidInput, "(body)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := newTestAPI(t)
			r := api.do("POST", "/api/v1/vehicles", tc.body)
			expectError(t, r, tc.status, tc.code, tc.field)
			if len(api.store.vehicles) != 0 {
				t.Errorf("store has %d vehicles after a rejected request", len(api.store.vehicles))
			}
		})
	}
}

func TestRegisterVehicleConflict(t *testing.T) {
	api := newTestAPI(t)
	api.register("T1", "浙G·A1234")
	before := api.store.vehicles["T1"]

	r := api.do("POST", "/api/v1/vehicles", `{"terminal":"T1","plate":"浙G·Z9999"}`)
	expectError(t, r, http.StatusConflict, codeConflict, "terminal")
	if after := api.store.vehicles["T1"]; after.Plate != before.Plate || !bytes.Equal(after.SecretHash, before.SecretHash) {
		t.Errorf("conflicting request changed the stored vehicle to %+v", after)
	}
}

func TestRegisterVehiclesBulk(t *testing.T) {
	t.Run("mixed passwords", func(t *testing.T) {
		api := newTestAPI(t)
		body := `[{"terminal":"B1","plate":"浙G·B0001"},
			{"terminal":"B2","plate":"浙G·B0002","password":"chosen-password-123"},
			{"terminal":"B3","plate":"浙G·B0003"}]`
		r := api.do("POST", "/api/v1/vehicles", body)
		expectStatus(t, r, http.StatusCreated)

		var out registeredVehicles
		r.json(t, &out)
		if len(out.Vehicles) != 3 {
			t.Fatalf("response has %d vehicles, want 3: %s", len(out.Vehicles), r.body)
		}
		passwords := map[string]string{}
		for i, want := range []string{"B1", "B2", "B3"} {
			got := out.Vehicles[i]
			if got.Terminal != want {
				t.Errorf("vehicles[%d].terminal = %q, want %q (request order)", i, got.Terminal, want)
			}
			passwords[got.Terminal] = got.Password
		}
		if passwords["B2"] != "" {
			t.Errorf("response shows the client-chosen password of B2")
		}
		if passwords["B1"] == "" || passwords["B3"] == "" || passwords["B1"] == passwords["B3"] {
			t.Errorf("generated passwords %q and %q: want two different non-empty ones", passwords["B1"], passwords["B3"])
		}
		for terminal, password := range map[string]string{"B1": passwords["B1"], "B2": "chosen-password-123", "B3": passwords["B3"]} {
			if !bytes.Equal(api.store.vehicles[terminal].SecretHash, testHash(password)) {
				t.Errorf("stored hash of %s does not match its password", terminal)
			}
		}
		if len(api.hooks.registered) != 3 {
			t.Errorf("VehicleRegistered called %d times, want 3", len(api.hooks.registered))
		}
	})

	cases := []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{"bad element", `[{"terminal":"B1","plate":"浙G·B0001"},{"terminal":"B 2","plate":"浙G·B0002"}]`, 422, codeInvalidInput, "[1].terminal"},
		{"short password in element", `[{"terminal":"B1","plate":"浙G·B0001"},{"terminal":"B2","plate":"浙G·B0002","password":"x"}]`, 422, codeInvalidInput, "[1].password"},
		{"unknown field in element", `[{"terminal":"B1","plate":"浙G·B0001"},{"terminal":"B2","plate":"p","vin":"x"}]`, 422, codeInvalidInput, "[1].vin"},
		{"wrong type in element", `[{"terminal":"B1","plate":"浙G·B0001"},{"terminal":"B2","plate":7}]`, 422, codeInvalidInput, "[1].plate"},
		{"duplicate terminal", `[{"terminal":"B1","plate":"浙G·B0001"},{"terminal":"B1","plate":"浙G·B0002"}]`, 422, codeInvalidInput, "[1].terminal"},
		{"existing terminal", `[{"terminal":"B1","plate":"浙G·B0001"},{"terminal":"OLD","plate":"浙G·B0002"}]`, 409, codeConflict, "[1].terminal"},
		{"single element array", `[{"terminal":"B 1","plate":"浙G·B0001"}]`, 422, codeInvalidInput, "[0].terminal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := newTestAPI(t)
			api.register("OLD", "浙G·O0001")
			r := api.do("POST", "/api/v1/vehicles", tc.body)
			expectError(t, r, tc.status, tc.code, tc.field)
			if len(api.store.vehicles) != 1 {
				t.Errorf("store has %d vehicles, want only the one registered before: a rejected bulk request wrote some", len(api.store.vehicles))
			}
		})
	}
}

func TestRegisterVehiclesBulkLimits(t *testing.T) {
	t.Run("maximum count", func(t *testing.T) {
		api := newTestAPI(t)
		r := api.do("POST", "/api/v1/vehicles", bulkBody(maxBulkVehicles))
		expectStatus(t, r, http.StatusCreated)
		if len(api.store.vehicles) != maxBulkVehicles {
			t.Errorf("store has %d vehicles, want %d", len(api.store.vehicles), maxBulkVehicles)
		}
	})
	t.Run("too many", func(t *testing.T) {
		api := newTestAPI(t)
		r := api.do("POST", "/api/v1/vehicles", bulkBody(maxBulkVehicles+1))
		expectError(t, r, http.StatusRequestEntityTooLarge, codeTooLarge, "")
		if len(api.store.vehicles) != 0 {
			t.Errorf("store has %d vehicles after a rejected request", len(api.store.vehicles))
		}
	})
	t.Run("body over 32 MiB", func(t *testing.T) {
		api := newTestAPI(t)
		body := `{"terminal":"T1","plate":"浙G·A1234","password":"` + strings.Repeat("p", maxVehicleBodyBytes) + `"}`
		r := api.do("POST", "/api/v1/vehicles", body)
		expectError(t, r, http.StatusRequestEntityTooLarge, codeTooLarge, "")
	})
}

func bulkBody(n int) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"terminal":"BULK%05d","plate":"浙G·%05d"}`, i, i)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

func TestRegisterVehicleConcurrently(t *testing.T) {
	api := newTestAPI(t)
	const attempts = 8
	statuses := make(chan int, attempts)
	var wg sync.WaitGroup
	for range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- api.do("POST", "/api/v1/vehicles", `{"terminal":"RACE","plate":"浙G·R0001"}`).status
		}()
	}
	wg.Wait()
	close(statuses)

	created, conflicts := 0, 0
	for status := range statuses {
		switch status {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			conflicts++
		default:
			t.Errorf("unexpected status %d", status)
		}
	}
	if created != 1 || conflicts != attempts-1 {
		t.Errorf("created %d and conflicts %d, want 1 and %d", created, conflicts, attempts-1)
	}
}

func TestListVehicles(t *testing.T) {
	api := newTestAPI(t)
	api.register("T2", "浙G·A0002")
	api.register("T1", "浙G·A0001")
	api.register("T3", "浙G·A0003")
	api.online["T1"] = true

	fixTime := testStart.Add(-time.Minute)
	api.store.fixes["T1"] = []model.Fix{
		{Terminal: "T1", Time: fixTime.Add(-time.Minute), Lat: 28.1, Lon: 120.1, Valid: true, Source: model.SourceRealtime},
		{Terminal: "T1", Time: fixTime, Lat: 28.8908, Lon: 120.0425, Valid: true, Source: model.SourceRealtime, SpeedKmh: 42.5, Has: model.HasSpeed},
	}
	api.store.trips["trp_done"] = model.Trip{ID: "trp_done", Terminal: "T1", PlannedStart: testStart.Add(-5 * time.Hour), PlannedEnd: testStart.Add(-4 * time.Hour), State: model.TripCompleted, CompletedAt: testStart.Add(-4 * time.Hour)}
	api.store.trips["trp_now"] = model.Trip{ID: "trp_now", Terminal: "T1", PlannedStart: testStart.Add(-time.Hour), PlannedEnd: testStart.Add(time.Hour), State: model.TripDispatched}
	api.store.trips["trp_later"] = model.Trip{ID: "trp_later", Terminal: "T2", PlannedStart: testStart.Add(time.Hour), PlannedEnd: testStart.Add(2 * time.Hour), State: model.TripDispatched}

	r := api.do("GET", "/api/v1/vehicles", nil)
	expectStatus(t, r, http.StatusOK)
	var out struct {
		Vehicles []struct {
			Terminal string         `json:"terminal"`
			Plate    string         `json:"plate"`
			Online   bool           `json:"online"`
			LastFix  *model.FixJSON `json:"last_fix"`
			TripID   *string        `json:"trip_id"`
			Extra    map[string]any `json:"-"`
		} `json:"vehicles"`
	}
	r.json(t, &out)
	if len(out.Vehicles) != 3 {
		t.Fatalf("got %d vehicles, want 3: %s", len(out.Vehicles), r.body)
	}

	t1, t2 := out.Vehicles[0], out.Vehicles[1]
	if t1.Terminal != "T1" || t2.Terminal != "T2" || out.Vehicles[2].Terminal != "T3" {
		t.Errorf("vehicles not sorted by terminal: %s", r.body)
	}
	if !t1.Online || t2.Online {
		t.Errorf("online = %v, %v; want true for T1 and false for T2", t1.Online, t2.Online)
	}
	if t1.LastFix == nil || t1.LastFix.Lat != 28.8908 || t1.LastFix.Speed == nil || *t1.LastFix.Speed != 42.5 {
		t.Errorf("T1 last_fix = %+v, want the newest fix", t1.LastFix)
	}
	if t2.LastFix != nil {
		t.Errorf("T2 last_fix = %+v, want null", t2.LastFix)
	}
	if t1.TripID == nil || *t1.TripID != "trp_now" {
		t.Errorf("T1 trip_id = %v, want trp_now", t1.TripID)
	}
	if t2.TripID == nil || *t2.TripID != "" {
		t.Errorf("T2 trip_id = %v, want \"\" because its trip has not started", t2.TripID)
	}
	if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "password") {
		t.Errorf("vehicle list shows credentials: %s", r.body)
	}
	if !strings.Contains(string(r.body), `"last_fix":null`) {
		t.Errorf("a vehicle without fixes must have \"last_fix\":null: %s", r.body)
	}
}

func TestGetVehicle(t *testing.T) {
	api := newTestAPI(t)
	api.register("T1", "浙G·A0001")

	r := api.do("GET", "/api/v1/vehicles/T1", nil)
	expectStatus(t, r, http.StatusOK)
	var v vehicleView
	r.json(t, &v)
	if v.Terminal != "T1" || v.Plate != "浙G·A0001" || v.Online || v.LastFix != nil || v.TripID != "" {
		t.Errorf("vehicle = %+v, want T1 offline without fix or trip", v)
	}

	r = api.do("GET", "/api/v1/vehicles/NOPE", nil)
	expectError(t, r, http.StatusNotFound, codeNotFound, "")
}
