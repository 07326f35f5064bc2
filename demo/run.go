package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/credential"
	"github.com/hwtrack/hwtrack/server"
	"github.com/hwtrack/hwtrack/simulator"
)

// FleetFile is the sample fleet, relative to the working directory.
const FleetFile = "configs/demo.yaml"

// lapPause is how long a truck waits at the end of its run before the next.
const lapPause = 20 * time.Second

// Run starts the demo and blocks until ctx is done.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	fleet, err := LoadFleet(FleetFile)
	if err != nil {
		return err
	}
	cfg = loopbackOnly(cfg)
	if cfg.DataDir == config.Default().DataDir {
		// Sample credentials never share a data directory with real ones.
		cfg.DataDir = filepath.Join(cfg.DataDir, "demo")
	}

	var regulator *SampleRegulator
	if cfg.Upstream.URL == "" {
		regulator, err = StartSampleRegulator("127.0.0.1:1885", cfg.Upstream.TopicPrefix, log)
		if err != nil {
			return err
		}
		defer regulator.Close()
		cfg.Upstream.URL = "tcp://" + regulator.Addr().String()
	}

	token, err := credential.RandomSecret(24)
	if err != nil {
		return err
	}
	cfg.HTTP.APITokens = append(cfg.HTTP.APITokens, token)

	srv, err := server.Start(server.Options{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()

	apiURL := "http://" + srv.HTTPAddr().String()
	client, err := simulator.NewAPIClient(apiURL, token, nil)
	if err != nil {
		return err
	}
	printBanner(log, apiURL, srv.MQTTAddr(), token, cfg.Upstream.URL)

	var wg sync.WaitGroup
	for i := range fleet.Vehicles {
		wg.Add(1)
		go func(v Vehicle, lane int) {
			defer wg.Done()
			d := &driver{fleet: fleet, v: v, api: client, broker: "tcp://" + srv.MQTTAddr().String(), log: log.With("vehicle_id", v.Terminal), lane: lane % 10}
			d.loop(ctx)
		}(fleet.Vehicles[i], i+1)
	}
	<-ctx.Done()
	wg.Wait()
	log.Info("demo stopping")
	return nil
}

// loopbackOnly rebinds every listener to 127.0.0.1, keeping the ports,
// because the demo carries public sample passwords.
func loopbackOnly(cfg config.Config) config.Config {
	rebind := func(addr string) string {
		if addr == "" {
			return ""
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return addr
		}
		return net.JoinHostPort("127.0.0.1", port)
	}
	cfg.MQTT.Addr = rebind(cfg.MQTT.Addr)
	cfg.MQTT.WebSocketAddr = rebind(cfg.MQTT.WebSocketAddr)
	cfg.HTTP.Addr = rebind(cfg.HTTP.Addr)
	return cfg
}

func printBanner(log *slog.Logger, apiURL string, mqttAddr net.Addr, token, upstream string) {
	log.Info("demo running: sample Yongkang fleet on loopback",
		"api", apiURL, "mqtt", mqttAddr.String(), "regulator_broker", upstream)
	log.Info("try: curl -H 'Authorization: Bearer "+token+"' "+apiURL+"/api/v1/deviations",
		"note", "this token is valid only while the demo runs")
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

var errStopped = errors.New("demo stopped")

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errStopped
	case <-t.C:
		return nil
	}
}

func manifestNo(now time.Time, serial int) string {
	return fmt.Sprintf("%04d3307%06d", now.Year(), serial%1000000)
}
