// Package identity keeps the per-install secrets of telemetry in a Secret of
// the telemetry namespace: the HMAC key that turns cluster names into
// pseudonymous ids (and, derived from it, the key payloads are signed
// with), and (in kubernetes mode, where no Rancher setting holds
// one) the install UUID. Both are generated once and survive restarts, so
// cluster ids and the install UUID are stable.
package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// DefaultName is the name of the identity Secret.
const DefaultName = "telemetry-identity"

// Keys of the identity Secret.
const (
	KeyHMAC        = "hmacKey"
	KeyInstallUUID = "installUUID"
)

// SigningKeyLabel is the message the signing key is derived with. The
// version suffix changes if the derivation ever does.
const SigningKeyLabel = "telemetry.cattle.io/signature/v1"

// keyBytes is the length of a generated HMAC key.
const keyBytes = 32

// ErrInvalid means the identity Secret exists but holds unusable values.
var ErrInvalid = errors.New("invalid identity secret")

// Identity is the per-install secret material.
type Identity struct {
	Key         []byte
	InstallUUID string
}

// SigningKey is the key payload signatures are made with:
// HMAC-SHA256(Key, SigningKeyLabel), where Key is the hex-decoded hmacKey of
// the identity Secret. The pseudonym key itself never signs anything, so a
// signature reveals nothing about it, and one secret still serves both.
func (id Identity) SigningKey() []byte {
	return DeriveSigningKey(id.Key)
}

// DeriveSigningKey returns HMAC-SHA256(key, SigningKeyLabel); see SigningKey.
func DeriveSigningKey(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(SigningKeyLabel))
	return m.Sum(nil)
}

// Load reads the identity Secret namespace/name, creating it or filling in
// missing keys as needed. Concurrent replicas converge on the same values:
// creation races end in AlreadyExists and updates in Conflict, both retried.
func Load(ctx context.Context, secrets typedcorev1.SecretsGetter, namespace, name string) (Identity, error) {
	client := secrets.Secrets(namespace)
	for attempt := 0; attempt < 5; attempt++ {
		s, err := client.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			s = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{
					Name: name, Namespace: namespace,
					Labels: map[string]string{"app.kubernetes.io/part-of": "telemetry"},
				},
				Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{},
			}
			fill(s)
			_, err = client.Create(ctx, s, metav1.CreateOptions{FieldManager: "telemetry-manager"})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return Identity{}, fmt.Errorf("creating identity secret %s/%s: %w", namespace, name, err)
			}
			return from(s, namespace, name)
		}
		if err != nil {
			return Identity{}, fmt.Errorf("reading identity secret %s/%s: %w", namespace, name, err)
		}
		if fill(s) {
			_, err = client.Update(ctx, s, metav1.UpdateOptions{FieldManager: "telemetry-manager"})
			if apierrors.IsConflict(err) {
				continue
			}
			if err != nil {
				return Identity{}, fmt.Errorf("updating identity secret %s/%s: %w", namespace, name, err)
			}
		}
		return from(s, namespace, name)
	}
	return Identity{}, fmt.Errorf("identity secret %s/%s: gave up after repeated conflicts", namespace, name)
}

// fill adds the keys that are missing and reports whether it added any.
func fill(s *corev1.Secret) bool {
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	changed := false
	if len(s.Data[KeyHMAC]) == 0 {
		k := make([]byte, keyBytes)
		_, _ = rand.Read(k) // crypto/rand.Read never fails
		s.Data[KeyHMAC] = []byte(hex.EncodeToString(k))
		changed = true
	}
	if len(s.Data[KeyInstallUUID]) == 0 {
		s.Data[KeyInstallUUID] = []byte(uuid.NewUUID())
		changed = true
	}
	return changed
}

// FromSecret reads the identity held by s, an identity Secret read from
// somewhere other than the API server (a file, a dump). Its errors wrap
// ErrInvalid.
func FromSecret(s *corev1.Secret) (Identity, error) {
	return from(s, s.Namespace, s.Name)
}

func from(s *corev1.Secret, namespace, name string) (Identity, error) {
	key, err := hex.DecodeString(string(s.Data[KeyHMAC]))
	if err != nil || len(key) < 16 {
		return Identity{}, fmt.Errorf("%w %s/%s: data.%s must be at least 16 bytes of hex", ErrInvalid, namespace, name, KeyHMAC)
	}
	return Identity{Key: key, InstallUUID: string(s.Data[KeyInstallUUID])}, nil
}

// ErrMissing means the identity Secret does not exist.
var ErrMissing = errors.New("identity secret missing")

// Read reads the identity Secret without creating or changing it.
func Read(ctx context.Context, secrets typedcorev1.SecretsGetter, namespace, name string) (Identity, error) {
	s, err := secrets.Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Identity{}, fmt.Errorf("%w: %s/%s", ErrMissing, namespace, name)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("reading identity secret %s/%s: %w", namespace, name, err)
	}
	return from(s, namespace, name)
}
