//go:build linux

package server_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// mountTmpfs mounts a tmpfs of sizeMB at a new temporary directory and
// unmounts it when the test ends, or skips the test when mounting is not
// permitted (no root or no CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, sizeMB int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%dm,mode=0700", sizeMB)); err != nil {
		t.Skipf("cannot mount a tmpfs for the disk-full test (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount tmpfs %s: %v", dir, err)
		}
	})
	return dir
}

// resizeTmpfs remounts the tmpfs at dir with a new size limit. A limit of
// 0 shrinks it to the pages in use now, so the file system is full for
// every writer at once, with no filler file racing the server for freed
// pages.
func resizeTmpfs(t *testing.T, dir string, sizeKB int64) {
	t.Helper()
	if sizeKB == 0 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		sizeKB = int64(st.Blocks-st.Bfree) * st.Bsize / 1024
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%dk,mode=0700", sizeKB)); err != nil {
		t.Fatalf("resize tmpfs %s to %d KiB: %v", dir, sizeKB, err)
	}
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// rawUnit is an onboard unit speaking MQTT 3.1.1 on a raw socket, so the
// test sees exactly whether a PUBACK came. paho cannot show that: after a
// reconnect it completes the caller's token of a resent publish without
// waiting for its PUBACK (paho.mqtt.golang v1.5.1, messageIds.claimID).
type rawUnit struct {
	t        *testing.T
	addr     string
	terminal string
	password string
	conn     net.Conn
	packetID uint16
}

func (u *rawUnit) connect() {
	u.t.Helper()
	code, conn, err := dialConnect(u.addr, u.terminal, u.terminal, u.password)
	if err != nil || code != 0 {
		u.t.Fatalf("unit connect: code %d, err %v", code, err)
	}
	u.conn = conn
}

// publish sends one QoS 1 fix and reports whether the server acknowledged
// it. On a refusal the server closes the connection, and the unit
// reconnects for the next attempt.
func (u *rawUnit) publish(payload string) bool {
	u.t.Helper()
	if u.conn == nil {
		u.connect()
	}
	u.packetID++
	topic := "hwt/v1/" + u.terminal + "/fix"
	body := append([]byte{byte(len(topic) >> 8), byte(len(topic))}, topic...)
	body = append(body, byte(u.packetID>>8), byte(u.packetID))
	body = append(body, payload...)
	packet := appendLength([]byte{0x32}, len(body))
	packet = append(packet, body...)
	if _, err := u.conn.Write(packet); err != nil {
		u.t.Fatalf("write PUBLISH: %v", err)
	}

	u.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack := make([]byte, 4)
	_, err := io.ReadFull(u.conn, ack)
	if err == nil && ack[0] == 0x40 && int(ack[2])<<8|int(ack[3]) == int(u.packetID) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		u.t.Fatalf("server neither acknowledged nor closed within 10 s")
	}
	if err == nil {
		u.t.Fatalf("expected a PUBACK for packet %d or a closed connection, got % x", u.packetID, ack)
	}
	u.conn.Close()
	u.conn = nil
	return false
}

func (u *rawUnit) close() {
	if u.conn != nil {
		u.conn.Close()
	}
}

// TestDiskFullRefusesAndRecovers fills the data directory's file system
// while a unit publishes. Its fixes must go unacknowledged and /readyz must
// report the storage error. Once space returns, the refused fix sent again
// is acknowledged and every acknowledged fix is stored.
func TestDiskFullRefusesAndRecovers(t *testing.T) {
	dataDir := mountTmpfs(t, 48)
	srv := startServer(t, testConfig(filepath.Join(dataDir, "data"), ""))
	base := "http://" + srv.HTTPAddr().String()
	const terminal, password = "013300784401", "disk-full-vehicle-secret-0123"
	apiPost(t, srv, "/api/v1/vehicles", fmt.Sprintf(`{"terminal":%q,"plate":"浙G·D0401","password":%q}`, terminal, password), 201, nil)

	unit := &rawUnit{t: t, addr: srv.MQTTAddr().String(), terminal: terminal, password: password}
	defer unit.close()
	start := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	fix := func(seq int) string {
		return fmt.Sprintf(`{"time":%d,"lat":%.5f,"lon":120.04,"seq":%d}`, start.Add(time.Duration(seq)*time.Second).UnixMilli(), 28.89+float64(seq)*0.0001, seq)
	}
	if !unit.publish(fix(0)) {
		t.Fatal("fix refused before the disk was full")
	}

	resizeTmpfs(t, dataDir, 0)

	// The raw log's last page may still have room for some records, so
	// the first fixes after the disk filled up can be accepted durably.
	// The unit sends until one is refused.
	acknowledged := 1
	refusedSeq := 0
	for seq := 1; seq <= 500; seq++ {
		if !unit.publish(fix(seq)) {
			refusedSeq = seq
			break
		}
		acknowledged++
	}
	if refusedSeq == 0 {
		t.Fatal("500 fixes acknowledged on a full disk")
	}
	if unit.publish(fix(refusedSeq)) {
		t.Fatal("the refused fix was acknowledged on a second try while the disk was still full")
	}

	status, body := readyz(t, base)
	if status != http.StatusServiceUnavailable {
		t.Errorf("/readyz status %d while the disk is full, want 503", status)
	}
	if !strings.Contains(body, "storage") || !strings.Contains(body, "no space left on device") {
		t.Errorf("/readyz body %s does not name the storage error", body)
	}

	resizeTmpfs(t, dataDir, 48<<10)
	if !unit.publish(fix(refusedSeq)) {
		t.Fatal("the refused fix was not acknowledged after space returned")
	}
	acknowledged++
	if status, body := readyz(t, base); status != http.StatusOK {
		t.Errorf("/readyz status %d after space returned, want 200: %s", status, body)
	}

	var track struct {
		Fixes []model.FixJSON `json:"fixes"`
	}
	waitFor(t, 10*time.Second, "every acknowledged fix to be stored", func() bool {
		apiGet(t, srv, "/api/v1/vehicles/"+terminal+"/track", &track)
		return len(track.Fixes) >= acknowledged
	})
	if len(track.Fixes) != acknowledged {
		t.Fatalf("stored %d fixes, want the %d acknowledged", len(track.Fixes), acknowledged)
	}
	t.Logf("%d fixes acknowledged on the full disk before fix %d was refused", acknowledged-2, refusedSeq)
}
