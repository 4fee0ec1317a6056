package identity

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestLoadCreatesOnceAndIsStable(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset()
	first, err := Load(ctx, c.CoreV1(), "ns", DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Key) != keyBytes || first.InstallUUID == "" {
		t.Fatalf("identity = %+v, want a %d-byte key and a UUID", first, keyBytes)
	}
	second, err := Load(ctx, c.CoreV1(), "ns", DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Key, second.Key) || first.InstallUUID != second.InstallUUID {
		t.Fatal("a second Load returned a different identity")
	}
}

func TestLoadFillsMissingKeysAndKeepsOthers(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: "ns"},
		Data:       map[string][]byte{KeyInstallUUID: []byte("kept-uuid"), "other": []byte("x")},
	})
	id, err := Load(ctx, c.CoreV1(), "ns", DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if id.InstallUUID != "kept-uuid" || len(id.Key) != keyBytes {
		t.Fatalf("identity = %+v", id)
	}
	s, _ := c.CoreV1().Secrets("ns").Get(ctx, DefaultName, metav1.GetOptions{})
	if string(s.Data["other"]) != "x" {
		t.Fatal("Load dropped a foreign data key")
	}
}

func TestLoadRejectsBadKey(t *testing.T) {
	c := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: "ns"},
		Data:       map[string][]byte{KeyInstallUUID: []byte("u"), KeyHMAC: []byte("not hex")},
	})
	if _, err := Load(context.Background(), c.CoreV1(), "ns", DefaultName); !errors.Is(err, ErrInvalid) {
		t.Fatalf("error = %v, want ErrInvalid", err)
	}
}

func TestSigningKeyIsDerivedAsDocumented(t *testing.T) {
	key, err := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if err != nil {
		t.Fatal(err)
	}
	// Computed with the README's recipe:
	//   printf '%s' 'telemetry.cattle.io/signature/v1' |
	//     openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1e1f
	const want = "2750763100da06a11fd223cdca007c3bf4796aa0bb413e5d58e6da35d61ca7aa"
	got := Identity{Key: key}.SigningKey()
	if hex.EncodeToString(got) != want {
		t.Fatalf("SigningKey() = %x, want %s", got, want)
	}
	if bytes.Equal(got, key) {
		t.Fatal("the signing key is the pseudonym key itself")
	}
}

func TestSigningKeyDiffersPerInstall(t *testing.T) {
	a := Identity{Key: bytes.Repeat([]byte{1}, keyBytes)}.SigningKey()
	b := Identity{Key: bytes.Repeat([]byte{2}, keyBytes)}.SigningKey()
	if bytes.Equal(a, b) {
		t.Fatal("two installs with different keys got the same signing key")
	}
}
