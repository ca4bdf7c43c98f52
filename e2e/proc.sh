# Sourced by the control-plane scripts: whether a PID runs a component's binary.
# Reads the command line into a variable rather than piping it into `grep -q`: under pipefail,
# tr killed by SIGPIPE made a live process look dead.

# runs_binary PID NAME: PID is alive and its command line holds ".../NAME " (guards against a
# recycled PID belonging to some other process).
runs_binary() {
	local cmd
	cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
	[[ "$cmd" == *"/$2 "* ]]
}
