package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"text/tabwriter"
	"time"
)

// LoadReport is the outcome of one Load run.
type LoadReport struct {
	RunID     string    `json:"run_id"`
	Started   time.Time `json:"started"`
	Broker    string    `json:"broker"`
	Vehicles  int       `json:"vehicles"`
	QoS       byte      `json:"qos"`
	Window    int       `json:"window"`
	BatchSize int       `json:"batch_size"`
	// IntervalMs is the time between two fixes of a vehicle; 0 means as
	// fast as the window allows.
	IntervalMs    float64 `json:"interval_ms"`
	TimeScale     float64 `json:"time_scale"`
	RampUpSeconds float64 `json:"ramp_up_seconds"`
	DurationSecs  float64 `json:"duration_seconds"`
	Routes        int     `json:"routes"`
	// DeviationRate is the requested detours per minute, and
	// DetourSeconds the publishing time one detour needs.
	DeviationRate float64 `json:"deviation_rate_per_minute"`
	DetourSeconds float64 `json:"detour_seconds"`
	Zones         int     `json:"zones_created"`
	CPUs          int     `json:"cpus"`

	SetupSeconds   float64 `json:"setup_seconds"`
	ConnectSeconds float64 `json:"connect_seconds"`
	Connected      int64   `json:"connected"`
	ConnectFailed  int64   `json:"connect_failed"`
	ConnectRetries int64   `json:"connect_retries"`
	ConnectionLost int64   `json:"connections_lost"`

	SentMessages  int64 `json:"sent_messages"`
	SentFixes     int64 `json:"sent_fixes"`
	AckedMessages int64 `json:"acked_messages"`
	AckedFixes    int64 `json:"acked_fixes"`
	AckErrors     int64 `json:"ack_errors"`
	AckTimeouts   int64 `json:"ack_timeouts"`
	// SteadySeconds is the publishing time the rates are measured over:
	// all of it but the first second.
	SteadySeconds float64         `json:"steady_seconds"`
	SentFixRate   float64         `json:"sent_fixes_per_second"`
	AckedFixRate  float64         `json:"acked_fixes_per_second"`
	AckedMsgRate  float64         `json:"acked_messages_per_second"`
	PeakAckedRate float64         `json:"peak_acked_fixes_per_second"`
	PubAck        LatencySummary  `json:"puback"`
	ClientCPUSecs float64         `json:"load_generator_cpu_seconds"`
	Server        ServerCounts    `json:"server"`
	Deviations    DeviationCounts `json:"deviations"`
	// Video is set when the run started cameras.
	Video *VideoCounts `json:"video,omitempty"`
	// LostFixes are acknowledged fixes the server did not store; for QoS
	// 0, sent fixes it did not store.
	LostFixes int64 `json:"lost_fixes"`
	// Baseline is the broker-only run this one is compared with.
	Baseline *BaselineRatio `json:"baseline,omitempty"`
	Seconds  []SecondStats  `json:"seconds"`

	stoppedAt time.Time
	cpuStart  time.Duration
}

// BaselineRatio compares a run with a broker-only run.
type BaselineRatio struct {
	File         string  `json:"file"`
	AckedFixRate float64 `json:"acked_fixes_per_second"`
	Ratio        float64 `json:"ratio"`
}

func newLoadReport(opts *LoadOptions) *LoadReport {
	return &LoadReport{
		RunID: opts.RunID, Started: time.Now().UTC(), Broker: opts.Broker, Vehicles: opts.Vehicles,
		QoS: opts.QoS, Window: opts.Window, BatchSize: opts.BatchSize,
		IntervalMs: float64(opts.Interval) / 1e6, TimeScale: opts.TimeScale,
		RampUpSeconds: opts.RampUp.Seconds(), DurationSecs: opts.Duration.Seconds(),
		Routes: len(opts.Routes), Zones: len(opts.Zones), CPUs: runtime.NumCPU(),
		DeviationRate: opts.DeviationsPerMinute, DetourSeconds: opts.detourWall().Seconds(),
		cpuStart: processCPU(),
	}
}

