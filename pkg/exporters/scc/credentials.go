package scc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// Keys of the credentials Secret.
const (
	KeyLogin         = "login"
	KeyPassword      = "password"
	KeySystemToken   = "systemToken"
	KeySystemID      = "systemID"
	KeyRegCodeHash   = "regCodeHash" // hex sha256 of the regCode registered with
	KeyURL           = "url"         // the SCC or RMT URL registered with
	KeyProduct       = "product"     // the triplet activated
	KeyPayloadDigest = "payloadDigest"
	KeyLastKeepalive = "lastKeepalive" // RFC 3339
)

// errNoLogin is what an authenticated call returns before announce.
var errNoLogin = errors.New("no system credentials: the system is not announced")

// credData is what the credentials Secret holds.
type credData struct {
	Login, Password, Token string
	SystemID               int
	RegCodeHash, URL       string
	Product                string
	PayloadDigest          string
	LastKeepalive          string
}

func (d *credData) toMap() map[string][]byte {
	return map[string][]byte{
		KeyLogin: []byte(d.Login), KeyPassword: []byte(d.Password), KeySystemToken: []byte(d.Token),
		KeySystemID: []byte(strconv.Itoa(d.SystemID)), KeyRegCodeHash: []byte(d.RegCodeHash), KeyURL: []byte(d.URL),
		KeyProduct: []byte(d.Product), KeyPayloadDigest: []byte(d.PayloadDigest), KeyLastKeepalive: []byte(d.LastKeepalive),
	}
}

func credFromMap(m map[string][]byte) *credData {
	id, _ := strconv.Atoi(string(m[KeySystemID]))
	return &credData{
		Login: string(m[KeyLogin]), Password: string(m[KeyPassword]), Token: string(m[KeySystemToken]),
		SystemID: id, RegCodeHash: string(m[KeyRegCodeHash]), URL: string(m[KeyURL]),
		Product: string(m[KeyProduct]), PayloadDigest: string(m[KeyPayloadDigest]), LastKeepalive: string(m[KeyLastKeepalive]),
	}
}

// credStore reads and writes the credentials Secret. It is read from the API
// server (not a cache): the exporter is its only writer, and a run must see
// the token the previous run stored.
type credStore struct {
	secrets         corev1client.SecretsGetter
	namespace, name string
}

func (s *credStore) ref() string { return s.namespace + "/" + s.name }

// load returns the stored credentials, nil when there are none.
func (s *credStore) load(ctx context.Context) (*credData, error) {
	sec, err := s.secrets.Secrets(s.namespace).Get(ctx, s.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading credentials secret %s: %w", s.ref(), err)
	}
	d := credFromMap(sec.Data)
	if d.Login == "" {
		return nil, nil
	}
	return d, nil
}

// save writes d, creating the Secret when it is missing.
func (s *credStore) save(ctx context.Context, d *credData) error {
	c := s.secrets.Secrets(s.namespace)
	sec, err := c.Get(ctx, s.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		sec = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: s.namespace, Labels: map[string]string{LabelPartOf: PartOf}},
			Type:       corev1.SecretTypeOpaque,
			Data:       d.toMap(),
		}
		if _, err := c.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating credentials secret %s: %w", s.ref(), err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading credentials secret %s: %w", s.ref(), err)
	}
	sec.Data = d.toMap()
	if _, err := c.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating credentials secret %s: %w", s.ref(), err)
	}
	return nil
}

// wipe deletes the Secret; a missing one is no error.
func (s *credStore) wipe(ctx context.Context) error {
	err := s.secrets.Secrets(s.namespace).Delete(ctx, s.name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting credentials secret %s: %w", s.ref(), err)
	}
	return nil
}

// systemCredentials is the connection.Credentials of one run: every change
// (a login, a rotated System-Token) is written to the Secret at once, so
// that the latest token survives a restart.
type systemCredentials struct {
	ctx   context.Context
	store *credStore
	data  *credData
}

// saveTimeout bounds a write of the credentials that a cancelled run still
// makes.
const saveTimeout = 15 * time.Second

// saveDetached writes d even when ctx was cancelled: what SCC handed out
// (a login, a rotated System-Token) is lost unless it is stored.
func (s *credStore) saveDetached(ctx context.Context, d *credData) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	return s.save(ctx, d)
}

func (c *systemCredentials) HasAuthentication() bool { return c.data.Login != "" }

func (c *systemCredentials) Token() (string, error) { return c.data.Token, nil }

func (c *systemCredentials) UpdateToken(token string) error {
	if token == "" || token == c.data.Token {
		return nil
	}
	c.data.Token = token
	if c.data.Login == "" {
		// Announce's answer: stored with the login right after.
		return nil
	}
	return c.store.saveDetached(c.ctx, c.data)
}

func (c *systemCredentials) Login() (string, string, error) {
	if c.data.Login == "" {
		return "", "", errNoLogin
	}
	return c.data.Login, c.data.Password, nil
}

func (c *systemCredentials) SetLogin(login, password string) error {
	c.data.Login, c.data.Password = login, password
	if login == "" {
		// Deregistered: the caller wipes the Secret.
		return nil
	}
	return c.store.saveDetached(c.ctx, c.data)
}
