// Package composetest holds the tests of the deployment files at the top of
// the repository: docker-compose.yml, the Dockerfile and .dockerignore. They
// load docker-compose.yml the way docker compose does (with compose-go) and
// check it against the programs: every variable the collector and the
// evaluator read (as docs/configuration.md lists them) is set or has a
// default, the values are accepted by the programs themselves, and images,
// ports, volumes and the start-up order fit together. None of this needs a
// Docker engine.
//
// The package has no code of its own; nothing imports it.
package composetest