// processCPU returns this process's user plus system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// finish copies the run's counters into the report.
func (rep *LoadReport) finish(run *loadRun) {
	rep.Connected = run.connected.Load()
	rep.ConnectFailed = run.connectFailed.Load()
	rep.ConnectRetries = run.connectRetries.Load()
	rep.ConnectionLost = run.connectionsLost.Load()
	rep.SentMessages, rep.SentFixes = run.sentMessages.Load(), run.sentFixes.Load()
	rep.AckedMessages, rep.AckedFixes = run.ackedMessages.Load(), run.ackedFixes.Load()
	rep.AckErrors, rep.AckTimeouts = run.ackErrors.Load(), run.ackTimeouts.Load()
	rep.PubAck = run.ackHist.summary()
	rep.ClientCPUSecs = (processCPU() - rep.cpuStart).Seconds()

	if run.timeline != nil {
		rep.summariseTimeline(run)
	}

	if rep.Server.Unchecked != "" {
		return
	}
	if !rep.Server.BrokerOnly && rep.Server.Error == "" {
		expected := rep.AckedFixes
		if rep.QoS == 0 {
			expected = rep.SentFixes
		}
		rep.LostFixes = max(0, expected-int64(rep.Server.FixesStored+rep.Server.FixesDuplicate))
	} else if rep.Server.BrokerOnly && rep.Server.Error == "" {
		expected := rep.AckedMessages
		if rep.QoS == 0 {
			expected = rep.SentMessages
		}
		// Broker-only counts messages, so losses are whole messages
		// times their fixes.
		rep.LostFixes = max(0, expected-int64(rep.Server.Messages)) * int64(rep.BatchSize)
	}
}

// summariseTimeline fills the per-second series and the steady rates.
func (rep *LoadReport) summariseTimeline(run *loadRun) {
	// The steady window is the whole seconds of publishing except the
	// first, while every vehicle sends its first window at once.
	tl := run.timeline
	first := 1
	last := int(run.stopAt.Sub(tl.start)/time.Second) - 1
	var sent, acked, msgs int64
	for i := range tl.slots {
		s := &tl.slots[i]
		h := &s.ackLatency
		stats := SecondStats{
			Second: i, SentFixes: s.sentFixes.Load(), AckedFixes: s.ackedFixes.Load(),
			AckP50Ms: ms(h.quantile(0.5)), AckP99Ms: ms(h.quantile(0.99)), AckMaxMs: ms(time.Duration(h.maxNs.Load())),
		}
		if i >= first && i <= last {
			sent += stats.SentFixes
			acked += stats.AckedFixes
			msgs += int64(h.count())
			rep.PeakAckedRate = max(rep.PeakAckedRate, float64(stats.AckedFixes))
		}
		if i <= last+int(run.opts.AckTimeout/time.Second) && (stats.SentFixes > 0 || stats.AckedFixes > 0 || i <= last) {
			rep.Seconds = append(rep.Seconds, stats)
		}
	}
	if last >= first {
		rep.SteadySeconds = float64(last - first + 1)
		rep.SentFixRate = float64(sent) / rep.SteadySeconds
		rep.AckedFixRate = float64(acked) / rep.SteadySeconds
		rep.AckedMsgRate = float64(msgs) / rep.SteadySeconds
	}
}

// SetBaseline reads a broker-only report and records this run's acked
// fix rate as a ratio of it.
func (rep *LoadReport) SetBaseline(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read baseline report: %w", err)
	}
	var base LoadReport
	if err := json.Unmarshal(data, &base); err != nil {
		return fmt.Errorf("read baseline report %s: %w", path, err)
	}
	if base.AckedFixRate <= 0 {
		return fmt.Errorf("baseline report %s has no acknowledged fix rate", path)
	}
	rep.Baseline = &BaselineRatio{File: path, AckedFixRate: base.AckedFixRate, Ratio: rep.AckedFixRate / base.AckedFixRate}
	return nil
}

