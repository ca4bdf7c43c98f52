// Command kstatus-check computes the kstatus status of one object with the real library
// (sigs.k8s.io/cli-utils/pkg/kstatus/status, what Flux's health checks, kpt and cli-utils' own
// apply waiters use) and prints it as one line of JSON:
//
//	{"status":"Current|InProgress|Failed|Terminating|NotFound|Unknown","message":"..."}
//
// The object comes from the API server:
//
//	kstatus-check --kubeconfig FILE [--context NAME] --group khaibao.dev --version v1alpha1 \
//	    --resource tenants [-n NAMESPACE] NAME
//
// or from a file (JSON or YAML; `-` reads stdin) for offline checks:
//
//	kstatus-check --file tenant.json
//
// Exit 0 when a status was printed (Failed and NotFound included), 1 when the object could not
// be read or computed (connection, authentication, a malformed object), 2 on usage errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

type options struct {
	kubeconfig, context, group, version, resource, namespace, file string
	timeout                                                        time.Duration
	name                                                           string
}

func main() {
	v, err := run(os.Args[1:], os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus-check: %v\n", err)
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(os.Stderr, "usage: kstatus-check --kubeconfig FILE [--context NAME] --group G --version V --resource R [-n NAMESPACE] NAME")
			fmt.Fprintln(os.Stderr, "       kstatus-check --file PATH|-")
			os.Exit(2)
		}
		os.Exit(1)
	}
	out, _ := json.Marshal(v)
	fmt.Println(string(out))
}

func parse(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("kstatus-check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file")
	fs.StringVar(&o.context, "context", "", "kubeconfig context (default: its current context)")
	fs.StringVar(&o.group, "group", "", "API group, e.g. khaibao.dev")
	fs.StringVar(&o.version, "version", "", "API version, e.g. v1alpha1")
	fs.StringVar(&o.resource, "resource", "", "resource (plural), e.g. tenants")
	fs.StringVar(&o.namespace, "n", "", "namespace (namespaced resources; default: the context's)")
	fs.StringVar(&o.namespace, "namespace", "", "same as -n")
	fs.StringVar(&o.file, "file", "", "read the object from this file (JSON or YAML, - for stdin) instead of the API")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of the API requests")
	// Flags and the NAME may come in any order (`-n ns NAME` or `NAME -n ns`).
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if o.file != "" {
		if len(positional) > 0 || o.kubeconfig != "" || o.resource != "" {
			return nil, usageError{"--file takes no NAME, --kubeconfig or --resource"}
		}
		return o, nil
	}
	switch {
	case len(positional) != 1:
		return nil, usageError{fmt.Sprintf("expected exactly one NAME, got %d", len(positional))}
	case o.kubeconfig == "":
		return nil, usageError{"--kubeconfig is required (or --file)"}
	case o.version == "" || o.resource == "":
		return nil, usageError{"--version and --resource are required (--group is empty for the core group)"}
	}
	o.name = positional[0]
	return o, nil
}

func run(args []string, stdin io.Reader) (*verdict, error) {
	o, err := parse(args)
	if err != nil {
		return nil, err
	}
	var u *unstructured.Unstructured
	if o.file != "" {
		if u, err = readFile(o.file, stdin); err != nil {
			return nil, err
		}
	} else {
		u, err = fetch(o)
		if apierrors.IsNotFound(err) {
			return &verdict{Status: status.NotFoundStatus.String(), Message: err.Error()}, nil
		}
		if err != nil {
			return nil, err
		}
	}
	res, err := status.Compute(u)
	if err != nil {
		return nil, fmt.Errorf("computing the status of %s %q: %w", u.GetKind(), u.GetName(), err)
	}
	return &verdict{Status: res.Status.String(), Message: res.Message}, nil
}

// readFile decodes the object as the API machinery does (integers become int64), which
// status.Compute needs: it reads metadata.generation and status.observedGeneration as int64.
func readFile(path string, stdin io.Reader) (*unstructured.Unstructured, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the object: %w", err)
	}
	if data, err = yaml.YAMLToJSON(data); err != nil {
		return nil, fmt.Errorf("%s: not JSON or YAML: %w", path, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%s: not a Kubernetes object: %w", path, err)
	}
	return u, nil
}

func fetch(o *options) (*unstructured.Unstructured, error) {
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: o.context},
	)
	config, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", o.kubeconfig, err)
	}
	config.Timeout = o.timeout
	gv := schema.GroupVersion{Group: o.group, Version: o.version}

	// The resource's scope decides the URL: ask discovery rather than guess, so that a
	// namespaced resource without -n uses the context's namespace (as kubectl does) and a
	// resource the server does not serve is an error, not a NotFound object.
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	list, err := disco.ServerResourcesForGroupVersion(gv.String())
	if err != nil {
		return nil, fmt.Errorf("discovery of %s at %s: %w", gv, config.Host, err)
	}
	namespaced, served := false, false
	for _, r := range list.APIResources {
		if r.Name == o.resource {
			namespaced, served = r.Namespaced, true
			break
		}
	}
	if !served {
		return nil, fmt.Errorf("the server does not serve resource %q in %s", o.resource, gv)
	}
	ns := ""
	if namespaced {
		ns = o.namespace
		if ns == "" {
			if ns, _, err = loader.Namespace(); err != nil {
				return nil, fmt.Errorf("kubeconfig %s: namespace: %w", o.kubeconfig, err)
			}
		}
	}

	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	u, err := client.Resource(gv.WithResource(o.resource)).Namespace(ns).Get(ctx, o.name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get %s %s/%s: %w", gv.WithResource(o.resource), ns, o.name, err)
	}
	return u, err
}
