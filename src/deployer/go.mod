module github.com/locket-release/deployer

go 1.26

require (
	github.com/cloudfoundry/bosh-utils v0.0.643 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
