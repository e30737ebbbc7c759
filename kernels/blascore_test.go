package kernels

import "testing"

func TestBLASCoreFor(t *testing.T) {
	for _, c := range []struct {
		detected        string
		avx512, avx2fma bool
		want            string
	}{
		{"Prescott", true, true, "SkylakeX"},
		{"Prescott", false, true, "Haswell"},
		{"Prescott", false, false, ""},
		{"SkylakeX", true, true, ""},
		{"Haswell", true, true, ""},
		{"Zen", true, true, ""},
		{"go", true, true, ""},
	} {
		if got := BLASCoreFor(c.detected, c.avx512, c.avx2fma); got != c.want {
			t.Errorf("BLASCoreFor(%q, avx512 %v, avx2+fma %v) = %q, want %q", c.detected, c.avx512, c.avx2fma, got, c.want)
		}
	}
}
