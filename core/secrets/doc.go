// Package secrets seals secrets at rest (repository passwords, backend keys,
// hook text) with XChaCha20-Poly1305 under keys read from the secret key file,
// so a copy of the database without that file gives no plaintext.
//
// Every sealed value names the key it was sealed with, so keys can be rotated:
// the first key of a [Keyring] seals, all of its keys open. docs/secrets.md
// describes the key file and the rotation procedure for users.
//
// # Sealed wire format
//
// A sealed value is a byte string, version 1:
//
//	offset  size  field
//	0       1     version, always 1
//	1       1     key id length n (1..64)
//	2       n     key id, ASCII [A-Za-z0-9._-]
//	2+n     24    nonce, random (crypto/rand)
//	26+n    m+16  XChaCha20-Poly1305 ciphertext of the m plaintext bytes, then the tag
//
// The AEAD's additional data is the header (bytes 0 to 2+n) followed by the
// caller's AAD, which names the value's place (e.g. "credentials/value/42")
// and is not stored. Changing the version, the key id or the AAD therefore
// fails authentication just like changing the ciphertext, and a value copied
// to another row does not open.
package secrets
