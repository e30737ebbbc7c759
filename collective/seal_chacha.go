package collective

import (
	"crypto/cipher"

	"golang.org/x/crypto/chacha20poly1305"
)

// newChaCha is the AEAD of sealed links where the CPU has no AES
// instructions: ChaCha20-Poly1305 (RFC 8439), the same 12-byte nonce and
// 16-byte tag as AES-GCM.
func newChaCha(key []byte) (cipher.AEAD, error) { return chacha20poly1305.New(key) }
