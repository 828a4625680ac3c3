package sdktest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// checkNoHandshake runs the binary by hand, without the host's handshake:
// it must refuse to serve (exit non-zero) and print nothing on stdout.
func checkNoHandshake(t testing.TB, bin string, args, env []string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...) //nolint:gosec // G204: the plugin under test
	cmd.Env = append(plugin.MinimalEnv(), env...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("started without the handshake, the plugin was still running after %s: it must exit at once (is plugin.Serve the first thing main does?)", timeout)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("started without the handshake, the plugin exited with %v; want a non-zero exit status\nstderr: %s", err, stderr.String())
	}
	if out := stdout.String(); out != "" {
		t.Errorf("started without the handshake, the plugin printed to stdout (it must print nothing there): %q", out)
	}
}

// checkStdout runs the binary as go-plugin would, reading its real standard
// output: the first line must be go-plugin's handshake line and, while
// exercise calls the plugin, nothing else may appear, neither on the
// process's stdout nor on os.Stdout, which go-plugin redirects into its stdio
// stream once Serve runs. Anything else means the plugin writes to stdout
// (a fmt.Println, a logger created with os.Stdout) and would corrupt the
// handshake or lose output.
func checkStdout(t testing.TB, bin string, args, env []string, timeout time.Duration, name string, glue goplugin.Plugin, exercise func(ctx context.Context, raw any)) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.Command(bin, args...) //nolint:gosec // G204: the plugin under test
	cmd.Env = append(plugin.MinimalEnv(), env...)
	cmd.Env = append(cmd.Env,
		plugin.Handshake.MagicCookieKey+"="+plugin.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS="+strconv.Itoa(plugin.ProtocolVersion),
		"PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000",
	)
	cmd.Stdout = pw
	logger := testLogger(t)
	cmd.Stderr = newTestWriter(t)
	if err := cmd.Start(); err != nil {
		pw.Close()
		t.Fatalf("starting %s: %v", bin, err)
	}
	pw.Close()
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()

	// The handshake line, then everything else until the process exits.
	lines := make(chan string, 1)
	rest := make(chan string, 1)
	go func() {
		r := bufio.NewReader(pr)
		line, _ := r.ReadString('\n')
		lines <- line
		b, _ := io.ReadAll(r)
		rest <- string(b)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(timeout):
		t.Fatalf("the plugin printed no handshake line within %s", timeout)
	}
	addr, err := parseHandshake(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("the first line of the plugin's stdout must be go-plugin's handshake (does something print before plugin.Serve?): %v", err)
	}

	var synced syncBuffer
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: plugin.Handshake,
		// A reattaching client takes its plugin set from Plugins; it
		// negotiates no version.
		Plugins: plugin.VersionedPlugins(goplugin.PluginSet{name: glue})[plugin.ProtocolVersion],
		Reattach: &goplugin.ReattachConfig{
			Protocol:        goplugin.ProtocolGRPC,
			ProtocolVersion: plugin.ProtocolVersion,
			Addr:            addr,
			Pid:             cmd.Process.Pid,
		},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		SyncStdout:       &synced,
		Logger:           logger,
	})
	defer client.Kill() // a no-op after the Kill below
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("connecting to the plugin: %v", err)
	}
	raw, err := rpc.Dispense(name)
	if err != nil {
		t.Fatalf("dispensing %s: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	exercise(ctx, raw)
	cancel()
	// Let the stdio stream deliver what the calls may have written, then
	// shut the plugin down the way the host does.
	time.Sleep(200 * time.Millisecond)
	client.Kill()

	select {
	case <-exited:
	case <-time.After(timeout):
		t.Errorf("the plugin did not exit within %s of the host's shutdown", timeout)
	}
	var after string
	select {
	case after = <-rest:
	case <-time.After(timeout):
	}
	if after != "" {
		t.Errorf("the plugin wrote to its real stdout after the handshake (a writer taken from os.Stdout before Serve?); stdout belongs to go-plugin, log with plugin.Logger():\n%q", after)
	}
	if s := synced.String(); s != "" {
		t.Errorf("the plugin wrote to os.Stdout while serving; stdout belongs to go-plugin, log with plugin.Logger():\n%q", s)
	}
}

// parseHandshake checks a go-plugin handshake line,
// CORE|APP|NETWORK|ADDR|PROTOCOL[|CERT[|MUX]], and returns the address.
func parseHandshake(line string) (net.Addr, error) {
	parts := strings.Split(line, "|")
	if len(parts) < 5 {
		return nil, fmt.Errorf("got %q", line)
	}
	if parts[0] != strconv.Itoa(goplugin.CoreProtocolVersion) {
		return nil, fmt.Errorf("core protocol %q, want %d, in %q", parts[0], goplugin.CoreProtocolVersion, line)
	}
	if parts[1] != strconv.Itoa(plugin.ProtocolVersion) {
		return nil, fmt.Errorf("protocol version %q, want %d, in %q", parts[1], plugin.ProtocolVersion, line)
	}
	if parts[4] != string(goplugin.ProtocolGRPC) {
		return nil, fmt.Errorf("transport %q, want grpc, in %q", parts[4], line)
	}
	switch parts[2] {
	case "unix":
		return net.ResolveUnixAddr("unix", parts[3])
	case "tcp":
		return net.ResolveTCPAddr("tcp", parts[3])
	}
	return nil, fmt.Errorf("network %q in %q", parts[2], line)
}
