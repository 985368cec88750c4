// Package models holds the Locket protocol: the protobuf messages, the gRPC
// service and the errors every client already knows.
package models

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative locket.proto
