// Package v1 stands in for sigstore's protobuf-specs common/v1 in Ward's
// build (go.mod replaces the module with this directory): the two enums
// sigstore's pkg/signature names in its algorithm registry, as plain
// integers with the specification's numbers and names, without the
// protobuf runtime. go-tuf's metadata package imports pkg/signature for its
// verifiers, and through the generated protobuf code came the protobuf
// runtime, whose reflection (reflect.Value.MethodByName with a name not
// known at link time) made the linker keep every exported method of every
// type in the device agent: 5.4 MB of the arm64 agent's 17.8. No
// verification reads these values (go-tuf's signature checks load their
// verifiers by key type); see ARCHITECTURE.md, "A device agent build".
package v1

import "strconv"

// HashAlgorithm names a hash function (sigstore's common.v1.HashAlgorithm).
type HashAlgorithm int32

// The hash algorithms sigstore's pkg/signature names.
const (
	HashAlgorithm_HASH_ALGORITHM_UNSPECIFIED HashAlgorithm = 0
	HashAlgorithm_SHA2_256                   HashAlgorithm = 1
	HashAlgorithm_SHA2_384                   HashAlgorithm = 2
	HashAlgorithm_SHA2_512                   HashAlgorithm = 3
	HashAlgorithm_SHA3_256                   HashAlgorithm = 4
	HashAlgorithm_SHA3_384                   HashAlgorithm = 5
)

var hashNames = map[HashAlgorithm]string{
	HashAlgorithm_HASH_ALGORITHM_UNSPECIFIED: "HASH_ALGORITHM_UNSPECIFIED",
	HashAlgorithm_SHA2_256:                   "SHA2_256",
	HashAlgorithm_SHA2_384:                   "SHA2_384",
	HashAlgorithm_SHA2_512:                   "SHA2_512",
	HashAlgorithm_SHA3_256:                   "SHA3_256",
	HashAlgorithm_SHA3_384:                   "SHA3_384",
}

// String returns the specification's name of h, or its number.
func (h HashAlgorithm) String() string {
	if n, ok := hashNames[h]; ok {
		return n
	}
	return strconv.Itoa(int(h))
}

// PublicKeyDetails names a key type and signature scheme (sigstore's
// common.v1.PublicKeyDetails).
type PublicKeyDetails int32

// The key details sigstore's pkg/signature names.
const (
	PublicKeyDetails_PUBLIC_KEY_DETAILS_UNSPECIFIED PublicKeyDetails = 0
	PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256  PublicKeyDetails = 9
	PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256  PublicKeyDetails = 10
	PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256  PublicKeyDetails = 11
	PublicKeyDetails_PKIX_RSA_PSS_2048_SHA256       PublicKeyDetails = 16
	PublicKeyDetails_PKIX_RSA_PSS_3072_SHA256       PublicKeyDetails = 17
	PublicKeyDetails_PKIX_RSA_PSS_4096_SHA256       PublicKeyDetails = 18
	PublicKeyDetails_PKIX_ECDSA_P256_SHA_256        PublicKeyDetails = 5
	PublicKeyDetails_PKIX_ECDSA_P384_SHA_384        PublicKeyDetails = 12
	PublicKeyDetails_PKIX_ECDSA_P521_SHA_512        PublicKeyDetails = 13
	PublicKeyDetails_PKIX_ED25519                   PublicKeyDetails = 7
	PublicKeyDetails_PKIX_ED25519_PH                PublicKeyDetails = 8
	PublicKeyDetails_PKIX_ECDSA_P384_SHA_256        PublicKeyDetails = 19
	PublicKeyDetails_PKIX_ECDSA_P521_SHA_256        PublicKeyDetails = 20
)

var keyNames = map[PublicKeyDetails]string{
	PublicKeyDetails_PUBLIC_KEY_DETAILS_UNSPECIFIED: "PUBLIC_KEY_DETAILS_UNSPECIFIED",
	PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256:  "PKIX_RSA_PKCS1V15_2048_SHA256",
	PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256:  "PKIX_RSA_PKCS1V15_3072_SHA256",
	PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256:  "PKIX_RSA_PKCS1V15_4096_SHA256",
	PublicKeyDetails_PKIX_RSA_PSS_2048_SHA256:       "PKIX_RSA_PSS_2048_SHA256",
	PublicKeyDetails_PKIX_RSA_PSS_3072_SHA256:       "PKIX_RSA_PSS_3072_SHA256",
	PublicKeyDetails_PKIX_RSA_PSS_4096_SHA256:       "PKIX_RSA_PSS_4096_SHA256",
	PublicKeyDetails_PKIX_ECDSA_P256_SHA_256:        "PKIX_ECDSA_P256_SHA_256",
	PublicKeyDetails_PKIX_ECDSA_P384_SHA_384:        "PKIX_ECDSA_P384_SHA_384",
	PublicKeyDetails_PKIX_ECDSA_P521_SHA_512:        "PKIX_ECDSA_P521_SHA_512",
	PublicKeyDetails_PKIX_ED25519:                   "PKIX_ED25519",
	PublicKeyDetails_PKIX_ED25519_PH:                "PKIX_ED25519_PH",
	PublicKeyDetails_PKIX_ECDSA_P384_SHA_256:        "PKIX_ECDSA_P384_SHA_256",
	PublicKeyDetails_PKIX_ECDSA_P521_SHA_256:        "PKIX_ECDSA_P521_SHA_256",
}

// String returns the specification's name of p, or its number.
func (p PublicKeyDetails) String() string {
	if n, ok := keyNames[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}
