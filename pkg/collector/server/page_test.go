package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

// repoRoot finds the directory of go.mod above the test.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// chromium returns the path of Debian's chromium, installing it with the
// project's script when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "install-debs"), "chromium")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing chromium: %v\n%s", err, out)
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium installed but not found: %v", err)
	}
	return p
}

// artifactDir is where the screenshot is kept: $TELEMETRY_TEST_ARTIFACTS
// when set, else the test's artifact directory (kept with go test
// -artifacts).
func artifactDir(t *testing.T) string {
	if d := os.Getenv("TELEMETRY_TEST_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.ArtifactDir()
}

func runChromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// TestPageInChromium renders the page in headless Chromium and checks that
// the DOM shows the summary's figures, shares and history, that hostile
// text stays text, and keeps a screenshot.
func TestPageInChromium(t *testing.T) {
	bin := chromium(t)
	h := newHarness(t, nil)
	hostile := strings.Replace(string(sample(t)), installA, "4b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11", 1)
	hostile = strings.Replace(hostile, `"version": "v2.12.1"`, `"version": "<img src=x id=injected>"`, 1)
	seed(t, h, store.Report{InstallUUID: "4b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11", ReceivedAt: testNow.Add(-30 * time.Minute), Nodes: 9, Payload: []byte(hostile)})

	// The page and its stylesheet carry the policy that forbids anything
	// but this server's own resources.
	a := h.get(t, "/")
	if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).Match(a.body) {
		t.Errorf("the page loads an external resource")
	}
	if css := h.get(t, "/static/style.css"); css.status != 200 || !strings.Contains(string(css.body), "font-family") {
		t.Errorf("stylesheet: %d", css.status)
	}

	dom := runChromium(t, bin, "--dump-dom", h.srv.URL+"/")
	// Three installs in the window: A, B and the hostile one.
	for _, want := range []string{
		`data-stat="Installs">3<`,
		`data-stat="Clusters">48<`,
		`data-stat="Nodes">118<`,
		`data-stat="CPU cores">476<`,
		`data-stat="Memory bytes">2034025291776<`,
		`1.8 TiB`,
		// Architecture shares: 114 amd64 and 4 arm64 nodes of 118.
		`Nodes by architecture (total 118 nodes)`,
		`data-key="amd64" data-count="114" data-percent="96.6%"`,
		`96.6% (114)`,
		`data-key="arm64" data-count="4" data-percent="3.4%"`,
		// Product versions, one install each.
		`Installs by product version (total 3 installs)`,
		`data-key="v2.11.0" data-count="1" data-percent="33.3%"`,
		`data-key="v2.12.1" data-count="1" data-percent="33.3%"`,
		// History: a bar and a table row per day.
		`data-date="2026-03-02" data-value="100"`,
		`<tr><td>2026-03-02</td><td>1</td><td>100</td></tr>`,
		`<tr><td>2026-03-04</td><td>2</td><td>18</td></tr>`,
		`<tr><td>2026-02-22</td><td>1</td><td>9</td></tr>`,
		// Hostile text is shown as text.
		`&lt;img src=x id=injected&gt;`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %s", want)
		}
	}
	if strings.Contains(dom, `id="injected"`) || strings.Contains(dom, `<img`) {
		t.Errorf("hostile text became markup")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	shot := filepath.Join(artifactDir(t), "collector-page.png")
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars", h.srv.URL+"/")
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, st.Size())
	}
	t.Logf("screenshot: %s", shot)
}
