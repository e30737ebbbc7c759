// Package mpicompat lets code written for github.com/btracey/mpi run on
// signsgd's communicators: Comm satisfies mpi.Interface on top of a
// collective.Comm, so `mpi.Register(mpicompat.New(c))` routes mpi.Send and
// mpi.Receive over our TCP (or in-memory) transport instead of btracey/mpi's
// own network, which has no collectives, panics on an unexpected tag and
// races in Finalize.
//
// Messages are gob-encoded as btracey/mpi does (mpi.Raw passes bytes
// through), and carried as frames tagged collective.TagUser + tag, so they
// never mix with signsgd's own traffic. Finalize runs a barrier before it
// closes, so no rank tears a connection down while a peer still reads.
package mpicompat
