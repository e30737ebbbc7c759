// Package cli is the command-line plumbing every signsgd subcommand shares:
// the command table and Main, which runs one command and turns its error
// into the exit status (0 ok, 1 the run failed, 2 bad command line, see
// UsageError); PrintFlags, a command's --help with its flags under
// headings; and WriteFileAtomic, which writes an output file whole or not
// at all. It imports nothing of signsgd's, so the benchmarks use it without
// importing the training package.
package cli
