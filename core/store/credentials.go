package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Credential is a sealed secret at rest. Sealed is opaque to the store; the
// caller seals it (core/secrets) with CredentialAAD(id) as additional data.
type Credential struct {
	ID        string
	Kind      string
	KeyID     string
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CredentialAAD binds a sealed value to its row, so a value copied into
// another row does not open.
func CredentialAAD(id string) []byte { return []byte("credentials/sealed/" + id) }

// CreateCredential stores c.
func (db *DB) CreateCredential(ctx context.Context, c Credential) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO credentials (id, kind, key_id, sealed, created_at, updated_at)
			VALUES (?,?,?,?,?,?)`, c.ID, c.Kind, c.KeyID, c.Sealed, ms(c.CreatedAt), ms(c.UpdatedAt))
		return mapErr(err)
	})
}

// GetCredential returns one credential.
func (db *DB) GetCredential(ctx context.Context, id string) (Credential, error) {
	var c Credential
	var created, updated int64
	err := db.r.QueryRowContext(ctx, `SELECT id, kind, key_id, sealed, created_at, updated_at FROM credentials
		WHERE id = ?`, id).Scan(&c.ID, &c.Kind, &c.KeyID, &c.Sealed, &created, &updated)
	if err != nil {
		return Credential{}, mapErr(err)
	}
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return c, nil
}

// Resealer re-encrypts one sealed value; it returns the new value and the id
// of the key that sealed it.
type Resealer func(sealed, aad []byte) (resealed []byte, keyID string, err error)

// ResealAll re-encrypts every sealed value in one transaction: either every
// row moves to the new key or none does. It returns how many rows changed.
func (db *DB) ResealAll(ctx context.Context, reseal Resealer, now time.Time) (int, error) {
	n := 0
	err := db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, sealed FROM credentials`)
		if err != nil {
			return err
		}
		type row struct {
			id     string
			sealed []byte
		}
		var all []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.sealed); err != nil {
				rows.Close()
				return err
			}
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range all {
			out, keyID, err := reseal(r.sealed, CredentialAAD(r.id))
			if err != nil {
				return fmt.Errorf("credential %s: %w", r.id, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE credentials SET sealed = ?, key_id = ?, updated_at = ? WHERE id = ?`,
				out, keyID, ms(now), r.id); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// VerifySealed calls open on every sealed value and returns the first
// failure; the server runs it at start-up so a wrong key file stops it
// before anything is served.
func (db *DB) VerifySealed(ctx context.Context, open func(sealed, aad []byte) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT id, sealed FROM credentials`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var sealed []byte
		if err := rows.Scan(&id, &sealed); err != nil {
			return err
		}
		if err := open(sealed, CredentialAAD(id)); err != nil {
			return fmt.Errorf("credential %s: %w", id, err)
		}
	}
	return rows.Err()
}
