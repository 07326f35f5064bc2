package web_test

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// netnsEnv marks a test binary that runs inside the namespace made by
// inLoopbackNamespace.
const netnsEnv = "HWTRACK_TEST_IN_LOOPBACK_NETNS"

// inLoopbackNamespace runs the calling test in a new network namespace
// whose only interface is lo. Chromium gathers its ICE candidates on the
// machine's other interfaces and leaves loopback out, so outside such a
// namespace its connectivity checks, and the relay's replies to them,
// would use the machine's own non-loopback address. Inside, every packet
// of the test stays on 127.0.0.1.
//
// Call it first in the test. Inside the namespace it brings lo up and
// returns true, and the test carries on. Outside, it runs the test binary
// again in a new namespace with only this test selected, logs that run's
// output, fails or skips as it did, and returns false. Creating the
// namespace needs root, or unprivileged user namespaces, where the test
// runs as root of its own user namespace.
func inLoopbackNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		ip, err := exec.LookPath("ip")
		if err != nil {
			ip = "/usr/sbin/ip" // outside the PATH of users other than root
		}
		if out, err := exec.Command(ip, "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("bring up lo in the test's network namespace (ip is in Debian's iproute2): %v: %s", err, out)
		}
		return true
	}

	args := []string{"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count=1", "-test.v", "-test.timeout=5m"}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if uid, gid := os.Getuid(), os.Getgid(); uid != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Skipf("cannot run %s in a new network namespace, which it needs to keep WebRTC on loopback (run as root, or allow unprivileged user namespaces): %v",
			t.Name(), err)
	}
	t.Logf("%s in a loopback-only network namespace:\n%s", t.Name(), indent(string(out)))
	switch {
	case err != nil:
		t.Fatalf("%s failed in its network namespace (output above): %v", t.Name(), err)
	case strings.Contains(string(out), "--- SKIP: "+t.Name()+" "):
		t.Skipf("%s skipped in its network namespace (output above)", t.Name())
	}
	return false
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
