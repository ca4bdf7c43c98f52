//go:build tools

// Package tools pins the helm command so that `go mod tidy` keeps it.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
