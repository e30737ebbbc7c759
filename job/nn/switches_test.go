package nn

// The package's test switch: setFuseJoins sets whether Residual fuses its
// join and returns the function that puts back the value it replaced
// (defer setFuseJoins(false)()), so no test leaves it changed for the next.
func setFuseJoins(on bool) (restore func()) {
	old := fuseJoins
	fuseJoins = on
	return func() { fuseJoins = old }
}
