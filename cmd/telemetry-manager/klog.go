package main

import (
	"fmt"

	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
)

// logToLogrus sends what client-go logs through klog (leader election,
// informers) to log, so that every line has the format of --log-format.
func logToLogrus(log *logrus.Entry) {
	klog.SetLogger(logr.New(klogSink{log: log.WithField("component", "client-go")}))
}

// klogSink is a logr.LogSink writing to logrus: verbosity 0 at info level,
// higher verbosities at debug level.
type klogSink struct {
	log  *logrus.Entry
	name string
}

func (s klogSink) Init(logr.RuntimeInfo) {}

func (s klogSink) Enabled(level int) bool {
	return level == 0 || s.log.Logger.IsLevelEnabled(logrus.DebugLevel)
}

func (s klogSink) Info(level int, msg string, kv ...any) {
	e := s.with(kv)
	if level > 0 {
		e.Debug(msg)
		return
	}
	e.Info(msg)
}

func (s klogSink) Error(err error, msg string, kv ...any) {
	s.with(kv).WithError(err).Error(msg)
}

func (s klogSink) WithValues(kv ...any) logr.LogSink {
	return klogSink{log: s.with(kv), name: s.name}
}

func (s klogSink) WithName(name string) logr.LogSink {
	if s.name != "" {
		name = s.name + "/" + name
	}
	return klogSink{log: s.log.WithField("logger", name), name: name}
}

func (s klogSink) with(kv []any) *logrus.Entry {
	e := s.log
	for i := 0; i+1 < len(kv); i += 2 {
		e = e.WithField(fmt.Sprint(kv[i]), kv[i+1])
	}
	return e
}
