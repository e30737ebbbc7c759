package kernels

import "fmt"

// Layout is how a batch of images (planes of H x W pixels) lies in a flat
// buffer.
type Layout uint8

const (
	// NCHW is image-major, (B, C, H, W): image n's channel c is plane
	// n*C + c (PyTorch's default).
	NCHW Layout = iota
	// CNHW is channel-major, (C, B, H, W): image n's channel c is plane
	// c*B + n, so one channel of the whole batch is contiguous. A
	// convolution over it is one SGEMM for the whole batch, and batch norm
	// sees each channel as one run.
	CNHW
)

// String returns "NCHW" or "CNHW".
func (l Layout) String() string {
	if l == CNHW {
		return "CNHW"
	}
	return "NCHW"
}

// TransposeBlocks writes src (rows, cols, block) into dst as (cols, rows,
// block): dst[(j*rows + i)*block + k] = src[(i*cols + j)*block + k]. It
// converts a batch between the layouts, NCHW (B, C, HW) to CNHW (C, B, HW)
// with rows = B, cols = C, block = H*W, and back with rows and cols
// swapped. dst must not overlap src.
func TransposeBlocks(dst, src []float32, rows, cols, block int) {
	n := rows * cols * block
	if rows < 0 || cols < 0 || block < 0 || len(src) != n || len(dst) != n {
		panic(fmt.Sprintf("kernels: TransposeBlocks: lengths dst %d, src %d for rows %d, cols %d, block %d", len(dst), len(src), rows, cols, block))
	}
	if block == 1 {
		for i := 0; i < rows; i++ {
			row := src[i*cols : (i+1)*cols]
			for j, v := range row {
				dst[j*rows+i] = v
			}
		}
		return
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			copy(dst[(j*rows+i)*block:(j*rows+i+1)*block], src[(i*cols+j)*block:(i*cols+j+1)*block])
		}
	}
}
