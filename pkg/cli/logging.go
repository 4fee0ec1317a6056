package cli

import (
	"io"

	"github.com/sirupsen/logrus"
)

// NewLogger builds the process logger from --log-level and --log-format,
// which must already be valid.
func NewLogger(level, format string, out io.Writer) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(out)
	if lv, err := logrus.ParseLevel(level); err == nil {
		l.SetLevel(lv)
	}
	if format == "json" {
		l.SetFormatter(&logrus.JSONFormatter{})
	} else {
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	}
	return logrus.NewEntry(l)
}
