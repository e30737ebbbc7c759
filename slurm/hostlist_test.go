package slurm

import (
	"slices"
	"strings"
	"testing"
)

var hostlistCases = []struct {
	in      string
	want    []string
	wantErr string // substring of the error; "" for success
}{
	{in: "", want: nil},
	{in: "localhost", want: []string{"localhost"}},
	{in: "node[01-04,07]", want: []string{"node01", "node02", "node03", "node04", "node07"}},
	{in: "n[08-11]", want: []string{"n08", "n09", "n10", "n11"}},
	{in: "n[8-11]", want: []string{"n8", "n9", "n10", "n11"}},
	{in: "n[098-101]", want: []string{"n098", "n099", "n100", "n101"}},
	{in: "n[0-2]", want: []string{"n0", "n1", "n2"}},
	{in: "n[007]", want: []string{"n007"}},
	{in: "a-[1-2]-b[3,5]", want: []string{"a-1-b3", "a-1-b5", "a-2-b3", "a-2-b5"}},
	{in: "node[1-2],gpu[3],login", want: []string{"node1", "node2", "gpu3", "login"}},
	{in: "[1-2]x", want: []string{"1x", "2x"}},
	{in: "n[1-2][1-2]", want: []string{"n11", "n12", "n21", "n22"}},
	{in: "a,b,a", want: []string{"a", "b", "a"}},
	{in: "rack1-n[5,1-2]", want: []string{"rack1-n5", "rack1-n1", "rack1-n2"}},

	{in: "node[1-4", wantErr: "byte 4: unbalanced '['"},
	{in: "node1-4]", wantErr: "byte 7: ']' without a matching '['"},
	{in: "node[]", wantErr: "byte 4: empty brackets"},
	{in: "node[5-3]", wantErr: "byte 5: reversed range \"5-3\""},
	{in: "node[a-3]", wantErr: "byte 5: non-numeric range bound \"a\""},
	{in: "node[1-b]", wantErr: "byte 7: non-numeric range bound \"b\""},
	{in: "node[1-2-3]", wantErr: "byte 8: non-numeric range bound \"2-3\""},
	{in: "node[-3]", wantErr: "byte 5: missing range bound"},
	{in: "node[3-]", wantErr: "byte 7: missing range bound"},
	{in: "node[1,,2]", wantErr: "byte 7: empty range"},
	{in: "node[1,]", wantErr: "byte 7: empty range"},
	{in: "node[1[2]]", wantErr: "byte 6: nested '['"},
	{in: "a,,b", wantErr: "byte 2: empty entry"},
	{in: ",a", wantErr: "byte 0: empty entry"},
	{in: "a,", wantErr: "byte 2: empty entry"},
	{in: "a b", wantErr: "byte 1: invalid character ' '"},
	{in: "n[0-1048576]", wantErr: "more than 1048576 hosts"},
	{in: "n[0-1023][0-1024]", wantErr: "more than 1048576 hosts"},
	{in: "n[0-99999999999999999999]", wantErr: "too large"},
	{in: "n[0-18446744073709551615]", wantErr: "more than 1048576 hosts"},
	{in: strings.Repeat("x", 100) + "[0-999999]", wantErr: "bytes of host names"},
}

func TestExpandHostlist(t *testing.T) {
	for _, c := range hostlistCases {
		got, err := ExpandHostlist(c.in)
		if c.wantErr != "" {
			if err == nil {
				t.Errorf("ExpandHostlist(%q) = %q, want error containing %q", c.in, got, c.wantErr)
				continue
			}
			if !strings.Contains(err.Error(), c.wantErr) || !strings.HasPrefix(err.Error(), "slurm: hostlist \"") || strings.Contains(err.Error(), "\n") {
				t.Errorf("ExpandHostlist(%q) error %q, want one line naming the input and containing %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ExpandHostlist(%q) error: %v", c.in, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("ExpandHostlist(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestExpandHostlistCap checks that the largest allowed expansion works and
// that the cap counts hosts across entries.
func TestExpandHostlistCap(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million host names")
	}
	got, err := ExpandHostlist("n[0-1048575]")
	if err != nil || len(got) != MaxHosts || got[MaxHosts-1] != "n1048575" {
		t.Fatalf("ExpandHostlist(n[0-1048575]): %d hosts, err %v", len(got), err)
	}
	if _, err := ExpandHostlist("n[0-1048575],x"); err == nil || !strings.Contains(err.Error(), "byte 13: expands to more than") {
		t.Fatalf("ExpandHostlist(n[0-1048575],x): err %v, want cap error at byte 13", err)
	}
}

func FuzzExpandHostlist(f *testing.F) {
	for _, c := range hostlistCases {
		if len(c.in) <= 256 {
			f.Add(c.in)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 256 {
			t.Skip()
		}
		// Small limits keep each run fast; the cap logic is the same.
		hosts, err := expandHostlist(s, hostlistLimits{hosts: 1 << 12, bytes: 1 << 16})
		if err != nil {
			if hosts != nil {
				t.Fatalf("ExpandHostlist(%q) returned hosts with error %v", s, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("ExpandHostlist(%q) error spans lines: %q", s, err)
			}
			return
		}
		for _, h := range hosts {
			if h == "" || strings.ContainsAny(h, "[],") {
				t.Fatalf("ExpandHostlist(%q) produced bad host %q", s, h)
			}
		}
		if full, err := ExpandHostlist(s); err != nil || !slices.Equal(full, hosts) {
			t.Fatalf("ExpandHostlist(%q) = %q, %v; with small limits %q", s, full, err, hosts)
		}
		if s != "" && !strings.ContainsAny(s, "[]") && !slices.Equal(hosts, strings.Split(s, ",")) {
			t.Fatalf("ExpandHostlist(%q) = %q, want the comma-separated names", s, hosts)
		}
	})
}
