package bench

import _ "embed"

// GlooAllreduce is gloo_allreduce.py, embedded so that `signsgd bench comm`
// runs the same script from any folder.
//
//go:embed gloo_allreduce.py
var GlooAllreduce []byte
