package job

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
)

// ModelChecksum is the SHA-256 of the parameters as little-endian float32s.
func ModelChecksum(params []float32) string {
	h := sha256.New()
	var buf [4096]byte
	for len(params) > 0 {
		n := min(len(params), len(buf)/4)
		for i, v := range params[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		h.Write(buf[:4*n])
		params = params[n:]
	}
	return hex.EncodeToString(h.Sum(nil))
}
