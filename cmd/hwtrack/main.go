// Command hwtrack runs the hazardous-waste transport supervision server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/demo"
	"github.com/hwtrack/hwtrack/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "hwtrack:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("hwtrack", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML configuration `file` (see configs/hwtrack.example.yaml)")
	mqttAddr := fs.String("mqtt-addr", "", "MQTT listen address `host:port` (default :1883)")
	httpAddr := fs.String("http-addr", "", "HTTP listen address `host:port` for the API and metrics (default :8080)")
	dataDir := fs.String("data-dir", "", "data `directory` for the raw log, store and outbox (default ./data)")
	upstreamURL := fs.String("upstream-url", "", "regulator broker `URL` (tcp://, ssl://, ws://)")
	apiToken := fs.String("api-token", "", "extra API bearer `token` (at least 24 characters)")
	demoMode := fs.Bool("demo", false, "run the sample Yongkang fleet on loopback with sample credentials")
	brokerOnly := fs.Bool("broker-only", false, "only count and acknowledge publishes (a benchmark ceiling); records nothing")
	pprofAddr := fs.String("pprof-addr", "", "serve Go profiles under /debug/pprof/ on `host:port` (use loopback)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		// flag stops at the first non-flag argument, so every flag after
		// it would be ignored without a word.
		return fmt.Errorf("unexpected argument %q: hwtrack takes only flags (see -h)", fs.Arg(0))
	}

	// Only flags given on the command line override the file and the
	// environment.
	var flags config.Flags
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "mqtt-addr":
			flags.MQTTAddr = mqttAddr
		case "http-addr":
			flags.HTTPAddr = httpAddr
		case "data-dir":
			flags.DataDir = dataDir
		case "upstream-url":
			flags.UpstreamURL = upstreamURL
		case "api-token":
			flags.APIToken = apiToken
		case "demo":
			flags.Demo = demoMode
		}
	})
	cfg, err := config.Load(*configPath, os.Environ(), flags)
	if err != nil {
		return err
	}

	logger := newLogger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *pprofAddr != "" {
		p, err := startPprof(*pprofAddr, logger)
		if err != nil {
			return err
		}
		defer p.Close()
	}
	if cfg.Demo {
		if *brokerOnly {
			return errors.New("--broker-only and --demo cannot be combined")
		}
		return demo.Run(ctx, cfg, logger)
	}

	srv, err := server.Start(server.Options{
		Config:     cfg,
		Logger:     logger,
		BrokerOnly: *brokerOnly,
		AdminToken: func(token string) {
			fmt.Fprintf(os.Stderr, "\nFirst start: the admin API token is\n\n    %s\n\nIt is shown only this once; only its hash is stored in %s.\nUse it as: Authorization: Bearer <token>\n\n", token, cfg.DataDir)
		},
		AdminPassword: func(username, password string) {
			fmt.Fprintf(os.Stderr, "First start: sign in to the console at http://%s/ as %q with the password\n\n    %s\n\nIt is shown only this once; only its argon2id hash is stored.\n\n", cfg.HTTP.Addr, username, password)
		},
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down; flushing everything accepted to disk")
	return srv.Close()
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config.Load
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
