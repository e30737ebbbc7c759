package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

const banner = "signsgd: training with one-bit gradients and majority vote under blind and Byzantine workers\n"

// Command is a subcommand: its name, what follows the name in the usage
// line, a one-line summary for `signsgd help`, and Run, which takes the
// arguments after the name and prints its own help for -h or --help. A
// *usage* error (see UsageError) exits 2, any other 1.
type Command struct {
	Name    string
	Args    string // after the name in the usage line: "[flags]", "DIR..."
	Summary string
	Run     func(args []string, stdout, stderr io.Writer) error
}

// helpCommand is `signsgd help`; Main adds it to every table.
var helpCommand = Command{Name: "help", Args: "[command]", Summary: "this text, or a command's flags"}

// ErrUsage marks a bad command line (exit status 2): errors.Is(err,
// ErrUsage) holds for every error UsageError makes.
var ErrUsage = errors.New("usage")

// usageError is a bad flag value: one line naming the flag.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return ErrUsage }

// UsageError marks a bad command line: one line, exit status 2.
func UsageError(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// Main is the program: it returns the process's exit status (0 ok, 1 the
// run failed, 2 bad command line) after writing at most one error line.
// commands is the program's command table, in the order help lists it;
// Main adds help at its end.
func Main(args []string, stdout, stderr io.Writer, commands []Command) (code int) {
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
	table := append(commands[:len(commands):len(commands)], helpCommand)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage(table))
		return 2
	}
	name, rest := args[0], args[1:]
	var err error
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 || rest[0] == "help" {
			fmt.Fprint(stdout, usage(table))
			return 0
		}
		// `signsgd help CMD` is `signsgd CMD --help`.
		name, rest = rest[0], []string{"--help"}
	}
	if cmd, ok := lookup(commands, name); ok {
		err = cmd.Run(rest, stdout, stderr)
	} else {
		err = UsageError("unknown command %q (want %s)", name, commandList(table))
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "signsgd: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "signsgd: %v\n", err)
	return 1
}

func lookup(commands []Command, name string) (Command, bool) {
	for _, c := range commands {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

// commandList is "a, b, c or help".
func commandList(table []Command) string {
	names := make([]string, len(table))
	for i, c := range table {
		names[i] = c.Name
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// usage is the top-level help: one line per command of the table.
func usage(table []Command) string {
	var b strings.Builder
	b.WriteString(banner + "\nusage:\n")
	width := 0
	for _, c := range table {
		width = max(width, len(c.Name)+1+len(c.Args))
	}
	for _, c := range table {
		fmt.Fprintf(&b, "  signsgd %-*s  %s\n", width, strings.TrimSpace(c.Name+" "+c.Args), c.Summary)
	}
	b.WriteString("\nRun 'signsgd help COMMAND' (or 'signsgd COMMAND --help') for a command's flags.\n")
	return b.String()
}

// PrintFlags prints fs's flags under the headings of groups, in order
// (groups[name] is a flag's heading); a flag without one goes last, under
// "other".
func PrintFlags(w io.Writer, fs *flag.FlagSet, order []string, groups map[string]string) {
	fmt.Fprintf(w, "usage: signsgd %s [flags]\n", fs.Name())
	for _, g := range append(order, "other") {
		first := true
		fs.VisitAll(func(f *flag.Flag) {
			fg, ok := groups[f.Name]
			if fg != g && (g != "other" || ok) {
				return
			}
			if first {
				fmt.Fprintf(w, "\n%s:\n", g)
				first = false
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "  --%-18s %s%s\n", f.Name, strings.ReplaceAll(f.Usage, "\n", " "), def)
		})
	}
}

// ParseFlags parses a subcommand's flags, fs named for it. With -h or
// --help it prints usage (default "usage: signsgd NAME [flags]") and the
// flags to stdout and returns false and no error: the command is done. A
// bad flag or a stray argument is a usage error naming the command.
func ParseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, usage string) (ok bool, err error) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if usage == "" {
				usage = "usage: signsgd " + fs.Name() + " [flags]"
			}
			fmt.Fprintln(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return false, nil
		}
		return false, UsageError("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return false, UsageError("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return true, nil
}
