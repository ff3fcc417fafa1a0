package authn

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DevKeyFile is the name, under DATA_DIR, of the signing key that
// [LoadOrCreateDevKey] keeps for development.
const DevKeyFile = "auth_signing_key"

// Keys is a set of Ed25519 keys for access tokens: one that signs and any
// number that only verify, so that tokens signed by a retiring key stay valid
// until they expire. A Keys is immutable and safe for concurrent use.
type Keys struct {
	signer    ed25519.PrivateKey
	signerKID string
	verifiers map[string]ed25519.PublicKey // by kid; includes the signer's
	kids      []string                     // in spec order
}

// ParseKeys parses AUTH_SIGNING_KEY: a comma-separated list of 32-byte Ed25519
// seeds, each in base64 (standard or URL alphabet, padded or not; surrounding
// spaces are ignored). The first key signs new tokens; the others only verify.
//
// It returns an error if spec is empty, or if any entry is empty, not base64,
// not 32 bytes, or a duplicate. Errors identify an entry by its position and
// never include key material, so they are safe to log.
func ParseKeys(spec string) (*Keys, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("no signing key given")
	}
	k := &Keys{verifiers: make(map[string]ed25519.PublicKey)}
	for i, entry := range strings.Split(spec, ",") {
		n := i + 1
		seed, err := decodeSeed(strings.TrimSpace(entry))
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", n, err)
		}
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		kid := keyID(pub)
		if _, dup := k.verifiers[kid]; dup {
			return nil, fmt.Errorf("key %d: duplicates an earlier key", n)
		}
		k.verifiers[kid] = pub
		k.kids = append(k.kids, kid)
		if i == 0 {
			k.signer, k.signerKID = priv, kid
		}
	}
	return k, nil
}

func decodeSeed(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	// Padding carries no information here, so dropping it lets one raw
	// decoder per alphabet accept both forms.
	raw := strings.TrimRight(s, "=")
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(raw)
	}
	if err != nil {
		// The decoder's own error quotes a position, not the text, but saying
		// less keeps every message free of anything derived from the secret.
		return nil, errors.New("not valid base64")
	}
	if len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("decodes to %d bytes, want a %d-byte Ed25519 seed", len(b), ed25519.SeedSize)
	}
	return b, nil
}

// keyID derives a key's kid from its public key alone, so every instance
// given the same seed computes the same kid, across restarts, with nothing
// else to configure.
func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// KeyIDs returns the kid of every key in the set, the signing key first, for
// logging which keys an instance runs with. Key IDs are not secret.
func (k *Keys) KeyIDs() []string {
	return append([]string(nil), k.kids...)
}

// GenerateSeed returns a new random Ed25519 seed as standard padded base64,
// the same form `openssl rand -base64 32` prints, ready for AUTH_SIGNING_KEY.
func GenerateSeed() (string, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return "", fmt.Errorf("generate signing key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(seed), nil
}

// LoadOrCreateDevKey returns the signing-key spec kept in dataDir/[DevKeyFile],
// creating the file (mode 0600) with a new key if it does not exist; created
// reports whether it did. It is for development only, where a key that
// survives restarts keeps everyone logged in; in production the key comes from
// AUTH_SIGNING_KEY and the application must not call this.
//
// Processes sharing dataDir may call it at the same time: exactly one creates
// the key and all return it. It returns an error if the existing file does not
// hold a valid spec (see [ParseKeys]) or cannot be read or written.
func LoadOrCreateDevKey(dataDir string) (spec string, created bool, err error) {
	path := filepath.Join(dataDir, DevKeyFile)
	spec, err = readDevKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return spec, false, err
	}

	seed, err := GenerateSeed()
	if err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("create dev signing key: %w", err)
	}
	// Write the whole key under a temporary name and then link it into place:
	// the link either appears complete or fails because another process won
	// the race, so no reader ever sees a half-written key.
	tmp, err := os.CreateTemp(dataDir, DevKeyFile+".tmp-*") // created 0600
	if err != nil {
		return "", false, fmt.Errorf("create dev signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(seed + "\n")
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return "", false, fmt.Errorf("create dev signing key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			spec, err = readDevKey(path)
			return spec, false, err
		}
		return "", false, fmt.Errorf("create dev signing key: %w", err)
	}
	return seed, true, nil
}

func readDevKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read dev signing key: %w", err)
	}
	spec := strings.TrimSpace(string(b))
	if _, err := ParseKeys(spec); err != nil {
		return "", fmt.Errorf("dev signing key %s: %w", path, err)
	}
	return spec, nil
}
