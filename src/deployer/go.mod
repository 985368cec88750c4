module github.com/locket-release/deployer

go 1.26

require (
	github.com/cloudfoundry/bosh-utils v0.0.643
	go.yaml.in/yaml/v3 v3.0.5
)

require (
	github.com/bmatcuk/doublestar v1.3.4 // indirect
	github.com/nu7hatch/gouuid v0.0.0-20131221200532-179d4d0c4d8d // indirect
	golang.org/x/sys v0.47.0 // indirect
)
