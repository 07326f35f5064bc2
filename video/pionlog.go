package video

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs routes pion's log lines into slog. pion reports routine ICE and
// DTLS progress at Info and Warn, which would flood the log of a relay
// with many peers. So only pion's errors become warnings here, and the
// rest is debug detail.
type pionLogs struct {
	log *slog.Logger
}

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct {
	log *slog.Logger
}

func (l pionLogger) debug(msg string) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(msg)
	}
}

func (l pionLogger) debugf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(msg string)                  {}
func (l pionLogger) Tracef(format string, args ...any) {}
func (l pionLogger) Debug(msg string)                  { l.debug(msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.debugf(format, args...) }
func (l pionLogger) Info(msg string)                   { l.debug(msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.debugf(format, args...) }
func (l pionLogger) Warn(msg string)                   { l.debug(msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.debugf(format, args...) }
func (l pionLogger) Error(msg string)                  { l.log.Warn(msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.log.Warn(fmt.Sprintf(format, args...)) }
