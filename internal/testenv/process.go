package testenv

import (
	"os/exec"
	"syscall"
	"time"
)

// stopProcess sends SIGTERM to the started process cmd and waits for it
// to exit, killing it when it is still running after grace.
func stopProcess(cmd *exec.Cmd, grace time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}
