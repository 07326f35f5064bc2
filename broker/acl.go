package broker

import "strings"

// TopicPrefix is the root of the vehicle protocol's topics.
const TopicPrefix = "hwt/v1/"

// ValidTerminal reports whether s can be a terminal id: 1 to 64 ASCII
// letters, digits, '-' or '_'. Excluding '/', '+' and '#' keeps a terminal
// id from widening its own topic prefix.
func ValidTerminal(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// Allowed reports whether a vehicle may use topic (a topic name or a
// subscription filter): only under hwt/v1/{terminal}/ and
// owntracks/{terminal}/. A filter such as hwt/v1/+/fix is refused even
// though it would match the vehicle's own topic, because it also matches
// every other vehicle's.
func Allowed(terminal, topic string) bool {
	if !ValidTerminal(terminal) {
		return false
	}
	for _, prefix := range [...]string{TopicPrefix, "owntracks/"} {
		rest, ok := strings.CutPrefix(topic, prefix)
		if !ok {
			continue
		}
		rest, ok = strings.CutPrefix(rest, terminal)
		if ok && strings.HasPrefix(rest, "/") && len(rest) > 1 {
			return true
		}
	}
	return false
}

// FixTopic returns the topic a vehicle publishes fixes to.
func FixTopic(terminal string) string { return TopicPrefix + terminal + "/fix" }

// ErrorTopic returns the topic the server reports rejections on.
func ErrorTopic(terminal string) string { return TopicPrefix + terminal + "/error" }
