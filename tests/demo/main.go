// Command demo runs telemetry-manager against a real local API server: it
// starts etcd and kube-apiserver, loads the sample Rancher installation,
// runs `telemetry-manager run` until the telemetry Secret is written, prints
// the audit view, and stops everything. `make demo` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rancher/telemetry-manager/tests/fixtures"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

func main() {
	bin := flag.String("binary", "bin/telemetry-manager", "telemetry-manager binary to run")
	keep := flag.Bool("keep", false, "keep the API server running until interrupted (prints a kubeconfig path)")
	flag.Parse()
	if err := demo(*bin, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}

func demo(bin string, keep bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	step("starting etcd and kube-apiserver %s on loopback, loading the sample installation", testenv.KubeVersion)
	startCtx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	env, client, err := fixtures.StartSample(startCtx, testenv.Options{})
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the API server")
		_ = env.Stop()
	}()
	fmt.Println("4 clusters (local, 2 downstream, 1 imported without nodes), 10 nodes: amd64/arm64/s390x,")
	fmt.Println("CPU 3500m/500m/2/4/8/16/32, memory 15437428Ki/8G/129e6/1.5Gi/16Gi..., one node with cpu \"abc\"")

	step("running %s run", filepath.Base(bin))
	logPath := filepath.Join(env.Dir, "telemetry-manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	mgr := exec.Command(bin, "run", "--kubeconfig", env.KubeconfigPath, "--interval", "1m", "--metrics-address", "")
	mgr.Stdout, mgr.Stderr = logFile, logFile
	mgr.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := mgr.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- mgr.Wait() }()
	defer func() {
		if mgr.ProcessState == nil {
			_ = mgr.Process.Kill()
		}
	}()

	started := time.Now()
	for {
		_, err := client.Kube.CoreV1().Secrets("cattle-telemetry-system").Get(ctx, "telemetry", metav1.GetOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("telemetry-manager exited early (%v):\n%s", err, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Since(started) > 60*time.Second {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("no telemetry Secret after 60s; manager log:\n%s", log)
		}
	}
	fmt.Printf("Secret cattle-telemetry-system/telemetry written %s after start\n", time.Since(started).Round(10*time.Millisecond))

	step("telemetry-manager audit")
	audit := exec.CommandContext(ctx, bin, "audit", "--kubeconfig", env.KubeconfigPath)
	audit.Stdout, audit.Stderr = os.Stdout, os.Stderr
	auditErr := audit.Run()

	if keep {
		step("API server kept running; KUBECONFIG=%s (Ctrl-C to stop)", env.KubeconfigPath)
		<-ctx.Done()
	}

	step("stopping telemetry-manager with SIGTERM")
	_ = mgr.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("telemetry-manager exited with %v after SIGTERM", err)
		}
		fmt.Println("telemetry-manager exited cleanly")
	case <-time.After(30 * time.Second):
		return errors.New("telemetry-manager did not exit within 30s of SIGTERM")
	}
	if auditErr != nil {
		return fmt.Errorf("audit: %w", auditErr)
	}
	return nil
}
