// Package mlsclientpb is the generated Go code of mls_client.proto, the
// gRPC interface of the MLS working group's interoperability harness.
package mlsclientpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative mls_client.proto
