package chart

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const versionPkg = "github.com/rancher/telemetry-manager/pkg/version"

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	image, name string
	body        []instruction
}

// dockerfile is a parsed Dockerfile: the ARGs before the first FROM (with
// their defaults) and the stages.
type dockerfile struct {
	globalArgs map[string]string
	stages     []stage
}

var argRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// parseDockerfile understands what this project's Dockerfile uses:
// comments, backslash continuations, global ARGs and FROM ... AS name.
func parseDockerfile(text string) (dockerfile, error) {
	df := dockerfile{globalArgs: map[string]string{}}
	var logical []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		return df, errors.New("Dockerfile ends in a continuation")
	}
	for _, l := range logical {
		cmd, args, _ := strings.Cut(l, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		switch {
		case in.cmd == "FROM":
			fields := strings.Fields(in.args)
			fields = slices.DeleteFunc(fields, func(f string) bool { return strings.HasPrefix(f, "--platform=") })
			st := stage{image: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			st.image = argRef.ReplaceAllStringFunc(st.image, func(ref string) string {
				return df.globalArgs[argRef.FindStringSubmatch(ref)[1]]
			})
			df.stages = append(df.stages, st)
		case len(df.stages) == 0 && in.cmd == "ARG":
			name, def, _ := strings.Cut(in.args, "=")
			df.globalArgs[name] = def
		case len(df.stages) == 0:
			return df, fmt.Errorf("%s before the first FROM", in.cmd)
		default:
			last := &df.stages[len(df.stages)-1]
			last.body = append(last.body, in)
		}
	}
	if len(df.stages) == 0 {
		return df, errors.New("no FROM")
	}
	return df, nil
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func readDockerfile(t testing.TB) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df, err := parseDockerfile(string(b))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return df
}

// goBuild returns the RUN of the builder stage that runs go build, and the
// -ldflags value it passes.
func goBuild(t testing.TB, df dockerfile) (run, ldflags string) {
	t.Helper()
	for _, st := range df.stages {
		for _, r := range st.all("RUN") {
			if strings.Contains(r, "go build") {
				m := regexp.MustCompile(`-ldflags "([^"]*)"`).FindStringSubmatch(r)
				if m == nil {
					t.Fatalf("Dockerfile: go build without -ldflags \"...\": %s", r)
				}
				return r, m[1]
			}
		}
	}
	t.Fatal("Dockerfile: no RUN with go build")
	return "", ""
}

// commands are the binaries of the module the Dockerfile builds, each
// with the target of its image (the last stage is the default target) and
// the arguments its image runs by default.
var commands = []struct {
	name, target string
	cmd          []string
	// workdir is the image's working directory, copied empty from the
	// builder and owned by 65534, where a relative path of the command's
	// defaults lands; "" for none.
	workdir string
}{
	{"telemetry-manager", "manager", []string{`["run"]`}, ""},
	{"telemetry-collector", "collector", nil, "/var/lib/telemetry-collector"},
}

// TestDockerfile checks the image definition, since no container engine
// runs here: a Go 1.26 builder, one static, trimmed and stamped build of
// every command, and for each a distroless (or scratch) stage that runs
// its binary as 65534; the manager's is the last, so the default target.
func TestDockerfile(t *testing.T) {
	df := readDockerfile(t)
	if len(df.stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(df.stages))
	}
	builder := df.stages[0]
	if !strings.HasPrefix(builder.image, "golang:1.26") {
		t.Errorf("builder image %q, want golang:1.26", builder.image)
	}
	if strings.Contains(builder.image, "@sha256:") {
		t.Errorf("builder image %q: want a tag, not a digest", builder.image)
	}
	run, ldflags := goBuild(t, df)
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", "-o /out/ "} {
		if !strings.Contains(run, want) {
			t.Errorf("the go build RUN lacks %q: %s", want, run)
		}
	}
	for _, c := range commands {
		if !slices.Contains(strings.Fields(run), "./cmd/"+c.name) {
			t.Errorf("the go build RUN does not build ./cmd/%s: %s", c.name, run)
		}
	}
	for _, want := range []string{"-s", "-w", "-X " + versionPkg + ".Version=${VERSION}", "-X " + versionPkg + ".GitCommit=${COMMIT}"} {
		if !strings.Contains(" "+ldflags+" ", " "+want+" ") {
			t.Errorf("-ldflags %q lack %q", ldflags, want)
		}
	}

	if last := df.stages[len(df.stages)-1]; last.name != commands[0].target {
		t.Errorf("the last stage (the default target) is %q, want %q", last.name, commands[0].target)
	}
	for _, c := range commands {
		t.Run(c.target, func(t *testing.T) {
			i := slices.IndexFunc(df.stages, func(st stage) bool { return st.name == c.target })
			if i < 0 {
				t.Fatalf("no stage %q", c.target)
			}
			checkImageStage(t, df.stages[i], builder.name, c.name, c.cmd, c.workdir)
		})
	}
}

