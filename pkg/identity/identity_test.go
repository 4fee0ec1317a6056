package identity

import (
	"bytes"
	"context"
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
