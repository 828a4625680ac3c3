// Package repos manages restic repositories: it validates them, seals their
// password and backend environment with the server's keyring before the
// store sees them, and opens them again for whoever must hand them to restic.
//
// The split is deliberate. The store (core/store) keeps sealed bytes and
// never holds the keyring, so no query can return plaintext by mistake; the
// API (core/api) never touches a sealed value or the keyring, so no handler
// can seal with the wrong AAD or echo a secret; and the job dispatcher
// opens secrets through RepositorySecrets here without importing the API.
package repos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
)

var (
	// ErrManagedByConfig means the repository is declared in the server's
	// configuration file and can only be changed there.
	ErrManagedByConfig = errors.New("repository is declared in the configuration file")
	// ErrNoSealer means the service was built without a keyring, so it
	// cannot seal or open secrets.
	ErrNoSealer = errors.New("no secret keyring configured")
)

// Sealer seals and opens secrets; *secrets.Keyring is the one in use.
// Sealed values must be in the core/secrets format, whose header names the
// key that sealed them.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

var _ Sealer = (*secrets.Keyring)(nil)

// Store is what the service needs of the store.
type Store interface {
	CreateRepository(ctx context.Context, r store.Repository) error
	GetRepository(ctx context.Context, ref string) (store.Repository, error)
	ListRepositories(ctx context.Context, after string, limit int) ([]store.Repository, error)
	UpdateRepository(ctx context.Context, id string, p store.RepositoryPatch, now time.Time) (store.Repository, error)
	DeleteRepository(ctx context.Context, id string) error
}

// Repository is a repository as users may see it: no secret, only whether
// there is a password and the names of the backend variables.
type Repository struct {
	ID          string
	Name        string
	URL         string // redacted: a password in the URL reads "***"
	Description string
	EnvKeys     []string // sorted
	HasPassword bool
	ManagedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Spec is a new repository.
type Spec struct {
	Name        string
	URL         string
	Description string
	Password    string
	Env         map[string]string
}

// Patch changes some fields of a repository; nil fields stay as they are.
type Patch struct {
	URL         *string
	Description *string
	Password    *string
	// SetEnv replaces the whole backend environment with Env (empty: none).
	SetEnv bool
	Env    map[string]string
}

// Service creates, reads, changes and removes repositories.
type Service struct {
	store  Store
	sealer Sealer
	now    func() time.Time
}

// New returns a service over st that seals with sealer. A nil sealer makes
// every call that seals or opens fail with ErrNoSealer; a nil now is
// time.Now.
func New(st Store, sealer Sealer, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, sealer: sealer, now: now}
}

// ValidateSpec checks every field of a new repository and returns all
// problems at once, each a *FieldError.
func ValidateSpec(s Spec) error {
	return errors.Join(ValidateName(s.Name), ValidateURL(s.URL), ValidateDescription(s.Description),
		ValidatePassword(s.Password), ValidateEnv(s.Env))
}

// ValidatePatch checks the fields a patch sets.
func ValidatePatch(p Patch) error {
	var errs []error
	if p.URL != nil {
		errs = append(errs, ValidateURL(*p.URL))
	}
	if p.Description != nil {
		errs = append(errs, ValidateDescription(*p.Description))
	}
	if p.Password != nil {
		errs = append(errs, ValidatePassword(*p.Password))
	}
	if p.SetEnv {
		errs = append(errs, ValidateEnv(p.Env))
	}
	return errors.Join(errs...)
}

