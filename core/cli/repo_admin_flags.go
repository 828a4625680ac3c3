package cli

import (
	"flag"
	"fmt"
	"strings"
)

// adminPasswordFlags give a repository's admin password: the key prune
// jobs (and forgets that prune) use instead of the day-to-day password,
// for repositories whose day-to-day key is append-only. Like every
// secret, it is never a flag's value: it comes from a file, standard
// input, or a variable of this command's environment.
type adminPasswordFlags struct {
	file, envVar string
	clear        bool // repo update only: --clear-admin-password
}

// adminPasswordFlagsHelp documents the flags; it holds no secret.
//
//nolint:gosec // G101: help text that names the flags, not a credential
const adminPasswordFlagsHelp = `  --admin-password-file F
                      File holding the admin password, the key prune jobs
                      use (admin); "-" reads standard input. Without one,
                      prunes use the password.
  --admin-password-env VAR
                      Or: take the admin password from the variable VAR of
                      this command's environment.
`

func (f *adminPasswordFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "admin-password-file", "", "")
	fs.StringVar(&f.envVar, "admin-password-env", "", "")
}

// given reports whether any admin password flag is on the command line.
func (f *adminPasswordFlags) given(set map[string]bool) bool {
	return set["admin-password-file"] || set["admin-password-env"] || f.clear
}

// check refuses flags that exclude each other, before anything is read.
// passwordFile is the command's --password-file ("" when not given): both
// cannot read standard input.
func (f *adminPasswordFlags) check(set map[string]bool, passwordFile string) error {
	n := 0
	for _, ok := range []bool{set["admin-password-file"], set["admin-password-env"], f.clear} {
		if ok {
			n++
		}
	}
	switch {
	case n > 1:
		return Usagef("give one of --admin-password-file, --admin-password-env and --clear-admin-password")
	case set["admin-password-file"] && f.file == "":
		return Usagef("--admin-password-file needs a file name, or - for standard input")
	case set["admin-password-env"] && strings.TrimSpace(f.envVar) == "":
		return Usagef("--admin-password-env needs the name of a variable")
	case set["admin-password-file"] && f.file == "-" && passwordFile == "-":
		return Usagef("--password-file and --admin-password-file cannot both read standard input")
	}
	return nil
}

// read returns the admin password the flags give ("" to remove it, nil
// when none is given), after check.
func (f *adminPasswordFlags) read(env *Env, set map[string]bool) (*string, error) {
	switch {
	case f.clear:
		empty := ""
		return &empty, nil
	case set["admin-password-file"]:
		pw, err := readSecretFile(env, f.file)
		if err != nil {
			return nil, fmt.Errorf("--admin-password-file: %w", err)
		}
		return &pw, nil
	case set["admin-password-env"]:
		pw := env.Getenv(f.envVar)
		if pw == "" {
			return nil, Usagef("--admin-password-env %s: the variable is not set in this command's environment, or empty", f.envVar)
		}
		return &pw, nil
	}
	return nil, nil
}

// adminStored says in words whether a repository has an admin password.
func adminStored(has bool) string {
	if has {
		return "yes (not shown; prunes use it)"
	}
	return "no (prunes use the password)"
}
