# Sourced by the release scripts.

# bosh_cli prints the path of the BOSH CLI pinned in src/tools/go.mod,
# building it into .cache/bin/bosh on first use or when the pin changes (the
# module proxy serves it only at an exact version, so it is built, not
# installed).
bosh_cli() {
  local repo tools bin version
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  tools=$repo/src/tools
  bin=$repo/.cache/bin/bosh
  if [ ! -x "$bin" ] || [ "$tools/go.mod" -nt "$bin" ] || [ "$tools/go.sum" -nt "$bin" ]; then
    mkdir -p "$(dirname "$bin")"
    version=$(cd "$tools" && go list -m -f '{{.Version}}' github.com/cloudfoundry/bosh-cli/v7) || return 1
    echo "building bosh-cli ${version} into .cache/bin (once)" >&2
    (cd "$tools" && GOFLAGS= go build -o "$bin.tmp" \
      -ldflags "-X github.com/cloudfoundry/bosh-cli/v7/cmd.VersionLabel=${version#v}" \
      github.com/cloudfoundry/bosh-cli/v7) || return 1
    mv "$bin.tmp" "$bin"
  fi
  echo "$bin"
}

# pin_go_caches keeps Go's module and build caches where they are when a
# script then points HOME at an empty directory (to keep ~/.bosh out).
pin_go_caches() {
  GOMODCACHE=$(go env GOMODCACHE)
  GOCACHE=$(go env GOCACHE)
  GOPATH=$(go env GOPATH)
  export GOMODCACHE GOCACHE GOPATH
}
