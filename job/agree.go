package job

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"signsgd/collective"
)

// A setting is one value every rank of a job must share, named by its flag.
type setting struct {
	Name  string `json:"name"`
	Value string `json:"value"` // JSON
}

// unsharedSettings are the experiment's fields that may differ between
// ranks: where each writes and how long it waits for a peer.
var unsharedSettings = map[string]bool{"out": true, "timeout": true}

// jobSettings lists, in a fixed order, everything that must agree across
// the ranks of a job: every field of the experiment (Config's JSON: the
// optimizer, rates, momentum, seed, epochs, batch, adversaries and attack,
// topology, aggregator, data and partition, model, deadlines, checkpoints)
// but --out and --timeout, then --resume and the program itself (Go
// version, architecture and source revision: ranks must compute alike).
func jobSettings(cfg *Config) []setting {
	var out []setting
	v := reflect.ValueOf(cfg).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || unsharedSettings[name] {
			continue
		}
		b, err := json.Marshal(v.Field(i).Interface())
		if err != nil {
			b = []byte(fmt.Sprintf("%q", fmt.Sprint(v.Field(i).Interface())))
		}
		out = append(out, setting{strings.ReplaceAll(name, "_", "-"), string(b)})
	}
	resume, _ := json.Marshal(cfg.Resume)
	program, _ := json.Marshal(programID())
	return append(out, setting{"resume", string(resume)}, setting{"program", string(program)})
}

// programID names the build of this program: Go version, OS and
// architecture, and the source revision when the build recorded one.
func programID() string {
	id := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				id += " " + s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				id += "+modified"
			}
		}
	}
	return id
}

// settingsMessage is what a rank sends rank 0 at the start: the SHA-256 of
// its settings' canonical JSON, then that JSON (for naming what differs).
func settingsMessage(s []setting) []byte {
	js, _ := json.Marshal(s)
	sum := sha256.Sum256(js)
	return append(sum[:], js...)
}

// firstDifference names the first setting in which theirs (rank r's)
// differs from ours (rank 0's).
func firstDifference(r int, ours []setting, msg []byte) string {
	if len(msg) < sha256.Size {
		return fmt.Sprintf("rank %d sent no configuration", r)
	}
	var theirs []setting
	if err := json.Unmarshal(msg[sha256.Size:], &theirs); err != nil {
		return fmt.Sprintf("rank %d sent an unreadable configuration: %v", r, err)
	}
	byName := map[string]string{}
	for _, s := range theirs {
		byName[s.Name] = s.Value
	}
	show := func(v string, ok bool) string {
		if !ok {
			return "unset"
		}
		var s string
		if json.Unmarshal([]byte(v), &s) == nil {
			if s == "" {
				return `""`
			}
			return s
		}
		return v
	}
	for _, s := range ours {
		v, ok := byName[s.Name]
		if !ok || v != s.Value {
			return fmt.Sprintf("rank %d runs another configuration than rank 0: --%s is %s there, %s on rank 0", r, s.Name, show(v, ok), show(s.Value, true))
		}
	}
	return fmt.Sprintf("rank %d runs another configuration than rank 0 (a setting this build does not know)", r)
}

// The verdict rank 0 broadcasts at the start: a kind byte, then the new
// run's identity (ok) or the reason (refused).
const (
	verdictOK      = 'o'
	verdictUsage   = 'u' // refused: the command line (exit status 2)
	verdictFailure = 'f' // refused: the run cannot start (exit status 1)
)

// agree is the first exchange of a job, right after the rendezvous and
// before anything touches --out: every rank sends rank 0 its settings
// (settingsMessage); rank 0 compares them with its own, takes the lock on
// --out, and tells every rank whether the job starts, naming the first
// setting in which a rank differs, or the run that holds --out. Every rank
// fails alike when it does not. On success it returns the identity rank 0
// made for this start (newRunID).
func (r *run) agree() (string, error) {
	mine := jobSettings(r.cfg)
	all, err := collective.Gather(r.c, 0, settingsMessage(mine))
	if err != nil {
		return "", fmt.Errorf("comparing the ranks' configurations: %w", err)
	}
	var verdict []byte
	if r.rank == 0 {
		verdict = append([]byte{verdictOK}, newRunID()...)
		ours := settingsMessage(mine)
		for k, msg := range all {
			if !bytes.Equal(msg[:min(len(msg), sha256.Size)], ours[:sha256.Size]) {
				verdict = append([]byte{verdictUsage}, firstDifference(k, mine, msg)...)
				break
			}
		}
		if verdict[0] == verdictOK {
			if r.lock, err = lockOut(r.cfg.Out); err != nil {
				kind := byte(verdictFailure)
				if errors.Is(err, errUsage) {
					kind = verdictUsage
				}
				verdict = append([]byte{kind}, err.Error()...)
			}
		}
	}
	verdict, err = collective.Broadcast(r.c, 0, verdict)
	if err != nil {
		return "", fmt.Errorf("comparing the ranks' configurations: %w", err)
	}
	if len(verdict) == 0 {
		return "", errors.New("rank 0 sent an empty verdict on the configurations")
	}
	msg := string(verdict[1:])
	switch verdict[0] {
	case verdictOK:
		return msg, nil
	case verdictUsage:
		return "", &usageError{msg}
	}
	return "", errors.New(msg)
}

// newRunID is a fresh identity for a run or a start: the time in
// nanoseconds (16 hex digits, so identities sort by when they were made)
// and 8 random hex digits.
func newRunID() string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:8]) + "-" + hex.EncodeToString(b[8:])
}

// close ends what the run holds open: the metrics file and the lock.
func (r *run) close() {
	if r.mw != nil {
		r.mw.close()
		r.mw = nil
	}
	r.lock.release()
	r.lock = nil
}
