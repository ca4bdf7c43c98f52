//go:build tools

// Package tools pins kro's controller for `go build` (see build-kro.sh).
package tools

import _ "github.com/kubernetes-sigs/kro/cmd/controller"
