package backend

import (
	"fmt"
	"strings"
	"testing"
)

// TestJobPrintsNoSecrets: a Job may be logged with %v, %+v, %s or %#v, and
// none of them shows a password or a credential.
func TestJobPrintsNoSecrets(t *testing.T) {
	t.Parallel()
	job := fullJob()
	job.Kind = JobKeyAdd
	secrets := []string{job.NewPassword, job.Repository.Password, job.ToRepository.Password, "wJalr"}
	for _, format := range []string{"%v", "%+v", "%s", "%#v"} {
		out := fmt.Sprintf(format, job)
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s of a job shows the secret %q: %s", format, s, out)
			}
		}
		if !strings.Contains(out, job.ID) {
			t.Errorf("%s of a job does not name it: %s", format, out)
		}
	}
}

func TestKeyKindsValid(t *testing.T) {
	t.Parallel()
	for _, k := range []JobKind{JobKeyAdd, JobKeyRemove} {
		if !k.Valid() {
			t.Errorf("%q is not a valid kind", k)
		}
	}
}
