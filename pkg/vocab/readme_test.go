package vocab

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsVocabularies keeps the README's payload section in step
// with the vocabularies: every word a payload may carry is listed there.
func TestREADMEListsVocabularies(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Payload formats\n")
	if !ok {
		t.Fatal("README has no Payload formats section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, k := range []Kind{Arch, OS, Runtime, Driver, Provider} {
		for _, w := range RuleOf(k).Enum {
			if w == "" {
				continue
			}
			if !strings.Contains(section, "`"+w+"`") {
				t.Errorf("README's Payload formats section does not list %s `%s`", k, w)
			}
		}
	}
	for _, alias := range []string{"crio"} {
		if !strings.Contains(section, "`"+alias+"`") {
			t.Errorf("README does not mention the alias `%s`", alias)
		}
	}
}
