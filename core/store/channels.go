package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// CredentialChannel is the kind of the credentials that hold the
// notification channels created through the API (0001's plugin_config,
// with ids "channel/NAME"). A channel is one sealed row: its plugin, its
// whole configuration (secret attributes included) and its enabled flag
// are opaque to the store, sealed by the caller (core/channel) with
// CredentialAAD of the row's id, and re-sealed by `server rotate-key` like
// every credential. Channels declared in the configuration file are not
// stored.
const CredentialChannel = "plugin_config" //nolint:gosec // G101: a credential kind, not a credential

// channelIDPrefix makes a channel's credential id from its name, so that
// the primary key keeps names unique and a name is read without opening
// the row.
const channelIDPrefix = "channel/"

// ChannelCredentialID is the id of the credential of the channel name.
func ChannelCredentialID(name string) string { return channelIDPrefix + name }

// ChannelName is the channel name of a channel credential's id.
func ChannelName(credentialID string) string {
	return strings.TrimPrefix(credentialID, channelIDPrefix)
}

// ChannelInUseError is why a channel cannot be deleted: alert rules send
// to it. It wraps ErrInUse.
type ChannelInUseError struct {
	Channel string
	Rules   []string // names, sorted
}

func (e *ChannelInUseError) Error() string {
	return fmt.Sprintf("channel %q is used by the alert rules %s", e.Channel, strings.Join(e.Rules, ", "))
}

func (e *ChannelInUseError) Unwrap() error { return ErrInUse }

// CreateChannel stores a channel's sealed row (of kind channel, with the
// id ChannelCredentialID(name)). A taken name is ErrConflict.
func (db *DB) CreateChannel(ctx context.Context, c Credential) error {
	if !strings.HasPrefix(c.ID, channelIDPrefix) {
		return fmt.Errorf("credential %s is not a channel's", c.ID)
	}
	return db.tx(ctx, func(tx *sql.Tx) error { return insertCredential(ctx, tx, &c, CredentialChannel) })
}

// GetChannel returns the sealed row of the channel name.
func (db *DB) GetChannel(ctx context.Context, name string) (Credential, error) {
	c, err := db.GetCredential(ctx, ChannelCredentialID(name))
	if err != nil {
		return Credential{}, err
	}
	if c.Kind != CredentialChannel || !strings.HasPrefix(c.ID, channelIDPrefix) {
		return Credential{}, ErrNotFound
	}
	return c, nil
}

// ListChannels returns every channel's sealed row, by name.
func (db *DB) ListChannels(ctx context.Context) ([]Credential, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, kind, key_id, sealed, created_at, updated_at FROM credentials
		WHERE kind = ? AND substr(id, 1, ?) = ? ORDER BY id`, CredentialChannel, len(channelIDPrefix), channelIDPrefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Credential
	for rows.Next() {
		var c Credential
		var created, updated int64
		if err := rows.Scan(&c.ID, &c.Kind, &c.KeyID, &c.Sealed, &created, &updated); err != nil {
			return nil, err
		}
		c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateChannel replaces the sealed value of an existing channel row.
func (db *DB) UpdateChannel(ctx context.Context, c Credential) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE credentials SET key_id = ?, sealed = ?, updated_at = ? WHERE id = ? AND kind = ?`,
			c.KeyID, c.Sealed, ms(c.UpdatedAt), c.ID, CredentialChannel)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// DeleteChannel removes the channel name. While alert rules send to it, it
// stays and the error is a *ChannelInUseError naming them; the check and
// the delete are one transaction, so no rule can start using it between.
func (db *DB) DeleteChannel(ctx context.Context, name string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		rules, err := rulesUsingChannel(ctx, tx, name)
		if err != nil {
			return err
		}
		if len(rules) > 0 {
			return &ChannelInUseError{Channel: name, Rules: rules}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE id = ? AND kind = ?`, ChannelCredentialID(name), CredentialChannel)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// ChannelRules returns the names of the alert rules that send to the
// channel name, sorted.
func (db *DB) ChannelRules(ctx context.Context, name string) ([]string, error) {
	var out []string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = rulesUsingChannel(ctx, tx, name)
		return err
	})
	return out, err
}

func rulesUsingChannel(ctx context.Context, tx *sql.Tx, name string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, channels FROM alert_rules`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var rule, channels string
		if err := rows.Scan(&rule, &channels); err != nil {
			return nil, err
		}
		if slices.Contains(decodeStrings(channels), name) {
			out = append(out, rule)
		}
	}
	slices.Sort(out)
	return out, rows.Err()
}
