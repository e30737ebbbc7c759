package job

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

const usage = `signsgd: training with one-bit gradients and majority vote under blind and Byzantine workers

usage:
  signsgd run [flags]      train (launches all ranks on loopback, or runs one rank with --rank)
  signsgd figures [flags]  the paper's experiments and figures (--spec FILE, --quick)
  signsgd theory [flags]   Monte Carlo check of the paper's bounds
  signsgd robustness       every method against every attack: accuracy grid, worst case (--quick)
  signsgd plot DIR...      one figure of run folders, one line per run (--out FILE.png|.svg)
  signsgd compare DIR...   one table of run folders: status, accuracy, time, bytes (--csv)
  signsgd help [command]   this text, or a command's flags

Run 'signsgd help run' for the flags of run; 'signsgd figures -h' and 'signsgd theory -h' for theirs.
`

// Command is a subcommand: its arguments after the name, and where to
// write. A *usage* error (see UsageError) exits 2, any other 1.
type Command func(args []string, stdout, stderr io.Writer) error

// UsageError marks a bad command line: one line, exit status 2.
func UsageError(format string, args ...any) error { return badFlag(format, args...) }

// Main is the program: it returns the process's exit status (0 ok, 1 the
// run failed, 2 bad command line) after writing at most one error line.
func Main(args []string, stdout, stderr io.Writer, commands map[string]Command) (code int) {
	// A bug must still end as one line and a non-zero status, not a trace
	// (SIGNSGD_TRACE=1 shows it).
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "signsgd: internal error: %v\n", r)
			if os.Getenv("SIGNSGD_TRACE") != "" {
				stderr.Write(debug.Stack())
			}
			code = 1
		}
	}()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = Run(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] == "run" {
			printRunHelp(stdout)
		} else {
			fmt.Fprint(stdout, usage)
		}
		return 0
	default:
		if cmd, ok := commands[args[0]]; ok {
			err = cmd(args[1:], stdout, stderr)
		} else {
			err = badFlag("unknown command %q (want run, figures, theory or help)", args[0])
		}
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		printRunHelp(stdout)
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "signsgd: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "signsgd: %v\n", err)
	return 1
}

func printFlags(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: signsgd %s [flags]\n\nflags:\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%-16s %s%s\n", f.Name, strings.ReplaceAll(f.Usage, "\n", " "), def)
	})
}

// printRunHelp is `signsgd run --help`: the flags, then every method the
// flags name, from the registries.
func printRunHelp(w io.Writer) {
	printFlags(w, runFlags(&Config{}))
	fmt.Fprintf(w, "\n%s", methodsReference())
}