// checkImageStage checks a stage that ships one binary.
func checkImageStage(t *testing.T, st stage, builder, binary string, cmd []string, workdir string) {
	if st.image != "gcr.io/distroless/static:nonroot" && st.image != "scratch" {
		t.Errorf("image %q, want gcr.io/distroless/static:nonroot or scratch", st.image)
	}
	users := st.all("USER")
	if len(users) == 0 || (users[len(users)-1] != "65534" && users[len(users)-1] != "65534:65534") {
		t.Errorf("USER %v, want 65534 or 65534:65534 (the charts' runAsUser)", users)
	}
	if runs := st.all("RUN"); len(runs) > 0 {
		t.Errorf("the stage runs %v: the base has no shell", runs)
	}
	if got, want := st.all("ENTRYPOINT"), []string{`["/` + binary + `"]`}; !slices.Equal(got, want) {
		t.Errorf("ENTRYPOINT %v, want %v", got, want)
	}
	if got := st.all("CMD"); !slices.Equal(got, cmd) {
		t.Errorf("CMD %v, want %v", got, cmd)
	}
	want := []string{"--from=" + builder + " /out/" + binary + " /" + binary}
	var workdirs []string
	if workdir != "" {
		want = append(want, "--from="+builder+" --chown=65534:65534 /out/data "+workdir)
		workdirs = []string{workdir}
	}
	if copies := st.all("COPY"); !slices.Equal(copies, want) {
		t.Errorf("COPY %v, want only %q", copies, want)
	}
	if got := st.all("WORKDIR"); !slices.Equal(got, workdirs) {
		t.Errorf("WORKDIR %v, want %v", got, workdirs)
	}
	labels := strings.Join(st.all("LABEL"), " ")
	for _, l := range []string{"source", "version", "revision", "title", "description"} {
		if !strings.Contains(labels, "org.opencontainers.image."+l+"=") {
			t.Errorf("the stage lacks the label org.opencontainers.image.%s", l)
		}
	}
	if !strings.Contains(labels, `org.opencontainers.image.title="`+binary+`"`) {
		t.Errorf("the title label is not %q: %s", binary, labels)
	}
}

// TestStaticBuild builds the binaries the way the Dockerfile does (its own
// -ldflags, with VERSION and COMMIT set, one go build into a directory) from
// a copy of the module that leaves out what .dockerignore leaves out of the
// build context, and checks that each is statically linked and stripped.
// `telemetry-manager version` must print the stamped version and commit;
// telemetry-collector must log them at start, serve /readyz on its SQLite
// file (the pure-Go driver works without cgo) and stop cleanly on SIGTERM.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	df := readDockerfile(t)
	_, ldflags := goBuild(t, df)
	const version, commit = "v9.9.9-test", "abc"
	ldflags = strings.NewReplacer("${VERSION}", version, "${COMMIT}", commit).Replace(ldflags)
	if strings.Contains(ldflags, "$") {
		t.Fatalf("-ldflags %q: an unknown build argument", ldflags)
	}

	buildContext := filepath.Join(t.TempDir(), "context")
	if err := copyContext(root, buildContext); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	args := []string{"build", "-trimpath", "-ldflags", ldflags, "-o", out + "/"}
	for _, c := range commands {
		args = append(args, "./cmd/"+c.name)
	}
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = buildContext
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in the build context .dockerignore leaves: %v\n%s", err, b)
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) { checkStatic(t, filepath.Join(out, c.name)) })
	}

	t.Run("telemetry-manager version", func(t *testing.T) {
		b, err := exec.CommandContext(t.Context(), filepath.Join(out, "telemetry-manager"), "version").CombinedOutput()
		if err != nil {
			t.Fatalf("telemetry-manager version: %v\n%s", err, b)
		}
		if !strings.Contains(string(b), version) || !strings.Contains(string(b), "commit "+commit) {
			t.Errorf("telemetry-manager version printed %q, want version %s and commit %s", b, version, commit)
		}
	})
	t.Run("telemetry-collector serves", func(t *testing.T) {
		runStaticCollector(t, filepath.Join(out, "telemetry-collector"), version, commit)
	})
}

