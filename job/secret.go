package job

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"signsgd/collective"
	"signsgd/data"
)

// SecretEnv names the environment variable that carries a job's secret to
// its ranks: the local launcher and the sbatch script set it to fresh
// random bytes for every job.
const SecretEnv = "SIGNSGD_SECRET"

// KeyFileEnv names the environment variable that overrides the user key
// file (default ~/.config/signsgd/key).
const KeyFileEnv = "SIGNSGD_KEY_FILE"

// newSecret returns a fresh random secret, hex-encoded.
func newSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// jobSecret finds the secret every rank of the job must prove it knows, in
// this order: $SIGNSGD_SECRET; the file --secret-file (readable by its
// owner only); else, under Slurm or mpirun, one derived from the job id
// and the user's key file, HMAC-SHA256(key, job id), creating the key
// (mode 0600) on first use: ranks of one job on machines sharing the home
// folder derive the same secret, and nobody without the key can.
func jobSecret(cfg *Config, getenv func(string) string) ([]byte, error) {
	if s := getenv(SecretEnv); s != "" {
		if len(s) < collective.MinSecret {
			return nil, fmt.Errorf("$%s has %d bytes, want at least %d", SecretEnv, len(s), collective.MinSecret)
		}
		return []byte(s), nil
	}
	if cfg.SecretFile != "" {
		return readSecretFile(cfg.SecretFile, "--secret-file")
	}
	key, err := userKey(getenv)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("signsgd job " + cfg.JobID))
	return m.Sum(nil), nil
}

// readSecretFile reads a secret from a regular file that only its owner
// may read. Its errors are usage errors: the file named is not usable as
// it is.
func readSecretFile(path, what string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, badFlag("%s %s: %v", what, path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, badFlag("%s %s: %v", what, path, data.NotRegular(st.Mode()))
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, badFlag("%s %s: mode %04o lets others read it; run chmod 600 %s", what, path, st.Mode().Perm(), path)
	}
	b, err := readRegularFile(path, 1<<20)
	if err != nil {
		return nil, badFlag("%s %s: %v", what, path, err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < collective.MinSecret {
		return nil, badFlag("%s %s: %d bytes of secret, want at least %d", what, path, len(s), collective.MinSecret)
	}
	return []byte(s), nil
}

// userKey reads the user's key file, creating it with a random key if it
// does not exist. Creation is atomic (a private temporary file linked into
// place), so ranks starting together on one machine end with one key.
func userKey(getenv func(string) string) ([]byte, error) {
	path := getenv(KeyFileEnv)
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("no $%s, no --secret-file and no home folder for a key file: %w", SecretEnv, err)
		}
		path = filepath.Join(home, ".config", "signsgd", "key")
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
		f, err := os.CreateTemp(filepath.Dir(path), ".key-*")
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
		_, werr := f.WriteString(newSecret() + "\n")
		serr := f.Sync()
		f.Close()
		if werr == nil && serr == nil {
			// Link fails if another rank created the key first: then
			// theirs is the one.
			os.Link(f.Name(), path)
		}
		os.Remove(f.Name())
	}
	return readSecretFile(path, "key file")
}
