package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
)

// apiCmd is what every API command shares: a flag set with --addr, --token
// and (for commands that print an object) --json, and the requests that
// fetch an answer and print it. A command adds its own flags to fs, calls
// parse, checks its own flags, then makes its request with get, list,
// listN, send or remove. The client is made at the first request, so that a
// bad flag is a usage error (exit 2) even when no token is set.
type apiCmd struct {
	env    *Env
	fs     *flag.FlagSet
	flags  *apiFlags
	asJSON bool
	c      *client
}

// newAPICmd starts the API command name; withJSON registers --json.
func newAPICmd(env *Env, name string, withJSON bool) *apiCmd {
	fs := newFlagSet(name)
	a := &apiCmd{env: env, fs: fs, flags: addAPIFlags(fs, env)}
	if withJSON {
		fs.BoolVar(&a.asJSON, "json", false, "")
	}
	return a
}

// parse parses args and returns the n positional arguments; what names
// them in the error when one is missing.
func (a *apiCmd) parse(args []string, n int, what string) ([]string, error) {
	return parseArgs(a.fs, args, n, what)
}

// client returns the authenticated client, made on first use.
func (a *apiCmd) client() (*client, error) {
	if a.c == nil {
		c, err := a.flags.client(true)
		if err != nil {
			return nil, err
		}
		a.c = c
	}
	return a.c, nil
}

// call sends body (nil: none) to path and returns the answer as the server
// wrote it.
func (a *apiCmd) call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.do(ctx, method, path, nil, body, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// send sends body to path and prints what a create or update returned: the
// whole object with --json, else its id.
func (a *apiCmd) send(ctx context.Context, method, path string, body any) error {
	raw, err := a.call(ctx, method, path, body)
	if err != nil {
		return err
	}
	if a.asJSON {
		return writeJSON(a.env.Stdout, raw)
	}
	var obj struct {
		ID string `json:"id"`
	}
	if err := decodeObject(raw, &obj); err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.env.Stdout, obj.ID)
	return err
}

// remove deletes path and then prints done on standard error; standard
// output stays empty.
func (a *apiCmd) remove(ctx context.Context, path, done string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodDelete, path, nil, nil, nil); err != nil {
		return err
	}
	fmt.Fprintln(a.env.Stderr, done)
	return nil
}

// get fetches the object at path and prints it: the server's JSON with
// --json, else render's view of it decoded as a T.
func get[T any](ctx context.Context, a *apiCmd, path string, render func(T) error) error {
	raw, err := a.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if a.asJSON {
		return writeJSON(a.env.Stdout, raw)
	}
	var v T
	if err := decodeObject(raw, &v); err != nil {
		return err
	}
	return render(v)
}

// list fetches every page of a listing and prints the items: a JSON array
// of the server's objects with --json, else render's view of them decoded
// as Ts.
func list[T any](ctx context.Context, a *apiCmd, path string, query url.Values, render func([]T) error) error {
	return listN(ctx, a, path, query, 0, func(items []T, _ bool) error { return render(items) })
}

// listN is list for at most n items (n <= 0: all of them); more tells
// render that the server has items beyond those.
func listN[T any](ctx context.Context, a *apiCmd, path string, query url.Values, n int, render func(items []T, more bool) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	raw, more, err := c.listN(ctx, path, query, n)
	if err != nil {
		return err
	}
	if a.asJSON {
		return writeJSON(a.env.Stdout, raw)
	}
	items, err := decodeItems[T](raw)
	if err != nil {
		return err
	}
	return render(items, more)
}