// OK reports whether every vehicle connected, every acknowledged fix was
// stored (or counted in broker-only mode) and every injected detour
// raised its deviation. QoS 0 losses are reported but not judged,
// because QoS 0 promises no delivery.
func (rep *LoadReport) OK() bool {
	if rep.ConnectFailed > 0 || rep.AckErrors > 0 || rep.AckTimeouts > 0 {
		return false
	}
	if v := rep.Video; v != nil && (len(v.CameraFailures) > 0 || len(v.ViewerFailures) > 0 || v.CloseErrors > 0) {
		return false
	}
	if rep.Server.Unchecked != "" {
		return true
	}
	if rep.Server.Error != "" || !rep.Server.Settled {
		return false
	}
	if rep.QoS > 0 && rep.LostFixes > 0 {
		return false
	}
	d := rep.Deviations
	if d.NotChecked == "" && rep.DeviationRate > 0 && d.Injected == 0 {
		// Injection was asked for and nothing tested it: the run was too
		// short for a detour to fit.
		return false
	}
	return d.NotChecked != "" || (d.Missing == 0 && d.Unexpected == 0)
}

// WriteTable writes the summary table.
func (rep *LoadReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := "full pipeline"
	switch {
	case rep.Server.Unchecked != "":
		mode = "plain MQTT broker"
	case rep.Server.BrokerOnly:
		mode = "broker-only"
	}
	row := func(k string, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...)
	}
	row("server", "%s at %s", mode, rep.Broker)
	row("vehicles", "%d connected of %d, %d failed, %d retries, %d lost; connected in %.1f s", rep.Connected, rep.Vehicles, rep.ConnectFailed, rep.ConnectRetries, rep.ConnectionLost, rep.ConnectSeconds)
	interval := fmt.Sprintf("%g ms", rep.IntervalMs)
	if rep.IntervalMs == 0 {
		interval = "as fast as acknowledged"
	}
	row("load", "QoS %d, window %d, batch %d, interval %s, time scale %g", rep.QoS, rep.Window, rep.BatchSize, interval, rep.TimeScale)

	row("published", "%d fixes in %d messages", rep.SentFixes, rep.SentMessages)
	row("acknowledged", "%d fixes in %d messages, %d errors, %d timeouts", rep.AckedFixes, rep.AckedMessages, rep.AckErrors, rep.AckTimeouts)
	row("steady rate", "%.0f fixes/s acknowledged (%.0f msg/s), %.0f sent, peak %.0f, over %.0f s", rep.AckedFixRate, rep.AckedMsgRate, rep.SentFixRate, rep.PeakAckedRate, rep.SteadySeconds)
	if rep.Baseline != nil {
		row("vs broker-only", "%.1f %% of %.0f fixes/s (%s)", 100*rep.Baseline.Ratio, rep.Baseline.AckedFixRate, rep.Baseline.File)
	}

	p := rep.PubAck
	row("PUBACK latency", "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms", p.P50Ms, p.P90Ms, p.P99Ms, p.MaxMs)
	s := rep.Server
	if s.Unchecked != "" {
		row("server counted", "not read: %s", s.Unchecked)
	} else if s.BrokerOnly {
		row("server counted", "%.0f fix messages", s.Messages)
	} else {
		row("server stored", "%.0f fixes, %.0f duplicates, %.0f rejected, from %.0f messages", s.FixesStored, s.FixesDuplicate, s.FixesRejected, s.Messages)
	}
	if s.Unchecked != "" {
		row("lost fixes", "not checked: the server's counts were not read")
	} else {
		row("lost fixes", "%d", rep.LostFixes)
	}
	if s.Unchecked == "" {
		row("cpu", "server %.1f s, load generator %.1f s", s.CPUSeconds, rep.ClientCPUSecs)
		row("server memory", "%.0f MiB idle, %.0f MiB connected, %.0f MiB loaded; %.1f KiB per connected vehicle", s.RSSIdleBytes/(1<<20), s.RSSConnectedBytes/(1<<20), s.RSSLoadedBytes/(1<<20), s.BytesPerVehicle/1024)
	} else {
		row("cpu", "load generator %.1f s", rep.ClientCPUSecs)
	}

	d := rep.Deviations
	if d.NotChecked != "" {
		row("deviations", "not checked: %s", d.NotChecked)
	} else {
		row("deviations", "%d injected, %d opened, %d closed, %d missing, %d unexpected, %d duplicates (from the %s); %d requests turned down", d.Injected, d.Opened, d.Closed, d.Missing, d.Unexpected, d.Duplicates, d.Source, d.InjectRejected)
		if d.Injected == 0 && rep.DeviationRate > 0 {
			row("", "no detour fitted, so the run fails: one needs %.0f s of publishing at time scale %g; run longer", rep.DetourSeconds, rep.TimeScale)
		}
		if d.EndToEnd.Count > 0 {
			e := d.EndToEnd
			row("publish to regulator", "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (server part p99 %.1f ms)", e.P50Ms, e.P90Ms, e.P99Ms, e.MaxMs, d.ServerPart.P99Ms)
		}
		if len(d.OtherKinds) > 0 {
			row("other deviations", "%s", formatKinds(d.OtherKinds))
		}
	}
	if rep.Video != nil {
		rep.Video.writeRows(row)
	}
	result := "ok"
	if !rep.OK() {
		result = "FAIL"
	}
	row("result", "%s", result)
	return tw.Flush()
}

