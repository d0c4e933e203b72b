package update

import (
	"crypto"
	"testing"

	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/signature"
)

// TestSigstoreRegistryOnReplacedSpecs: sigstore's algorithm registry works
// on the plain enums go.mod puts in place of its protobuf-specs
// (replaced/protobuf-specs): flags, hashes and names as the specification
// numbers them.
func TestSigstoreRegistryOnReplacedSpecs(t *testing.T) {
	tests := []struct {
		flag string
		want v1.PublicKeyDetails
		num  int32
		hash crypto.Hash
		name string
	}{
		{"ed25519", v1.PublicKeyDetails_PKIX_ED25519, 7, crypto.Hash(0), "PKIX_ED25519"},
		{"ecdsa-sha2-256-nistp256", v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, 5, crypto.SHA256, "PKIX_ECDSA_P256_SHA_256"},
		{"rsa-sign-pss-4096-sha256", v1.PublicKeyDetails_PKIX_RSA_PSS_4096_SHA256, 18, crypto.SHA256, "PKIX_RSA_PSS_4096_SHA256"},
		{"ecdsa-sha2-512-nistp521", v1.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, 13, crypto.SHA512, "PKIX_ECDSA_P521_SHA_512"},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			got, err := signature.ParseSignatureAlgorithmFlag(tt.flag)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || int32(got) != tt.num || got.String() != tt.name {
				t.Fatalf("flag %s: %d (%s), want %d (%s)", tt.flag, got, got, tt.num, tt.name)
			}
			d, err := signature.GetAlgorithmDetails(got)
			if err != nil {
				t.Fatal(err)
			}
			if d.GetHashType() != tt.hash {
				t.Fatalf("flag %s: hash %v, want %v", tt.flag, d.GetHashType(), tt.hash)
			}
			if f, err := signature.FormatSignatureAlgorithmFlag(got); err != nil || f != tt.flag {
				t.Fatalf("format %s: %q, %v", got, f, err)
			}
		})
	}
	if _, err := signature.ParseSignatureAlgorithmFlag("no-such-algorithm"); err == nil {
		t.Fatal("an unknown algorithm parsed")
	}
}
