//go:build !ward_omit_kernel

package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestNodeKernelEngineWithoutModule: `ward node --engine kernel` on a
// kernel without WireGuard (this machine) fails at once, before it
// registers or writes state, with an error naming the missing module
// and the way out; a bad --engine and --expose with the kernel engine are
// refused too.
func TestNodeKernelEngineWithoutModule(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("creating a link needs root")
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--engine", "kernel", "--wg-name", "wardkc0"}, []string{`"wireguard" module missing`, "--engine userspace"}},
		{[]string{"--engine", "kernel", "--expose", "22"}, []string{"--expose needs --engine userspace"}},
		{[]string{"--engine", "wireguard-go"}, []string{`--engine "wireguard-go": want userspace or kernel`}},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		cmd := newNodeCmd()
		cmd.SetArgs(append([]string{"--coordinator", "http://127.0.0.1:1", "--dev-insecure-http", "--state-dir", dir}, tt.args...))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("ward node %v: %v; want an error saying %q", tt.args, err, w)
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("ward node %v left state behind: %v", tt.args, ents)
		}
	}
}