// WriteJSONFile writes the report as indented JSON to path.
func (rep *LoadReport) WriteJSONFile(path string) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// startProgress writes a status line every second until ctx ends: redrawn
// in place on a terminal, or as a plain line every ten seconds otherwise.
func (r *loadRun) startProgress(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	w := r.opts.Progress
	if w == nil {
		close(done)
		return done
	}
	every := time.Second
	if r.opts.ProgressLines {
		every = 10 * time.Second
	}
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		var lastAcked int64
		lastAt := time.Now()
		for {
			select {
			case <-ctx.Done():
				if !r.opts.ProgressLines {
					fmt.Fprintln(w)
				}
				return
			case now := <-t.C:
				if !r.publishing.Load() {
					line := fmt.Sprintf("connecting %d/%d (%d failed, %d retries) %5.0fs", r.connected.Load(), len(r.vehicles),
						r.connectFailed.Load(), r.connectRetries.Load(), now.Sub(r.wallStart).Seconds())
					if r.opts.ProgressLines {
						fmt.Fprintln(w, line)
					} else {
						fmt.Fprintf(w, "\r%s\x1b[K", line)
					}
					lastAt = now
					continue
				}
				acked := r.ackedFixes.Load()
				rate := float64(acked-lastAcked) / now.Sub(lastAt).Seconds()
				lastAcked, lastAt = acked, now
				elapsed := now.Sub(r.publishStart)
				total := r.stopAt.Sub(r.publishStart)
				frac := min(1, float64(elapsed)/float64(total))
				p99 := r.timeline.slot(now.Add(-time.Second)).ackLatency.quantile(0.99)
				line := fmt.Sprintf("%s %3.0f%% %5.0fs connected %d/%d  acked %d (%.0f fixes/s)  PUBACK p99 %.1f ms  detours %d active, %d started",
					progressBar(frac, 20), 100*frac, elapsed.Seconds(), r.connected.Load(), len(r.vehicles),
					acked, rate, ms(p99), r.detoursActive.Load(), r.injectionCount())
				if r.opts.ProgressLines {
					fmt.Fprintln(w, line)
				} else {
					fmt.Fprintf(w, "\r%s\x1b[K", line)
				}
			}
		}
	}()
	return done
}

func (r *loadRun) injectionCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.injections)
}

func progressBar(frac float64, width int) string {
	full := int(frac * float64(width))
	b := make([]byte, 0, width+2)
	b = append(b, '[')
	for i := range width {
		if i < full {
			b = append(b, '#')
		} else {
			b = append(b, '.')
		}
	}
	return string(append(b, ']'))
}
