// Command restic-manager-agent runs restic jobs on a host for a
// restic-manager server. It connects out to the server; it never listens.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/restic-manager/restic-manager/internal/version"
)

type command struct {
	synopsis string
	usage    string
	run      func(args []string) error
}

var commands = map[string]command{
	"enroll": {
		synopsis: "Exchange an enrollment token for this host's credential",
		usage:    enrollUsage,
		run:      runEnroll,
	},
	"plugin": {
		synopsis: "Serve a built-in plugin (the agent runs this itself)",
		usage:    pluginUsage,
		run:      runPlugin,
	},
	"run": {
		synopsis: "Run the agent",
		usage:    runUsage,
		run:      runRun,
	},
	"service": {
		synopsis: "Install or remove the systemd unit or Windows service",
		usage:    serviceUsage,
		run:      runService,
	},
	"version": {
		synopsis: "Print the agent's version",
		usage:    "Usage: restic-manager-agent version",
		run: func([]string) error {
			fmt.Println(version.String())
			return nil
		},
	},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: restic-manager-agent <command> [options]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].synopsis)
	}
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		usage(os.Stdout)
		return
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "restic-manager-agent: unknown command %q; run \"restic-manager-agent --help\"\n", args[0])
		os.Exit(1)
	}
	for _, a := range args[1:] {
		if a == "--help" || a == "-h" {
			fmt.Println(cmd.usage)
			return
		}
	}
	if err := cmd.run(args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
