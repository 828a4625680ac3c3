package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/restic-manager/restic-manager/agent/config"
)

// extraAgent is a second real agent on the rig's server: another enrolled
// host, with its own state, HOME and log.
type extraAgent struct {
	hostID string
	name   string
	state  string
	log    *syncBuffer
	proc   *agentProc
}

// enrollAgent enrolls another host named name and runs its agent with
// pathDir first on its PATH (where it finds "restic"); it returns once the
// host is online.
func (r *rig) enrollAgent(name, pathDir string) *extraAgent {
	t := r.t
	t.Helper()
	var tok createdToken
	if err := json.Unmarshal([]byte(r.ok("enroll-token", "create", "--json")), &tok); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.hcl")
	a := &extraAgent{name: name, state: filepath.Join(dir, "state"), log: &syncBuffer{}}
	out := mustExecBin(t, nil, agentBinary(t), "enroll", "--server", "http://"+r.srv.addr, "--token", tok.Token,
		"--config", cfgPath, "--state-dir", a.state, "--name", name)
	_, _ = r.outputs.Write([]byte(out))
	cfg, _, diags := config.Load(cfgPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cfg.Log.Level = "debug"
	if err := config.Write(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	a.hostID = cfg.HostID
	cmd := exec.Command(agentBinary(t), "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "PATH="+pathDir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir)
	cmd.Stdout, cmd.Stderr = a.log, a.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a.proc = &agentProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(a.proc.exited)
	}()
	t.Cleanup(func() {
		a.proc.kill(t)
		if t.Failed() {
			t.Logf("agent %s log:\n%s", name, a.log.String())
		}
	})
	eventuallyE2EWithin(t, 30*time.Second, "host "+name+" online", func() bool {
		var h map[string]any
		r.okJSON(&h, "host", "show", a.hostID)
		return h["status"] == "online"
	})
	return a
}

// waitHostOffline waits until the server has host id as offline.
func (r *rig) waitHostOffline(id string) {
	r.t.Helper()
	eventuallyE2EWithin(r.t, 60*time.Second, "host "+id+" offline", func() bool {
		var h map[string]any
		r.okJSON(&h, "host", "show", id)
		return h["status"] == "offline"
	})
}
