package scc

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/SUSE/connect-ng/pkg/registration"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Offline certificate errors, for errors.Is.
var (
	ErrCertificate     = errors.New("offline certificate refused")
	ErrBadSignature    = errors.New("signature does not verify")
	ErrCertExpired     = errors.New("certificate expired")
	ErrUUIDMismatch    = errors.New("hashed_uuid does not match this installation")
	ErrRegCodeMismatch = errors.New("hashed_regcode does not match regCode")
	ErrPublicKey       = errors.New("unusable public key file")
)

// ExpiryWarning is how long before expiry a certificate or subscription is
// warned about.
const ExpiryWarning = 30 * 24 * time.Hour

// OfflineRequest is the document an air-gapped installation hands to SCC:
// connect-ng's offline request (product triplet and system information)
// plus the installation's UUID and server URL.
type OfflineRequest struct {
	registration.OfflineRequest
	UUID      string `json:"uuid"`
	ServerURL string `json:"server_url"`
}

// encodeRequest returns the request as SCC takes it: base64 of its JSON.
func encodeRequest(r *OfflineRequest) ([]byte, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(raw)), nil
}

// DecodeRequest reads what encodeRequest wrote.
func DecodeRequest(b []byte) (*OfflineRequest, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("offline request: base64: %w", err)
	}
	var r OfflineRequest
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("offline request: %w", err)
	}
	return &r, nil
}

// writeRequest writes the offline request Secret when its content changed.
func (e *Exporter) writeRequest(ctx context.Context, request []byte) error {
	c := e.opts.Secrets.Secrets(e.opts.Namespace)
	ref := e.opts.Namespace + "/" + OfflineRequestSecretName
	sec, err := c.Get(ctx, OfflineRequestSecretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		sec = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: OfflineRequestSecretName, Namespace: e.opts.Namespace, Labels: map[string]string{LabelPartOf: PartOf}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{KeyRequest: request},
		}
		if _, err := c.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating secret %s: %w", ref, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading secret %s: %w", ref, err)
	}
	if string(sec.Data[KeyRequest]) == string(request) {
		return nil
	}
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	sec.Data[KeyRequest] = request
	if _, err := c.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating secret %s: %w", ref, err)
	}
	return nil
}

// deleteRequest deletes the offline request Secret; a missing one is no
// error.
func (e *Exporter) deleteRequest(ctx context.Context) error {
	err := e.opts.Secrets.Secrets(e.opts.Namespace).Delete(ctx, OfflineRequestSecretName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting secret %s/%s: %w", e.opts.Namespace, OfflineRequestSecretName, err)
	}
	return nil
}

// Certificate is what a verified offline certificate says.
type Certificate struct {
	Login, Password string
	ExpiresAt       time.Time
	// Product is the subscription's name, else its first product class.
	Product string
}

// VerifyCertificate checks an offline certificate as SCC hands it out
// (base64 of JSON {version, cipher, hash, payload, signature}): the RSA-PSS
// SHA-256 signature (salt length = hash length) over the sha256 of the base64
// payload text, with key, or with SUSE's key built into connect-ng when key
// is nil; expires_at after now; hashed_uuid the hex sha256 of installUUID;
// and, when both are known, hashed_regcode the hex sha256 of regCode. Every
// error wraps ErrCertificate and one of the reasons.
func VerifyCertificate(text string, key *rsa.PublicKey, installUUID, regCode string, now time.Time) (*Certificate, error) {
	cert, err := registration.OfflineCertificateFrom(strings.NewReader(strings.TrimSpace(text)), true)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	// connect-ng's certificate embeds the grant, so grant members beside
	// the payload (login, hashed_uuid, subscription, ...) fill it, and
	// ExtractPayload then returns them instead of decoding the payload the
	// signature covers. Only the signed payload counts.
	cert.OfflinePayload = nil
	if key == nil {
		// connect-ng's own check, with SUSE's embedded key.
		ok, err := cert.IsValid()
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
		case !ok:
			return nil, fmt.Errorf("%w: %w with SUSE's public key", ErrCertificate, ErrBadSignature)
		}
	} else if err := verifySignature(cert, key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	payload, err := cert.ExtractPayload()
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrCertificate, err)
	}
	if !payload.SubscriptionInfo.ExpiresAt.After(now) {
		return nil, fmt.Errorf("%w: %w at %s", ErrCertificate, ErrCertExpired, payload.SubscriptionInfo.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if ok, _ := cert.UUIDMatches(installUUID); !ok {
		return nil, fmt.Errorf("%w: %w (install UUID %s): the certificate was issued for another installation's request", ErrCertificate, ErrUUIDMismatch, installUUID)
	}
	if regCode != "" && payload.HashedRegcode != "" {
		if ok, _ := cert.RegcodeMatches(regCode); !ok {
			return nil, fmt.Errorf("%w: %w in secret %s", ErrCertificate, ErrRegCodeMismatch, EntrySecretName)
		}
	}
	out := &Certificate{Login: payload.Login, Password: payload.Password, ExpiresAt: payload.SubscriptionInfo.ExpiresAt, Product: payload.SubscriptionInfo.Name}
	if out.Product == "" && len(payload.SubscriptionInfo.ProductClasses) > 0 {
		out.Product = payload.SubscriptionInfo.ProductClasses[0].Name
	}
	return out, nil
}

// verifySignature is connect-ng's check (OfflineCertificate.IsValid) with a
// key of the caller's: connect-ng verifies only with SUSE's embedded key.
func verifySignature(cert *registration.OfflineCertificate, key *rsa.PublicKey) error {
	sig, err := cert.Signature()
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	digest := sha256.Sum256([]byte(cert.EncodedPayload))
	opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	if err := rsa.VerifyPSS(key, crypto.SHA256, digest[:], sig, opts); err != nil {
		return fmt.Errorf("%w with the configured public key: %w", ErrBadSignature, err)
	}
	return nil
}

// ReadPublicKey reads a PEM RSA public key (PKIX "PUBLIC KEY" or PKCS#1
// "RSA PUBLIC KEY").
func ReadPublicKey(file string) (*rsa.PublicKey, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%w: %s holds no PEM block", ErrPublicKey, file)
	}
	if block.Type == "RSA PUBLIC KEY" {
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrPublicKey, file, err)
		}
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPublicKey, file, err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds no RSA key", ErrPublicKey, file)
	}
	return rk, nil
}

// hashHex returns the hex sha256 of s.
func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