// Create validates spec, seals its secrets and stores the repository with
// them in one transaction. A taken name wraps store.ErrConflict.
func (s *Service) Create(ctx context.Context, spec Spec) (Repository, error) {
	if err := ValidateSpec(spec); err != nil {
		return Repository{}, err
	}
	now := s.now()
	pw, err := s.seal(store.KindRepositoryPassword, []byte(spec.Password), now)
	if err != nil {
		return Repository{}, err
	}
	env, err := s.sealEnv(spec.Env, now)
	if err != nil {
		return Repository{}, err
	}
	url, urlSecret, err := s.sealURL(spec.URL, now)
	if err != nil {
		return Repository{}, err
	}
	r := store.Repository{
		ID: auth.NewID(), Name: spec.Name, URL: url, URLSecret: urlSecret, Description: spec.Description,
		Password: pw, Env: env, ManagedBy: "user", CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.CreateRepository(ctx, r); err != nil {
		return Repository{}, err
	}
	return s.view(r)
}

// Get returns the repository whose id or name is ref.
func (s *Service) Get(ctx context.Context, ref string) (Repository, error) {
	r, err := s.store.GetRepository(ctx, ref)
	if err != nil {
		return Repository{}, err
	}
	return s.view(r)
}

// List returns up to limit repositories ordered by name, after the name
// after.
func (s *Service) List(ctx context.Context, after string, limit int) ([]Repository, error) {
	rows, err := s.store.ListRepositories(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Repository, 0, len(rows))
	for _, r := range rows {
		v, err := s.view(r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Update validates p, seals the secrets it sets and applies it to the
// repository with the given id. A new password or environment replaces the
// old sealed row, which is deleted.
func (s *Service) Update(ctx context.Context, id string, p Patch) (Repository, error) {
	cur, err := s.store.GetRepository(ctx, id)
	if err != nil {
		return Repository{}, err
	}
	if cur.ManagedBy == "config" {
		return Repository{}, ErrManagedByConfig
	}
	if err := ValidatePatch(p); err != nil {
		return Repository{}, err
	}
	now := s.now()
	sp := store.RepositoryPatch{Description: p.Description, SetEnv: p.SetEnv}
	if p.URL != nil {
		url, secret, err := s.sealURL(*p.URL, now)
		if err != nil {
			return Repository{}, err
		}
		sp.URL, sp.URLSecret = &url, secret
	}
	if p.Password != nil {
		if sp.Password, err = s.seal(store.KindRepositoryPassword, []byte(*p.Password), now); err != nil {
			return Repository{}, err
		}
	}
	if p.SetEnv {
		if sp.Env, err = s.sealEnv(p.Env, now); err != nil {
			return Repository{}, err
		}
	}
	r, err := s.store.UpdateRepository(ctx, cur.ID, sp, now)
	if err != nil {
		return Repository{}, err
	}
	return s.view(r)
}

// Delete removes the repository with the given id and its secrets. It
// wraps store.ErrInUse while schedules use the repository.
func (s *Service) Delete(ctx context.Context, id string) error {
	cur, err := s.store.GetRepository(ctx, id)
	if err != nil {
		return err
	}
	if cur.ManagedBy == "config" {
		return ErrManagedByConfig
	}
	return s.store.DeleteRepository(ctx, cur.ID)
}

// RepositorySecrets opens the URL, password and backend environment of
// the repository with the given id, for handing to restic with a job: the
// URL is the whole one, with its password, when it carries one.
func (s *Service) RepositorySecrets(ctx context.Context, id string) (url, password string, env map[string]string, err error) {
	r, err := s.store.GetRepository(ctx, id)
	if err != nil {
		return "", "", nil, err
	}
	url = r.URL
	if r.URLSecret != nil {
		b, err := s.open(r.URLSecret)
		if err != nil {
			return "", "", nil, err
		}
		url = string(b)
		clear(b)
	}
	if r.Password != nil {
		b, err := s.open(r.Password)
		if err != nil {
			return "", "", nil, err
		}
		password = string(b)
		clear(b)
	}
	env, err = s.openEnv(r.Env)
	if err != nil {
		return "", "", nil, err
	}
	return url, password, env, nil
}

// SealStoredURLs seals the password of every repository URL stored in the
// clear (by a server older than the url_credential_id column, or declared
// in config) and returns how many it sealed. The server runs it at start.
func (s *Service) SealStoredURLs(ctx context.Context) (int, error) {
	n, after := 0, ""
	for {
		page, err := s.store.ListRepositories(ctx, after, 100)
		if err != nil {
			return n, err
		}
		for _, r := range page {
			if r.URLSecret != nil || RedactURL(r.URL) == r.URL {
				continue
			}
			now := s.now()
			url, secret, err := s.sealURL(r.URL, now)
			if err != nil {
				return n, fmt.Errorf("repository %s: %w", r.Name, err)
			}
			if _, err := s.store.UpdateRepository(ctx, r.ID, store.RepositoryPatch{URL: &url, URLSecret: secret}, r.UpdatedAt); err != nil {
				return n, fmt.Errorf("repository %s: %w", r.Name, err)
			}
			n++
		}
		if len(page) < 100 {
			return n, nil
		}
		after = page[len(page)-1].Name
	}
}

// sealURL splits a URL that carries a password into the redacted form the
// store keeps in the clear and the whole URL sealed; a URL without one is
// kept as it is, with no credential.
func (s *Service) sealURL(url string, now time.Time) (string, *store.Credential, error) {
	redacted := RedactURL(url)
	if redacted == url {
		return url, nil, nil
	}
	c, err := s.seal(store.KindRepositoryURL, []byte(url), now)
	if err != nil {
		return "", nil, err
	}
	return redacted, c, nil
}

// view turns a stored repository into what users see. Env names come from
// opening the sealed environment; the values are dropped at once.
func (s *Service) view(r store.Repository) (Repository, error) {
	env, err := s.openEnv(r.Env)
	if err != nil {
		return Repository{}, err
	}
	keys := sortedKeys(env)
	clear(env)
	return Repository{
		ID: r.ID, Name: r.Name, URL: RedactURL(r.URL), Description: r.Description, EnvKeys: keys,
		HasPassword: r.Password != nil, ManagedBy: r.ManagedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, nil
}

func (s *Service) seal(kind string, plaintext []byte, now time.Time) (*store.Credential, error) {
	if s.sealer == nil {
		return nil, ErrNoSealer
	}
	id := auth.NewID()
	sealed, err := s.sealer.Seal(plaintext, store.CredentialAAD(id))
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", kind, err)
	}
	keyID, err := secrets.KeyID(sealed)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", kind, err)
	}
	return &store.Credential{ID: id, Kind: kind, KeyID: keyID, Sealed: sealed, CreatedAt: now, UpdatedAt: now}, nil
}

// sealEnv seals env as a JSON object; an empty env is no row at all.
func (s *Service) sealEnv(env map[string]string, now time.Time) (*store.Credential, error) {
	if len(env) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode env: %w", err)
	}
	defer clear(b)
	return s.seal(store.KindBackendEnv, b, now)
}

func (s *Service) open(c *store.Credential) ([]byte, error) {
	if s.sealer == nil {
		return nil, ErrNoSealer
	}
	b, err := s.sealer.Open(c.Sealed, store.CredentialAAD(c.ID))
	if err != nil {
		return nil, fmt.Errorf("open credential %s: %w", c.ID, err)
	}
	return b, nil
}

func (s *Service) openEnv(c *store.Credential) (map[string]string, error) {
	if c == nil {
		return map[string]string{}, nil
	}
	b, err := s.open(c)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	env := map[string]string{}
	if err := json.Unmarshal(b, &env); err != nil {
		// The error is json's, which does not quote the input.
		return nil, fmt.Errorf("credential %s is not a JSON object of variables: %w", c.ID, err)
	}
	return env, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