// checkStatic checks that bin is a static ELF binary without symbols.
func checkStatic(t *testing.T, bin string) {
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is dynamically linked", p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("DT_NEEDED %v (%v): want none", libs, err)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -s missing from -ldflags")
	}
}

// runStaticCollector starts the collector binary on a SQLite file with JSON
// logs, reads the stamped version and its address from the log, checks
// /readyz, then sends SIGTERM and expects a clean exit.
func runStaticCollector(t *testing.T, bin, version, commit string) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin,
		"--listen=127.0.0.1:0",
		"--database=sqlite:"+filepath.Join(dir, "collector.db"),
		"--signing-keys-file="+keys,
		"--log-format=json",
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	lines := make(chan map[string]any)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				lines <- line
			}
		}
	}()
	var started map[string]any
	var addr string
	timeout := time.After(time.Minute)
	for addr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the collector exited before serving: %v", cmd.Wait())
			}
			switch line["msg"] {
			case "starting telemetry-collector":
				started = line
			case "telemetry-collector serving":
				addr, _ = line["listen"].(string)
			}
		case <-timeout:
			t.Fatal("the collector did not serve within a minute")
		}
	}
	if started["version"] != version || started["commit"] != commit {
		t.Errorf("the start line %v, want version %s and commit %s", started, version, commit)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz answered %d", resp.StatusCode)
	}
	go func() {
		for range lines { // drain, so that the collector never blocks on its log
		}
	}()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited = true
	if err := cmd.Wait(); err != nil {
		t.Errorf("the collector after SIGTERM: %v", err)
	}
}

// dockerIgnore reads the patterns of .dockerignore, as regular expressions
// matched the way Docker matches them: against the path relative to the
// context, "*" and "?" within one path element, "**" across any number of
// them; a matching directory excludes everything below it. Exceptions ("!")
// are not supported.
func dockerIgnore(dir string) ([]*regexp.Regexp, error) {
	b, err := os.ReadFile(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		return nil, err
	}
	var pats []*regexp.Regexp
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") {
			return nil, fmt.Errorf(".dockerignore: %q: exceptions are not supported by this test", l)
		}
		pats = append(pats, ignorePattern(filepath.ToSlash(filepath.Clean(strings.TrimPrefix(l, "/")))))
	}
	return pats, nil
}

func ignorePattern(p string) *regexp.Regexp {
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			re.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			re.WriteString(".*")
			i++
		case c == '*':
			re.WriteString("[^/]*")
		case c == '?':
			re.WriteString("[^/]")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String())
}

func ignored(pats []*regexp.Regexp, rel string) bool {
	rel = filepath.ToSlash(rel)
	for _, p := range pats {
		for r := rel; r != "." && r != "/"; r = path.Dir(r) {
			if p.MatchString(r) {
				return true
			}
		}
	}
	return false
}

// copyContext copies the files of src that .dockerignore keeps to dst.
func copyContext(src, dst string) error {
	pats, err := dockerIgnore(src)
	if err != nil {
		return err
	}
	return filepath.WalkDir(src, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, file)
		if err != nil {
			return err
		}
		if rel != "." && ignored(pats, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(file, target)
		}
		return nil // sockets, symlinks: not part of a build context here
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestDockerIgnoreKeepsBuildInputs checks the context filter on the paths
// the build needs and the ones it must not ship.
func TestDockerIgnoreKeepsBuildInputs(t *testing.T) {
	pats, err := dockerIgnore(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"go.mod", "go.sum", "cmd/telemetry-manager/main.go", "cmd/telemetry-collector/main.go", "pkg/encoding/report/schema.json",
		"pkg/collector/server/web/page.html.tmpl", "pkg/collector/server/web/static/style.css", "pkg/version/version.go"} {
		if ignored(pats, p) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", p)
		}
	}
	for _, p := range []string{".git/config", "bin/telemetry-manager", "bin/telemetry-collector", "tests/testenv/testenv.go", "charts/telemetry-manager/values.yaml",
		"charts/telemetry-collector/values.yaml", "pkg/collector/server/testdata", "cmd/telemetry-collector/main_test.go",
		"README.md", "pkg/controller/options_test.go", "pkg/encoding/report/testdata/sample.golden.json"} {
		if !ignored(pats, p) {
			t.Errorf(".dockerignore ships %s, which the build does not need", p)
		}
	}
}
