package ingest

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReasonString(t *testing.T) {
	want := map[Reason]string{
		ReasonUnknown:         "unknown",
		ReasonMalformedJSON:   "malformed_json",
		ReasonNotObject:       "not_object",
		ReasonMissingField:    "missing_field",
		ReasonWrongType:       "wrong_type",
		ReasonOutOfRange:      "out_of_range",
		ReasonNotFinite:       "not_finite",
		ReasonBadTime:         "bad_time",
		ReasonFutureTime:      "future_time",
		ReasonTooOld:          "too_old",
		ReasonBatchTooLarge:   "batch_too_large",
		ReasonEmptyBatch:      "empty_batch",
		ReasonPayloadTooLarge: "payload_too_large",
		ReasonUnsupportedCRS:  "unsupported_crs",
		ReasonInvalidValue:    "invalid_value",
		ReasonDuplicateField:  "duplicate_field",
		ReasonTimeCorrected:   "time_corrected",
		Reason(200):           "unknown",
	}
	for r, label := range want {
		t.Run(label, func(t *testing.T) {
			if got := r.String(); got != label {
				t.Errorf("Reason(%d).String() = %q, want %q", r, got, label)
			}
		})
	}

	all := Reasons()
	if len(all) != len(want)-2 {
		t.Errorf("Reasons() has %d entries, want %d", len(all), len(want)-2)
	}
	seen := map[string]bool{}
	for _, r := range all {
		if r == ReasonUnknown || r.String() == "unknown" {
			t.Errorf("Reasons() contains %d without a label", r)
		}
		if seen[r.String()] {
			t.Errorf("label %q appears twice", r.String())
		}
		seen[r.String()] = true
	}
}

func TestRejectErrorError(t *testing.T) {
	tests := []struct {
		name string
		err  *RejectError
		want string
	}{
		{"single", &RejectError{Reason: ReasonOutOfRange, Index: -1, Field: "lat", Message: "lat 121.47 is outside -90..90"},
			"rejected payload: lat 121.47 is outside -90..90 (out_of_range)"},
		{"batch element", &RejectError{Reason: ReasonNotObject, Index: 3, Message: "batch element is null, expected a fix object"},
			"rejected batch element 3: batch element is null, expected a fix object (not_object)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorPayload(t *testing.T) {
	t.Run("design example", func(t *testing.T) {
		payload := `[{"time":1796347805000,"lat":28.1,"lon":120.1},{"time":1796347805000,"lat":28.1,"lon":120.1},
			{"time":1796347805000,"lat":121.47,"lon":28.1,"seq":9}]`
		res := DecodeFix(testTerminal, []byte(payload), testReceived, DefaultLimits())

		got := string(ErrorPayload(res.Rejects))
		want := `{"rejected":[{"index":2,"field":"lat","reason":"out_of_range","message":"lat 121.47 is outside -90..90; coordinates may be swapped","seq":9}]}`
		if got != want {
			t.Errorf("ErrorPayload =\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("raw seq and payload level", func(t *testing.T) {
		res := DecodeFix(testTerminal, []byte(`{"lat":`), testReceived, DefaultLimits())
		var doc struct {
			RawSeq   *uint64 `json:"raw_seq"`
			Rejected []struct {
				Index   int     `json:"index"`
				Field   *string `json:"field"`
				Reason  string  `json:"reason"`
				Message string  `json:"message"`
			} `json:"rejected"`
		}
		if err := json.Unmarshal(ErrorPayload(res.Rejects, 77, 78), &doc); err != nil {
			t.Fatalf("ErrorPayload is not JSON: %v", err)
		}
		if doc.RawSeq == nil || *doc.RawSeq != 77 {
			t.Errorf("raw_seq = %v, want 77", doc.RawSeq)
		}
		if len(doc.Rejected) != 1 {
			t.Fatalf("rejected has %d entries, want 1", len(doc.Rejected))
		}
		r := doc.Rejected[0]
		if r.Index != -1 || r.Field != nil || r.Reason != "malformed_json" || !strings.HasPrefix(r.Message, "payload is not valid JSON") {
			t.Errorf("entry = %+v, want index -1, no field, malformed_json", r)
		}
	})

	t.Run("empty", func(t *testing.T) {
		if got := string(ErrorPayload(nil)); got != `{"rejected":[]}` {
			t.Errorf("ErrorPayload(nil) = %s, want an empty list", got)
		}
	})

	t.Run("capped", func(t *testing.T) {
		bad := `{"time":1796347805000,"lat":99,"lon":120.1}`
		payload := "[" + strings.Repeat(bad+",", 149) + bad + "]"
		res := DecodeFix(testTerminal, []byte(payload), testReceived, DefaultLimits())
		if len(res.Rejects) != 150 {
			t.Fatalf("got %d rejections, want 150", len(res.Rejects))
		}
		var doc struct {
			Rejected []json.RawMessage `json:"rejected"`
			Omitted  int               `json:"omitted"`
		}
		if err := json.Unmarshal(ErrorPayload(res.Rejects), &doc); err != nil {
			t.Fatalf("ErrorPayload is not JSON: %v", err)
		}
		if len(doc.Rejected) != maxErrorEntries || doc.Omitted != 50 {
			t.Errorf("got %d entries and omitted %d, want %d and 50", len(doc.Rejected), doc.Omitted, maxErrorEntries)
		}
	})

	t.Run("invalid utf8 in message stays valid json", func(t *testing.T) {
		res := DecodeFix(testTerminal, []byte(`{"time":"\xff\xfe","lat":1,"lon":2}`), testReceived, DefaultLimits())
		out := ErrorPayload(res.Rejects)
		if !json.Valid(out) {
			t.Errorf("ErrorPayload is not valid JSON: %q", out)
		}
	})
}

func TestReplyPayloadListsDroppedFields(t *testing.T) {
	payload := `[{"time":1796347805000,"lat":28.1,"lon":120.1,"alt":-840,"seq":12},
		{"time":1796347806000,"lat":128.1,"lon":120.1,"seq":13}]`
	res := DecodeFix(testTerminal, []byte(payload), testReceived, DefaultLimits())
	if len(res.Fixes) != 1 || len(res.Rejects) != 1 || len(res.Dropped) != 1 {
		t.Fatalf("got %d fixes, rejects %v, dropped %v; want one of each", len(res.Fixes), res.Rejects, res.Dropped)
	}
	var doc struct {
		Rejected []struct {
			Index  int    `json:"index"`
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"rejected"`
		Dropped []struct {
			Index   int     `json:"index"`
			Field   string  `json:"field"`
			Reason  string  `json:"reason"`
			Message string  `json:"message"`
			Seq     *uint64 `json:"seq"`
		} `json:"dropped"`
	}
	if err := json.Unmarshal(ReplyPayload(res.Rejects, res.Dropped), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Rejected) != 1 || doc.Rejected[0].Index != 1 || doc.Rejected[0].Field != "lat" {
		t.Errorf("rejected = %+v, want fix 1's lat", doc.Rejected)
	}
	if len(doc.Dropped) != 1 {
		t.Fatalf("dropped = %+v, want one entry", doc.Dropped)
	}
	d := doc.Dropped[0]
	if d.Index != 0 || d.Field != "alt" || d.Reason != "out_of_range" || d.Seq == nil || *d.Seq != 12 || !strings.Contains(d.Message, "alt -840") {
		t.Errorf("dropped entry = %+v, want fix 0's alt out_of_range with seq 12", d)
	}
	if out := string(ErrorPayload(res.Rejects)); strings.Contains(out, "dropped") {
		t.Errorf("ErrorPayload = %s, want no dropped list", out)
	}
}
