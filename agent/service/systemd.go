package service

import (
	"fmt"
	"strings"
)

// SystemdUnit renders the unit file for o (after defaults). It is plain
// text so that "service install --dry-run" can show it on any system.
//
// The hardening options are the ones that leave backups and restores
// intact: nothing that makes parts of the file system read-only or hidden
// (ProtectSystem, ProtectHome, PrivateTmp would break restores into /etc,
// /home or /tmp), nothing that drops capabilities root needs to restore
// owners, modes, attributes and setuid files.
func SystemdUnit(o Options) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Written by `restic-manager-agent service install`;")
	w("# remove it with `restic-manager-agent service uninstall`.")
	w("[Unit]")
	w("Description=restic-manager agent (runs restic backups for a restic-manager server)")
	w("Wants=network-online.target")
	w("After=network-online.target")
	w("")
	w("[Service]")
	w("Type=simple")
	w("ExecStart=%s run --config %s", systemdQuote(o.Binary), systemdQuote(o.ConfigPath))
	w("Restart=on-failure")
	w("RestartSec=5s")
	w("# root reads every file it backs up and restores owners and modes;")
	w("# another user backs up only what it can read (see docs/agent.md).")
	w("User=%s", o.User)
	w("# On stop, SIGTERM goes to the agent alone: it interrupts restic (which")
	w("# removes its repository lock) and reports its jobs before it exits.")
	w("KillMode=mixed")
	w("TimeoutStopSec=90s")
	w("StateDirectory=%s", DefaultName)
	w("StateDirectoryMode=0700")
	w("UMask=0077")
	w("LimitNOFILE=65536")
	w("NoNewPrivileges=yes")
	w("LockPersonality=yes")
	w("ProtectClock=yes")
	w("ProtectControlGroups=yes")
	w("ProtectHostname=yes")
	w("ProtectKernelLogs=yes")
	w("ProtectKernelModules=yes")
	w("ProtectKernelTunables=yes")
	w("RestrictNamespaces=yes")
	w("RestrictRealtime=yes")
	w("SystemCallArchitectures=native")
	w("")
	w("[Install]")
	w("WantedBy=multi-user.target")
	return b.String()
}

// systemdQuote quotes one word of ExecStart: double quotes around it,
// backslash and quote escaped, and systemd's specifiers ('%') and variable
// expansion ('$') doubled so the path is taken literally.
func systemdQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(s) + `"`
}
