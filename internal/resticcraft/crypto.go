package resticcraft

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/poly1305" //nolint:staticcheck // restic's format is Poly1305-AES; the tool only writes test repositories
	"golang.org/x/crypto/scrypt"
)

const (
	ivSize  = aes.BlockSize
	macSize = poly1305.TagSize
)

// key is restic's master key (or a key derived from a password): an
// AES-256 key for CTR mode and a Poly1305-AES key (k for AES-128 of the
// nonce, r for Poly1305).
type key struct {
	encrypt [32]byte
	macK    [16]byte
	macR    [16]byte
}

// keyFile is a file of the repository's keys/ directory.
type keyFile struct {
	KDF  string `json:"kdf"`
	N    int    `json:"N"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt []byte `json:"salt"`
	Data []byte `json:"data"`
}

// masterKeyJSON is the decrypted "data" of a key file.
type masterKeyJSON struct {
	MAC struct {
		K []byte `json:"k"`
		R []byte `json:"r"`
	} `json:"mac"`
	Encrypt []byte `json:"encrypt"`
}

// openKey derives the password's key with scrypt and decrypts the master
// key the key file holds.
func openKey(raw []byte, password string) (key, error) {
	var kf keyFile
	if err := json.Unmarshal(raw, &kf); err != nil {
		return key{}, fmt.Errorf("key file: %w", err)
	}
	if kf.KDF != "scrypt" {
		return key{}, fmt.Errorf("key file: kdf %q: only scrypt is known", kf.KDF)
	}
	derived, err := scrypt.Key([]byte(password), kf.Salt, kf.N, kf.R, kf.P, 64)
	if err != nil {
		return key{}, fmt.Errorf("scrypt: %w", err)
	}
	var user key
	copy(user.encrypt[:], derived[:32])
	copy(user.macK[:], derived[32:48])
	copy(user.macR[:], derived[48:])
	plain, err := user.decrypt(kf.Data)
	if err != nil {
		return key{}, fmt.Errorf("master key (wrong password?): %w", err)
	}
	var mk masterKeyJSON
	if err := json.Unmarshal(plain, &mk); err != nil {
		return key{}, fmt.Errorf("master key: %w", err)
	}
	if len(mk.Encrypt) != 32 || len(mk.MAC.K) != 16 || len(mk.MAC.R) != 16 {
		return key{}, errors.New("master key: unexpected key sizes")
	}
	var master key
	copy(master.encrypt[:], mk.Encrypt)
	copy(master.macK[:], mk.MAC.K)
	copy(master.macR[:], mk.MAC.R)
	return master, nil
}

// mac is Poly1305-AES over msg: the one-time key is r and AES-128_k(nonce).
func (k key) mac(nonce, msg []byte) ([macSize]byte, error) {
	var otk [32]byte
	c, err := aes.NewCipher(k.macK[:])
	if err != nil {
		return [macSize]byte{}, err
	}
	c.Encrypt(otk[16:], nonce)
	copy(otk[:16], k.macR[:])
	var tag [macSize]byte
	poly1305.Sum(&tag, msg, &otk)
	return tag, nil
}

// encryptBytes returns IV || AES-256-CTR(plain) || MAC(ciphertext).
func (k key) encryptBytes(plain []byte) ([]byte, error) {
	out := make([]byte, ivSize+len(plain), ivSize+len(plain)+macSize)
	if _, err := rand.Read(out[:ivSize]); err != nil {
		return nil, err
	}
	c, err := aes.NewCipher(k.encrypt[:])
	if err != nil {
		return nil, err
	}
	cipher.NewCTR(c, out[:ivSize]).XORKeyStream(out[ivSize:], plain)
	tag, err := k.mac(out[:ivSize], out[ivSize:])
	if err != nil {
		return nil, err
	}
	return append(out, tag[:]...), nil
}

// decrypt checks the MAC and decrypts IV || ciphertext || MAC.
func (k key) decrypt(sealed []byte) ([]byte, error) {
	if len(sealed) < ivSize+macSize {
		return nil, errors.New("ciphertext too short")
	}
	iv, ct, got := sealed[:ivSize], sealed[ivSize:len(sealed)-macSize], sealed[len(sealed)-macSize:]
	want, err := k.mac(iv, ct)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(want[:], got) != 1 {
		return nil, errors.New("MAC mismatch")
	}
	c, err := aes.NewCipher(k.encrypt[:])
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(ct))
	cipher.NewCTR(c, iv).XORKeyStream(plain, ct)
	return plain, nil
}
