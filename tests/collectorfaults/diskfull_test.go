package collectorfaults

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/protocol"
)

// mountTmpfs mounts a tmpfs of size at a new directory and unmounts it at
// the test's end; it skips the test when mounting is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("a full disk needs a small tmpfs, and mounting one is not permitted here (run as root): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func resizeTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("remounting %s with size %s: %v: %s", dir, size, err, out)
	}
}

// integrity runs PRAGMA integrity_check on the SQLite file beside the
// collector, and returns its answer ("ok" when the file is sound).
func integrity(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// sqliteKeys returns the idempotency keys stored in the SQLite file.
func sqliteKeys(t *testing.T, path string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT idempotency_key FROM reports`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSQLiteDiskFull: the collector's SQLite file lives on a 2 MiB tmpfs.
// Reports are stored until the disk is full; from then on the collector
// answers 507 with an error that says the disk is full, and logs it. The
// file stays sound (integrity_check ok) with every acknowledged report in
// it, readable. Once the tmpfs is grown, the refused report and new ones
// are stored.
func TestSQLiteDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	path := filepath.Join(dir, "c.db")
	addr, logs := runCollector(t, "sqlite:"+path)
	url := "http://" + addr + protocol.DefaultPath
	client := &http.Client{Timeout: 20 * time.Second}

	acked := map[string]bool{}
	var pending body
	var code int
	var msg string
	for i := 0; ; i++ {
		if i == 20000 {
			t.Fatalf("%d reports stored on a 2 MiB tmpfs and still not full", len(acked))
		}
		b := newBody(t, installUUID(5000+i))
		var err error
		code, msg, err = post(client, url, b, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusAccepted {
			pending = b
			break
		}
		acked[b.key] = true
	}
	t.Logf("%d reports stored before the disk was full; then %d %s", len(acked), code, msg)
	if code != http.StatusInsufficientStorage || !strings.Contains(msg, "disk space") {
		t.Fatalf("on a full disk the collector answered %d %s, want 507 naming the full disk", code, msg)
	}
	if len(acked) == 0 {
		t.Fatal("nothing was stored before the disk was full")
	}
	// Still full: the same report is refused the same way.
	if code, msg, err := post(client, url, pending, time.Now()); err != nil || code != http.StatusInsufficientStorage {
		t.Errorf("the refused report sent again: %d %s %v, want 507", code, msg, err)
	}
	if l := logs.String(); !strings.Contains(l, "level=error") || !strings.Contains(l, "disk is full") {
		t.Errorf("the collector logged no error naming the full disk:\n%s", lastLines(l, 20))
	}

	checkSound := func(when string) {
		t.Helper()
		if res := integrity(t, path); res != "ok" {
			t.Errorf("%s: integrity_check: %s", when, res)
		}
		stored := sqliteKeys(t, path)
		for k := range acked {
			if !stored[k] {
				t.Errorf("%s: acknowledged report %s is not in the database", when, k)
			}
		}
		var sum struct {
			Installs int `json:"installs"`
			Skipped  int `json:"skipped"`
		}
		resp, err := client.Get("http://" + addr + "/api/v1/summary")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &sum); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: summary %d %s: %v", when, resp.StatusCode, b, err)
		}
		if sum.Installs != len(acked) || sum.Skipped != 0 {
			t.Errorf("%s: summary of %d installs (%d unreadable), want the %d acknowledged", when, sum.Installs, sum.Skipped, len(acked))
		}
	}
	checkSound("while full")

	// Space returns: the refused report is stored, and new ones too.
	resizeTmpfs(t, dir, "16m")
	if code, msg, err := post(client, url, pending, time.Now()); err != nil || code != http.StatusAccepted {
		t.Fatalf("the refused report once space returned: %d %s %v, want 202", code, msg, err)
	}
	acked[pending.key] = true
	for i := range 50 {
		b := newBody(t, installUUID(50000+i))
		if code, msg, err := post(client, url, b, time.Now()); err != nil || code != http.StatusAccepted {
			t.Fatalf("a new report once space returned: %d %s %v, want 202", code, msg, err)
		}
		acked[b.key] = true
	}
	checkSound("after space returned")
}
