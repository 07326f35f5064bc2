package broker

import (
	"errors"
	"log/slog"
	"net"
	"time"

	"golang.org/x/time/rate"
)

// defaultConnectTimeout is how long a new connection may take to send its
// CONNECT packet. mochi replaces the deadline with the keep-alive one once
// the CONNECT is read, so only silent connections are cut.
const defaultConnectTimeout = 10 * time.Second

// resilientListener keeps a broker listener accepting through transient
// accept errors. mochi's listener loop returns on the first Accept error,
// so one EMFILE (too many open files) during a connection flood would stop
// MQTT ingest for good.
type resilientListener struct {
	net.Listener
	connectTimeout time.Duration
	log            *slog.Logger
	onError        func()
	logRate        rate.Sometimes
}

func newResilientListener(ln net.Listener, connectTimeout time.Duration, log *slog.Logger, onError func()) *resilientListener {
	if connectTimeout <= 0 {
		connectTimeout = defaultConnectTimeout
	}
	return &resilientListener{Listener: ln, connectTimeout: connectTimeout, log: log, onError: onError, logRate: rate.Sometimes{Interval: 10 * time.Second}}
}

// Accept returns the next connection with a deadline for its CONNECT. It
// retries errors other than a closed listener with a back-off of up to one
// second, as net/http's server does.
func (l *resilientListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		conn, err := l.Listener.Accept()
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(l.connectTimeout))
			return conn, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		if l.onError != nil {
			l.onError()
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		l.logRate.Do(func() {
			l.log.Error("MQTT accept failed; retrying", "addr", l.Addr().String(), "retry_in", delay, "err", err)
		})
		time.Sleep(delay)
	}
}
