package scctest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Offline is what an offline certificate grants: the install it is for,
// the registration code it was bought with ("" for none) and its expiry.
type Offline struct {
	UUID, RegCode string
	Expires       time.Time
}

// Certificate returns an offline certificate as SCC hands it out (DESIGN
// section 9): base64 of {version, cipher, hash, payload, signature}, the
// payload base64 of the grant and the signature RSA-PSS SHA-256 (salt of
// the hash's length) over sha256 of the payload's base64 text, by key.
func Certificate(key *rsa.PrivateKey, o Offline) (string, error) {
	hashed := func(s string) string {
		if s == "" {
			return ""
		}
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	payload, err := json.Marshal(map[string]any{
		"login": "SCC_offline", "password": "offline-secret",
		"subscription": map[string]any{
			"kind": "full", "name": "SUSE Rancher Prime", "starts_at": o.Expires.Add(-365 * 24 * time.Hour), "expires_at": o.Expires,
			"limit": 10, "product_classes": []map[string]string{{"name": "RANCHER-X86"}},
		},
		"hashed_regcode": hashed(o.RegCode), "hashed_uuid": hashed(o.UUID), "information": map[string]any{},
	})
	if err != nil {
		return "", err
	}
	encoded := base64.StdEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(encoded))
	sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		return "", err
	}
	doc, err := json.Marshal(map[string]string{
		"version": "1.0", "cipher": "rsa", "hash": "sha256", "payload": encoded, "signature": base64.StdEncoding.EncodeToString(sig),
	})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(doc), nil
}
