// The Argo CD health peer of the e2e tests: runs a resource health script with
// the Lua interpreter Argo CD embeds, as Argo CD's util/lua does. Built by
// e2e/build-peers.sh.
module khaibao.dev/e2e/peers/argocd-health

go 1.26.0

require (
	github.com/yuin/gopher-lua v1.1.2
	layeh.com/gopher-json v0.0.0-20190114024228-97fed8db8427
)
