package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// Faults: stop and start the API server, restart etcd. Each keeps what a
// client relies on: the same ports, the same certificates and tokens, the
// same etcd data. They must not be called concurrently with each other or
// with Stop.

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL after 20 s) and
// leaves etcd running. StartAPIServer starts it again.
func (e *Env) StopAPIServer() error {
	if e.apiserver == nil {
		return errors.New("testenv: no kube-apiserver started")
	}
	return e.apiserver.stop(e.logf, stopTimeout)
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, with the
// same arguments: the same port, certificate directory (so the certificate
// that clients trust is reused) and token file. It returns once /readyz
// answers 200.
func (e *Env) StartAPIServer(ctx context.Context) error {
	if e.apiserver == nil || !e.apiserver.exited() {
		return errors.New("testenv: kube-apiserver is not stopped")
	}
	p, err := e.relaunch(e.apiserver)
	if err != nil {
		return err
	}
	e.apiserver = p
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	var last string
	err = waitFor(ctx, readyTimeout, p, func() (bool, error) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		if err != nil {
			last = strings.TrimSpace(string(body)) + " " + err.Error()
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("testenv: kube-apiserver did not start again: %w (last answer: %s)\n%s", err, lastLines(last, 15), p.tail())
	}
	e.logf("testenv: kube-apiserver ready again at %s", e.Config.Host)
	return nil
}

// RestartEtcd stops etcd (SIGTERM) and starts it again with the same data
// directory and ports, leaving kube-apiserver running; it returns once etcd
// is healthy. The API server reconnects on its own.
func (e *Env) RestartEtcd(ctx context.Context) error {
	if e.etcd == nil {
		return errors.New("testenv: no etcd started")
	}
	if err := e.etcd.stop(e.logf, stopTimeout); err != nil {
		return err
	}
	p, err := e.relaunch(e.etcd)
	if err != nil {
		return err
	}
	e.etcd = p
	hc := &http.Client{Timeout: time.Second}
	err = waitFor(ctx, 30*time.Second, p, func() (bool, error) {
		resp, err := hc.Get(e.etcdURL + "/health")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("testenv: etcd did not start again: %w\n%s", err, p.tail())
	}
	e.logf("testenv: etcd restarted")
	return nil
}

// relaunch starts the program of p again with the same arguments; p must
// have exited.
func (e *Env) relaunch(p *proc) (*proc, error) {
	if !p.exited() {
		return nil, fmt.Errorf("testenv: %s is still running", p.name)
	}
	return e.launch(p.name, p.cmd.Path, p.cmd.Args[1:]...)
}
