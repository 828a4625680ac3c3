package cli

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// host is the API's host object, as far as tables need it.
type host struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Hostname      string     `json:"hostname"`
	Status        string     `json:"status"`
	LastSeen      *time.Time `json:"last_seen"`
	OS            string     `json:"os"`
	Arch          string     `json:"arch"`
	AgentVersion  string     `json:"agent_version"`
	ResticVersion string     `json:"restic_version"`
	Backends      []string   `json:"backends"`
	Tags          []string   `json:"tags"`
	EnrolledAt    *time.Time `json:"enrolled_at"`
}

func (h host) platform() string {
	if h.OS == "" && h.Arch == "" {
		return ""
	}
	return h.OS + "/" + h.Arch
}

func (h host) fields() [][2]string {
	return [][2]string{
		{"ID", h.ID},
		{"Name", h.Name},
		{"Hostname", h.Hostname},
		{"Status", h.Status},
		{"Last seen", fmtTime(h.LastSeen)},
		{"Platform", h.platform()},
		{"Agent version", h.AgentVersion},
		{"restic version", h.ResticVersion},
		{"Backends", strings.Join(h.Backends, ", ")},
		{"Tags", strings.Join(h.Tags, ", ")},
		{"Enrolled", fmtTime(h.EnrolledAt)},
	}
}

// hostPath is the API path of one host, by id or name.
func hostPath(idOrName string) string {
	return "/hosts/" + url.PathEscape(idOrName)
}

func hostListCommand() Command {
	return Command{
		Name:     "host list",
		Synopsis: "List hosts",
		Usage: `Usage: restic-manager host list [--status S] [--name N] [--search TEXT] [--sort FIELD] [--order asc|desc] [--json]

  List enrolled hosts (all pages), by name unless --sort says otherwise.
  Removed hosts stay listed with status "revoked".

Flags:
  --status S       Only hosts with this status: online, offline or revoked.
  --name N         Only the host with exactly this name.
  --search TEXT    Only hosts whose name contains TEXT (any case).
  --sort FIELD     Order by name (default), status, last_seen or last_backup.
  --order ORDER    asc (default) or desc.
  --json           Print a JSON array of host objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager host list --status offline
  ID        NAME   STATUS   PLATFORM     AGENT  RESTIC  LAST SEEN                  TAGS
  3f1c...   web1   offline  linux/amd64  1.0.0  0.18.1  2026-01-02T15:04:05+01:00  prod
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "host list", true)
			status := a.fs.String("status", "", "")
			name := a.fs.String("name", "", "")
			search := a.fs.String("search", "", "")
			sortBy := a.fs.String("sort", "", "")
			order := a.fs.String("order", "", "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			query := url.Values{}
			switch *status {
			case "":
			case "online", "offline", "revoked":
				query.Set("status", *status)
			default:
				return Usagef("--status %q: want online, offline or revoked", *status)
			}
			if *name != "" {
				query.Set("name", *name)
			}
			if err := hostListOrder(query, *search, *sortBy, *order); err != nil {
				return err
			}
			return list(ctx, a, "/hosts", query, func(hosts []host) error {
				t := newTable(env.Stdout, "ID", "NAME", "STATUS", "PLATFORM", "AGENT", "RESTIC", "LAST SEEN", "TAGS")
				for _, h := range hosts {
					t.row(h.ID, h.Name, h.Status, h.platform(), h.AgentVersion, h.ResticVersion, fmtTime(h.LastSeen),
						strings.Join(h.Tags, ","))
				}
				return t.flush()
			})
		},
	}
}

// hostListOrder adds host list's --search, --sort and --order to query, as
// the API's host list takes them (search, sort, order).
func hostListOrder(query url.Values, search, sortBy, order string) error {
	if search = strings.TrimSpace(search); search != "" {
		query.Set("search", search)
	}
	switch sortBy {
	case "":
	case "name", "status", "last_seen", "last_backup":
		query.Set("sort", sortBy)
	default:
		return Usagef("--sort %q: want name, status, last_seen or last_backup", sortBy)
	}
	switch order {
	case "":
	case "asc", "desc":
		query.Set("order", order)
	default:
		return Usagef("--order %q: want asc or desc", order)
	}
	return nil
}

func hostShowCommand() Command {
	return Command{
		Name:     "host show",
		Synopsis: "Show one host",
		Usage: `Usage: restic-manager host show ID|NAME [--json]

  Show one host. NAME works when it is unique; when a machine was enrolled
  again, NAME means its one host that is not revoked, and otherwise the
  server asks for the id.

Flags:
  --json   Print the host object as JSON.

` + apiFlagsHelp + `
Example:
  $ restic-manager host show web1
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "host show", true)
			pos, err := a.parse(args, 1, "the host's ID or NAME")
			if err != nil {
				return err
			}
			return get(ctx, a, hostPath(pos[0]), func(h host) error {
				return writeFields(env.Stdout, h.fields())
			})
		},
	}
}

func hostRemoveCommand() Command {
	return Command{
		Name:     "host remove",
		Synopsis: "Remove a host and revoke its agent credential",
		Usage: `Usage: restic-manager host remove ID|NAME

  Remove a host: its agent credential is revoked at once, an open agent
  connection is closed, and the agent cannot connect again. The host stays
  listed with status "revoked" for its history. To bring the machine back,
  enroll it again: it becomes a new host with a new credential. Prints
  nothing on standard output. Needs an admin token.

` + apiFlagsHelp + `
Example:
  $ restic-manager host remove web1
  Removed host "web1": its agent credential is revoked.
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "host remove", false)
			pos, err := a.parse(args, 1, "the host's ID or NAME")
			if err != nil {
				return err
			}
			return a.remove(ctx, hostPath(pos[0]), fmt.Sprintf("Removed host %q: its agent credential is revoked.", sanitize(pos[0])))
		},
	}
}
