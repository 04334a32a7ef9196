// k6, the load generator of Lab B, built from its Go module at the version go.mod pins
// (go.k6.io/k6 v1.8.1; recent k6 needs Go >= 1.25) and installed on the generator by provisioning.
package main

import "go.k6.io/k6/cmd"

func main() { cmd.Execute() }
