package timeseries

import (
	"errors"
	"net/http"
	"time"

	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// errorClass sorts failed writes by what the writer does about them.
type errorClass uint8

const (
	classUnknown errorClass = iota
	// classNetwork is a request without an HTTP response: refused, reset or
	// timed out.
	classNetwork
	// classServer is a 5xx response.
	classServer
	// classThrottled is 429 Too Many Requests.
	classThrottled
	// classConfig is 401, 403 or 404: a wrong token, missing permission
	// or a bucket or database that does not exist. The batch is fine and
	// is retried once the operator fixes the setting.
	classConfig
	// classRejected is any other 4xx: InfluxDB refused the points
	// themselves, so sending them again cannot succeed.
	classRejected
)

func (c errorClass) String() string {
	switch c {
	case classNetwork:
		return "network"
	case classServer:
		return "server"
	case classThrottled:
		return "throttled"
	case classConfig:
		return "config"
	case classRejected:
		return "rejected"
	default:
		return "unknown"
	}
}

var errorClasses = []errorClass{classNetwork, classServer, classThrottled, classConfig, classRejected, classUnknown}

// classify returns the class of a write error, the HTTP status (0 without
// one) and the server's Retry-After.
func classify(err error) (errorClass, int, time.Duration) {
	var herr *http2.Error
	if !errors.As(err, &herr) {
		return classUnknown, 0, 0
	}
	retryAfter := time.Duration(herr.RetryAfter) * time.Second
	status := herr.StatusCode
	switch {
	case status == 0:
		return classNetwork, 0, 0
	case status == http.StatusTooManyRequests:
		return classThrottled, status, retryAfter
	case status >= 500:
		return classServer, status, retryAfter
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
		return classConfig, status, 0
	case status == http.StatusRequestTimeout:
		return classNetwork, status, 0
	case status >= 400:
		return classRejected, status, 0
	default:
		return classUnknown, status, 0
	}
}
