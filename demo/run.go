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

// Demo is a running demo: the server, the sample regulator and the
// drivers of the sample trucks.
type Demo struct {
	Server *server.Server
	// Token is an API token valid while the demo runs.
	Token     string
	regulator *SampleRegulator
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// Run starts the demo and blocks until ctx is done.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	d, err := Start(ctx, cfg, FleetFile, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("demo stopping")
	return d.Close()
}

// Start starts the server on loopback with the fleet file's trucks and
// returns once they are on their way.
func Start(ctx context.Context, cfg config.Config, fleetFile string, log *slog.Logger) (*Demo, error) {
	fleet, err := LoadFleet(fleetFile)
	if err != nil {
		return nil, err
	}
	cfg = loopbackOnly(cfg)
	if cfg.DataDir == config.Default().DataDir {
		// Sample credentials never share a data directory with real ones.
		cfg.DataDir = filepath.Join(cfg.DataDir, "demo")
	}

	d := &Demo{}
	if cfg.Upstream.URL == "" {
		d.regulator, err = StartSampleRegulator("127.0.0.1:1885", cfg.Upstream.TopicPrefix, log)
		if err != nil {
			return nil, err
		}
		cfg.Upstream.URL = "tcp://" + d.regulator.Addr().String()
	}

	if d.Token, err = credential.RandomSecret(24); err != nil {
		d.Close()
		return nil, err
	}
	cfg.HTTP.APITokens = append(cfg.HTTP.APITokens, d.Token)

	// The demo serves plain http on loopback, where a Secure cookie would
	// never be sent back.
	cfg.Console.InsecureCookies = true
	if d.Server, err = server.Start(server.Options{Config: cfg, Logger: log}); err != nil {
		d.Close()
		return nil, err
	}
	if err := createSampleUsers(d.Server, fleet.Users, log); err != nil {
		d.Close()
		return nil, err
	}

	apiURL := "http://" + d.Server.HTTPAddr().String()
	client, err := simulator.NewAPIClient(apiURL, d.Token, nil)
	if err != nil {
		d.Close()
		return nil, err
	}
	clip := demoClip(log)
	printBanner(log, apiURL, d.Server.MQTTAddr(), d.Token, cfg.Upstream.URL)
	if len(fleet.Users) > 0 {
		log.Info("console: open "+apiURL+"/ and sign in as a sample user", "users", sampleUsernames(fleet.Users), "passwords", fleetFile)
	}

	ctx, d.cancel = context.WithCancel(ctx)
	for i, v := range fleet.Vehicles {
		drv := &driver{fleet: fleet, v: v, api: client, broker: "tcp://" + d.Server.MQTTAddr().String(), log: log.With("vehicle_id", v.Terminal), lane: (i + 1) % 10,
			clip: clip, channels: cfg.Video.ChannelsOf(v.Terminal)}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			drv.loop(ctx)
		}()
	}
	return d, nil
}

// Close stops the trucks, then the server and the sample regulator.
func (d *Demo) Close() error {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	var err error
	if d.Server != nil {
		err = d.Server.Close()
	}
	if d.regulator != nil {
		d.regulator.Close()
	}
	return err
}

// loopbackOnly rebinds every listener to 127.0.0.1, keeping the ports,
// because the demo carries public sample passwords. The video relay then
// offers loopback candidates only, which a browser on the same host
// reaches.
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
	cfg.Video.UDPAddr = rebind(cfg.Video.UDPAddr)
	cfg.Video.TCPAddr = rebind(cfg.Video.TCPAddr)
	return cfg
}

// demoClip returns the clip the sample trucks' cameras play: the test
// pattern built into the simulator, so the demo needs no ffmpeg. Without
// it the trucks run without cameras, and the console shows why when a
// channel is opened.
func demoClip(log *slog.Logger) *simulator.Clip {
	clip, err := simulator.SampleClip()
	if err != nil {
		log.Warn("demo trucks run without cameras: the built-in clip does not load", "err", err)
		return nil
	}
	return clip
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
