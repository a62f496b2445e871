package doctortest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envInNetns marks the copy of the test binary that runs inside its own
// network namespace.
const envInNetns = "MOAT_DOCTOR_IN_NETNS"

// InNetns runs the calling test inside a fresh network namespace and
// reports whether the caller is that copy. The test binary re-executes
// itself with CLONE_NEWNET: the namespace is anonymous (no name can
// collide with the netns suite or another run), holds only what the test
// adds to its loopback, and disappears with the process, so there is
// nothing to clean up. Outside, the test returns false and the caller
// returns; inside, it brings lo up and adds addrs to it.
func InNetns(t *testing.T, addrs ...string) bool {
	t.Helper()
	if os.Getenv(envInNetns) == "1" {
		RunCmd(t, "ip", "link", "set", "lo", "up")
		for _, a := range addrs {
			RunCmd(t, "ip", "addr", "add", a, "dev", "lo")
		}
		return true
	}
	if _, err := exec.LookPath("ip"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("network namespace tests need root and iproute2 (ip): euid %d, %v", os.Geteuid(), err)
		}
		t.Skip("needs root and iproute2 for a network namespace")
	}
	args := []string{"-test.run=^" + t.Name() + "$", "-test.count=1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envInNetns+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil || testing.Verbose() {
		t.Log("inside the namespace:\n" + out.String())
	}
	if err != nil {
		t.Fatalf("test in a network namespace: %v", err)
	}
	if !strings.Contains(out.String(), "PASS") {
		t.Fatal("the namespaced run did not pass")
	}
	return false
}

// RunCmd runs a command inside the namespace, failing the test if it fails.
func RunCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}
