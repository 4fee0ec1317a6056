package chart

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
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

// TestDockerfile checks the image definition, since no container engine
// runs here: a Go 1.26 builder, a static, trimmed and stamped build, and a
// final distroless (or scratch) stage that runs the binary as 65534.
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
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", "./cmd/telemetry-manager", "-o /out/telemetry-manager"} {
		if !strings.Contains(run, want) {
			t.Errorf("the go build RUN lacks %q: %s", want, run)
		}
	}
	for _, want := range []string{"-s", "-w", "-X " + versionPkg + ".Version=${VERSION}", "-X " + versionPkg + ".GitCommit=${COMMIT}"} {
		if !strings.Contains(" "+ldflags+" ", " "+want+" ") {
			t.Errorf("-ldflags %q lack %q", ldflags, want)
		}
	}

	final := df.stages[len(df.stages)-1]
	if final.image != "gcr.io/distroless/static:nonroot" && final.image != "scratch" {
		t.Errorf("final image %q, want gcr.io/distroless/static:nonroot or scratch", final.image)
	}
	users := final.all("USER")
	if len(users) == 0 || (users[len(users)-1] != "65534" && users[len(users)-1] != "65534:65534") {
		t.Errorf("final stage USER %v, want 65534 or 65534:65534 (the chart's runAsUser)", users)
	}
	if runs := final.all("RUN"); len(runs) > 0 {
		t.Errorf("final stage runs %v: the base has no shell", runs)
	}
	if got := final.all("ENTRYPOINT"); !slices.Equal(got, []string{`["/telemetry-manager"]`}) {
		t.Errorf("ENTRYPOINT %v, want [\"/telemetry-manager\"]", got)
	}
	if got := final.all("CMD"); !slices.Equal(got, []string{`["run"]`}) {
		t.Errorf("CMD %v, want [\"run\"]", got)
	}
	copies := strings.Join(final.all("COPY"), "\n")
	if !strings.Contains(copies, "--from="+builder.name+" /out/telemetry-manager /telemetry-manager") {
		t.Errorf("final stage does not copy the binary from %q: %s", builder.name, copies)
	}
	labels := strings.Join(final.all("LABEL"), " ")
	for _, l := range []string{"source", "version", "revision", "title", "description"} {
		if !strings.Contains(labels, "org.opencontainers.image."+l+"=") {
			t.Errorf("final stage lacks the label org.opencontainers.image.%s", l)
		}
	}
}

// TestStaticBuild builds the binary the way the Dockerfile does (its own
// -ldflags, with VERSION and COMMIT set) from a copy of the module that
// leaves out what .dockerignore leaves out of the build context, checks
// that the binary is statically linked, and that `telemetry-manager
// version` prints the stamped version and commit.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
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
	bin := filepath.Join(t.TempDir(), "telemetry-manager")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, "./cmd/telemetry-manager")
	cmd.Dir = buildContext
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in the build context .dockerignore leaves: %v\n%s", err, out)
	}

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

	out, err := exec.CommandContext(t.Context(), bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("telemetry-manager version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), version) || !strings.Contains(string(out), "commit "+commit) {
		t.Errorf("telemetry-manager version printed %q, want version %s and commit %s", out, version, commit)
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
	for _, p := range []string{"go.mod", "go.sum", "cmd/telemetry-manager/main.go", "pkg/encoding/report/schema.json", "pkg/version/version.go"} {
		if ignored(pats, p) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", p)
		}
	}
	for _, p := range []string{".git/config", "bin/telemetry-manager", "tests/testenv/testenv.go", "charts/telemetry-manager/values.yaml",
		"README.md", "pkg/controller/options_test.go", "pkg/encoding/report/testdata/sample.golden.json"} {
		if !ignored(pats, p) {
			t.Errorf(".dockerignore ships %s, which the build does not need", p)
		}
	}
}
